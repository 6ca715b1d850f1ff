import { createHash, randomBytes } from 'node:crypto';

/**
 * Bearer secrets fleetwire issues: shown once, stored only as a hash. The prefix tells a reader (and
 * a secret scanner) what a leaked string is.
 */
export const SECRET_KIND = {
  API_KEY: 'fwk',
  DEVICE_CREDENTIAL: 'fwd',
  PROVISIONING_KEY: 'fwp',
  SESSION_TOKEN: 'fws',
} as const;
export type SecretKind = (typeof SECRET_KIND)[keyof typeof SECRET_KIND];

/** 256 random bits, base64url, with the kind as prefix: `fwd_…`. */
export function newSecret(kind: SecretKind): string {
  return `${kind}_${randomBytes(32).toString('base64url')}`;
}

/** Secrets are long random strings, so a plain SHA-256 is enough to store them (no salt, no KDF). */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A short random id with a prefix, e.g. `ses_…` (72 bits, not a secret). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(9).toString('base64url')}`;
}
