/**
 * The retry policy of one delivery, as a pure function of what the attempt returned and how many
 * times JetStream has delivered the message. NAK delays drive the backoff: the server applies a
 * consumer's `backoff` only to ack timeouts, never to NAKs.
 */

export type AttemptResult =
  | { ok: true; status: number }
  | { ok: false; status?: number; error: string; permanent: boolean };

export type Decision =
  | { action: 'ack' }
  | { action: 'retry'; delayMs: number }
  | { action: 'dead-letter'; reason: string };

/** Attempts a delivery gets: the first plus one per backoff value. */
export function attemptsFor(backoffMs: readonly number[]): number {
  return backoffMs.length + 1;
}

export function decide(result: AttemptResult, deliveryCount: number, backoffMs: readonly number[]): Decision {
  if (result.ok) return { action: 'ack' };
  if (result.permanent) return { action: 'dead-letter', reason: result.error };
  if (deliveryCount >= attemptsFor(backoffMs)) return { action: 'dead-letter', reason: result.error };
  return { action: 'retry', delayMs: backoffMs[Math.max(0, deliveryCount - 1)] ?? 1_000 };
}

/** 2xx is success; 410 Gone says the endpoint was removed on purpose, so retrying cannot help. */
export function resultOfStatus(status: number): AttemptResult {
  if (status >= 200 && status < 300) return { ok: true, status };
  return { ok: false, status, error: `HTTP ${status}`, permanent: status === 410 };
}
