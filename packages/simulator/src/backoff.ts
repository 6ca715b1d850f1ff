import type { Random } from './random.ts';

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, capMs: 60_000 };

/**
 * Exponential backoff with full jitter (a uniform delay between 0 and min(cap, base * 2^attempt)):
 * after an outage, thousands of trackers spread their reconnects instead of arriving together.
 */
export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: Random;
  #attempt = 0;

  constructor(options: BackoffOptions, random: Random = Math.random) {
    this.#options = options;
    this.#random = random;
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call widens the window for the one after. */
  next(): number {
    const ceiling = Math.min(this.#options.capMs, this.#options.baseMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.floor(this.#random() * ceiling);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
