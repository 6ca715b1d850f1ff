export type { VerifyResult } from './signature.ts';
export { SIGNATURE_HEADER, signatureFor, signatureHeader, verifySignature } from './signature.ts';
