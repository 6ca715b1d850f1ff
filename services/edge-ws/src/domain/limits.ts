/**
 * Per-connection limits, kept to a few numbers each: an edge holds tens of thousands of these, so no
 * timers and no arrays, only arithmetic on the time of the frame being looked at.
 */

export interface RateLimit {
  /** Sustained messages per second. */
  ratePerSec: number;
  /** Messages allowed at once after a quiet spell. */
  burst: number;
}

/** A token bucket refilled lazily, on each `take`, for the time elapsed since the previous one. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(limit: RateLimit, now: number) {
    this.#tokens = limit.burst;
    this.#at = now;
  }

  /** Takes one token; false when the bucket is empty (the message is over the limit). */
  take(limit: RateLimit, now: number): boolean {
    const elapsed = Math.max(0, now - this.#at);
    this.#tokens = Math.min(limit.burst, this.#tokens + (elapsed * limit.ratePerSec) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export const VIOLATION_WINDOW_MS = 60_000;
export const MAX_VIOLATIONS = 3;

/**
 * Counts limit violations (oversize frames, rate limit) in a window that starts at the first one;
 * reaching the maximum within the window means the connection must close.
 */
export class ViolationWindow {
  #count = 0;
  #since = 0;

  /** Records one violation; true when this one reaches the maximum. */
  record(now: number, windowMs = VIOLATION_WINDOW_MS, max = MAX_VIOLATIONS): boolean {
    if (this.#count === 0 || now - this.#since > windowMs) {
      this.#count = 0;
      this.#since = now;
    }
    this.#count += 1;
    return this.#count >= max;
  }
}
