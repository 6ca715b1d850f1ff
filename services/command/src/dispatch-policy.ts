import type { CommandView } from '@fleetwire/ledger';

/**
 * What to do with the head of a device's queue: a pure function of the command and the database
 * clock, so every instance decides the same way.
 */
export type DispatchDecision =
  | { kind: 'expire' }
  /** Every attempt was used and the last one went unanswered. */
  | { kind: 'exhausted'; attempts: number }
  /** An attempt is still running: look again when it times out (or the command expires). */
  | { kind: 'wait'; delayMs: number }
  | { kind: 'send'; attempt: number };

/** JetStream's delayed redelivery is not exact: come back a little after the deadline, not before. */
export const REVISIT_MARGIN_MS = 100;

type Head = Pick<
  CommandView,
  'state' | 'attempts' | 'maxAttempts' | 'attemptTimeoutMs' | 'expiresAt' | 'sentAt'
>;

export function decideDispatch(command: Head, nowMs: number): DispatchDecision {
  const expiresAt = Date.parse(command.expiresAt);
  if (expiresAt <= nowMs) return { kind: 'expire' };
  const attemptDue =
    command.state === 'queued' || command.sentAt === null
      ? nowMs
      : Date.parse(command.sentAt) + command.attemptTimeoutMs;
  if (nowMs < attemptDue) {
    return { kind: 'wait', delayMs: Math.min(attemptDue, expiresAt) - nowMs + REVISIT_MARGIN_MS };
  }
  if (command.attempts >= command.maxAttempts) return { kind: 'exhausted', attempts: command.attempts };
  return { kind: 'send', attempt: command.attempts + 1 };
}

/** When to look at a command again after sending it: when the attempt times out, or it expires. */
export function revisitAfterSendMs(command: Head, nowMs: number): number {
  return Math.min(command.attemptTimeoutMs, Date.parse(command.expiresAt) - nowMs) + REVISIT_MARGIN_MS;
}
