/**
 * Held retries: where a failed delivery waits for its next attempt when a consumer slot is the wrong
 * place. A delayed NAK keeps the delivery in one of `notifier-deliveries`' max_ack_pending slots until
 * it comes due, so a host that stays down would soon hold every slot and stall every other host's
 * retries. A retry therefore waits in a slot only when its wait is short and its host's circuit is
 * closed; otherwise it is **held**: stored in NOTIFY under `notify.held.<hostKey>.<dueAtSec>`, a
 * subject no durable consumer reads, and its delivery acked. The release loop (adapters/held-retries.ts)
 * puts held retries back on `notify.delivery` when they come due, and at once when their host
 * recovers, never faster than the delivery consumer works through its backlog.
 *
 * Pure: the decisions, the subject layout and the order of release. The clock is passed in.
 */
import { createHash } from 'node:crypto';
import type { TenantId } from '@fleetwire/protocol';

/** Waits up to this long are delayed NAKs (a slot each); longer ones are held. */
export const PARK_MAX_MS = 15_000;

/** True when a retry due in `delayMs` should be held rather than wait in a consumer slot. */
export function shouldHold(delayMs: number, circuitOpen: boolean): boolean {
  return circuitOpen || delayMs > PARK_MAX_MS;
}

/** The host part of a held subject: 16 hex digits of sha256 of the target's origin. */
export function hostKeyOf(origin: string): string {
  return createHash('sha256').update(origin).digest('hex').slice(0, 16);
}

/**
 * The whole second a retry is held until: `now + delay`, rounded up to a grain of a tenth of the delay
 * (1 s to 60 s). A retry is at most that late, and a host down for an hour spreads its retries over
 * a few hundred subjects instead of thousands.
 */
export function heldDueAtSec(nowMs: number, delayMs: number): number {
  const grainSec = Math.max(1, Math.min(60, Math.floor(delayMs / 10_000)));
  const dueSec = Math.ceil((nowMs + delayMs) / 1000);
  return Math.ceil(dueSec / grainSec) * grainSec;
}

export interface HeldSubject {
  subject: string;
  tenant: TenantId;
  hostKey: string;
  dueAtSec: number;
  /** Messages held under it. */
  count: number;
}

/**
 * The held subjects to release now, in order: those due, oldest first, then those of hosts that
 * recovered, oldest first. The caller releases from the front until its budget is spent.
 */
export function releaseOrder(
  held: readonly HeldSubject[],
  nowMs: number,
  recovered: ReadonlySet<string>,
): HeldSubject[] {
  const nowSec = Math.floor(nowMs / 1000);
  const byDue = (a: HeldSubject, b: HeldSubject) => a.dueAtSec - b.dueAtSec;
  const due = held.filter((h) => h.dueAtSec <= nowSec).sort(byDue);
  const early = held.filter((h) => h.dueAtSec > nowSec && recovered.has(h.hostKey)).sort(byDue);
  return [...due, ...early];
}

/**
 * Hosts whose held retries may be released before they are due: each one recovered (a success after
 * failures) in this instance and has not failed since.
 */
export class Recoveries {
  readonly #keys = new Set<string>();

  /** Records a host's health as an attempt found it: recovered from failing, or failing. */
  observe(origin: string, healthy: boolean): void {
    const key = hostKeyOf(origin);
    if (healthy) this.#keys.add(key);
    else this.#keys.delete(key);
  }

  get hosts(): ReadonlySet<string> {
    return this.#keys;
  }

  /** Forgets the hosts that have nothing held any more. */
  keepOnly(withHeld: ReadonlySet<string>): void {
    for (const key of this.#keys) if (!withHeld.has(key)) this.#keys.delete(key);
  }
}
