import { poisson, type Random } from '../random.ts';

/** The seed device simulator's fault model: k ~ Poisson(5) per heartbeat, failure when k ≤ 2 (≈ 12.5 %). */
export const FAULT_LAMBDA = 5;
export const FAULT_MAX_K = 2;

export const FAULT_TICK = { OFF: 'off', UNSTABLE: 'unstable', FAILURE: 'failure' } as const;
export type FaultTick = (typeof FAULT_TICK)[keyof typeof FAULT_TICK];

/**
 * Fault injection as `changed_parameters` turns it on: every heartbeat tick the gateway is
 * "unstable" until a draw fails it, which reboots it and clears the flag.
 */
export class FaultInjector {
  readonly #random: Random;
  #enabled = false;

  constructor(random: Random) {
    this.#random = random;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  enable(): void {
    this.#enabled = true;
  }

  tick(): FaultTick {
    if (!this.#enabled) return FAULT_TICK.OFF;
    if (poisson(this.#random, FAULT_LAMBDA) > FAULT_MAX_K) return FAULT_TICK.UNSTABLE;
    this.#enabled = false;
    return FAULT_TICK.FAILURE;
  }
}
