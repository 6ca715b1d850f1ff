/**
 * Per-host circuit breaking. After `failureThreshold` consecutive failures a host is "open" for
 * `openMs`: its deliveries are postponed without an HTTP attempt, so a host that times out cannot fill
 * every delivery slot. After the pause one probe goes through; success closes the circuit, failure
 * opens it again. Pure: the clock is injected.
 */

interface HostState {
  failures: number;
  openUntil: number;
  probing: boolean;
}

export interface CircuitOptions {
  failureThreshold: number;
  openMs: number;
  now?: () => number;
}

export class CircuitBreaker {
  readonly #hosts = new Map<string, HostState>();
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #now: () => number;

  constructor(opts: CircuitOptions) {
    this.#threshold = opts.failureThreshold;
    this.#openMs = opts.openMs;
    this.#now = opts.now ?? Date.now;
  }

  /** True when a request to `host` may go out now (closed, or the one probe of a half-open circuit). */
  allow(host: string): boolean {
    const state = this.#hosts.get(host);
    if (!state || state.failures < this.#threshold) return true;
    if (this.#now() < state.openUntil || state.probing) return false;
    state.probing = true;
    return true;
  }

  /** Records an attempt's result; true when it is a success after failures (the host recovered). */
  record(host: string, ok: boolean): boolean {
    if (ok) return this.#hosts.delete(host);
    const state = this.#hosts.get(host) ?? { failures: 0, openUntil: 0, probing: false };
    state.failures++;
    state.probing = false;
    if (state.failures >= this.#threshold) state.openUntil = this.#now() + this.#openMs;
    this.#hosts.set(host, state);
    return false;
  }

  /** True while `host` has not failed since its last success: worth waiting for. */
  isHealthy(host: string): boolean {
    return !this.#hosts.has(host);
  }

  isOpen(host: string): boolean {
    const state = this.#hosts.get(host);
    return state !== undefined && state.failures >= this.#threshold && this.#now() < state.openUntil;
  }
}
