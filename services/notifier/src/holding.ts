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
import type { HeldSubject } from '@fleetwire/runtime';

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

export type { HeldSubject };

/**
 * A held subject to release from. A probe (`probe` set) takes one retry, and only if the round has
 * released nothing of its host yet (a due retry going out probes the host as well). Should its
 * subject give nothing (busy: a release consumer of another instance, or one left by a crashed
 * instance, holds it for up to 30 s), it takes one from the host's next subject instead, in due
 * order. Otherwise a host whose earliest subjects are blocked would not be probed, and its return
 * not noticed, until the block ends.
 */
export type ReleaseStep = HeldSubject & { probe?: { fallbacks: HeldSubject[] } };

/**
 * The held subjects to release now, in order: those due, oldest first; then those of hosts that
 * recovered, oldest first; then one retry of each host to probe (its earliest not yet due), as a
 * copy whose `count` is 1. The caller releases from the front until its budget is spent.
 */
export function releaseOrder(
  held: readonly HeldSubject[],
  nowMs: number,
  recovered: ReadonlySet<string>,
  probe: ReadonlySet<string> = new Set(),
): ReleaseStep[] {
  const nowSec = Math.floor(nowMs / 1000);
  const byDue = (a: HeldSubject, b: HeldSubject) => a.dueAtSec - b.dueAtSec;
  const due = held.filter((h) => h.dueAtSec <= nowSec).sort(byDue);
  const notDue = held.filter((h) => h.dueAtSec > nowSec).sort(byDue);
  const early = notDue.filter((h) => recovered.has(h.hostKey));
  const probes: ReleaseStep[] = [];
  for (const key of probe) {
    if (recovered.has(key)) continue;
    const step = probeStep(notDue.filter((h) => h.hostKey === key));
    if (step) probes.push(step);
  }
  return [...due, ...early, ...probes];
}

/** The probe to try when `step`'s subject gave nothing: the host's next held subject, if any. */
export function nextProbe(step: ReleaseStep): ReleaseStep | undefined {
  return step.probe && probeStep(step.probe.fallbacks);
}

function probeStep([first, ...rest]: readonly HeldSubject[]): ReleaseStep | undefined {
  return first && { ...first, count: 1, probe: { fallbacks: rest } };
}

/**
 * Hosts as this instance's attempts found them. A host that recovered (a success after failures)
 * may have its held retries released before they are due. A failing host is probed: one held retry
 * released early every `probeEveryMs` once its circuit lets a request through, so a host that comes
 * back is noticed within that time even when no new event is sent to it. An early attempt that fails
 * spends no attempt (delivery.ts).
 */
export class HostHealth {
  readonly #recovered = new Set<string>();
  /** Failing hosts: key → origin, and when each was last probed. */
  readonly #failing = new Map<string, { origin: string; probedAt: number }>();

  /** Records a host's health as an attempt found it: recovered from failing, or failing. */
  observe(origin: string, healthy: boolean): void {
    const key = hostKeyOf(origin);
    if (healthy) {
      this.#recovered.add(key);
      this.#failing.delete(key);
      return;
    }
    this.#recovered.delete(key);
    if (!this.#failing.has(key)) this.#failing.set(key, { origin, probedAt: 0 });
  }

  get recovered(): ReadonlySet<string> {
    return this.#recovered;
  }

  /**
   * Failing hosts to probe now: not probed within `everyMs`, and `mayRequest(origin)` (its circuit is
   * not open). Each one returned counts as probed now.
   */
  probesDue(nowMs: number, everyMs: number, mayRequest: (origin: string) => boolean): Set<string> {
    const keys = new Set<string>();
    for (const [key, host] of this.#failing) {
      if (nowMs - host.probedAt < everyMs || !mayRequest(host.origin)) continue;
      host.probedAt = nowMs;
      keys.add(key);
    }
    return keys;
  }

  /** Forgets the hosts that have nothing held any more. */
  keepOnly(withHeld: ReadonlySet<string>): void {
    for (const key of this.#recovered) if (!withHeld.has(key)) this.#recovered.delete(key);
    for (const key of this.#failing.keys()) if (!withHeld.has(key)) this.#failing.delete(key);
  }
}
