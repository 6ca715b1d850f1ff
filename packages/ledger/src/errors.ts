import { FwError } from '@fleetwire/protocol';

export const LEDGER_ERROR = {
  /** The device is not in the registry (API: 404). */
  UNKNOWN_DEVICE: 'UNKNOWN_DEVICE',
  /** No such command for this tenant (API: 404). */
  NOT_FOUND: 'NOT_FOUND',
  /** The idempotency key was used before with a different request (API: 409). */
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  /** The command's state does not allow the change, e.g. cancelling a completed command (API: 409). */
  INVALID_TRANSITION: 'INVALID_TRANSITION',
  /** A value outside what the ledger stores: limits, patterns, a cursor it did not issue (API: 400). */
  INVALID_INPUT: 'INVALID_INPUT',
} as const;
export type LedgerErrorCode = (typeof LEDGER_ERROR)[keyof typeof LEDGER_ERROR];

export class LedgerError extends FwError<LedgerErrorCode> {}

export function invalidInput(message: string): never {
  throw new LedgerError(LEDGER_ERROR.INVALID_INPUT, message);
}
