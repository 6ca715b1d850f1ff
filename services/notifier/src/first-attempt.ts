/**
 * The first attempt of a delivery, made by the fan-out itself instead of through NOTIFY: a webhook
 * that succeeds at once (nearly all of them) then costs no JetStream message of its own — no
 * publish, PubAck, delivery and ack per command. Only a failed first attempt is queued on NOTIFY
 * (with PRIOR_ATTEMPTS_HEADER), where the usual retries, backoff and dead letter take over.
 *
 * The source event is acked only after this attempt succeeded or its retry was stored, so a crash
 * in between redelivers the source and the webhook goes out again (same event id: at least once).
 * A host that hangs cannot stall the intake: direct attempts are capped (in total and per host)
 * and bounded by a short timeout, and a host whose circuit is open is queued without an attempt.
 * When the caps are reached, a delivery to a healthy host (no failure since its last success) waits
 * for a slot instead of being queued: a busy but working receiver would otherwise push deliveries
 * onto NOTIFY (four more messages each) exactly when the machine can least afford them. Waiting is
 * capped in number and time (then the delivery is queued), so a host that hangs holds up the intake
 * for at most a second per event until its first timeout marks it unhealthy.
 */
import type { WebhookDelivery } from '@fleetwire/protocol';
import {
  attemptOnce,
  type DeliveryDeps,
  deadLetterId,
  hostOf,
  secretFor,
  targetKind,
  writeDeadLetter,
} from './delivery.ts';
import { deliveryLogContext } from './events.ts';
import { decide } from './retry.ts';

/** What became of a first attempt: finished here, or to be queued on NOTIFY (after an attempt or without one). */
export type FirstAttempt = 'done' | 'retry' | 'queue';

export interface FirstAttemptLimits {
  /** Direct attempts in flight at once; beyond it deliveries are queued without one. */
  maxInFlight: number;
  /** The same, per host: a slow host occupies at most this many intake slots. */
  maxInFlightPerHost: number;
  /** Upper bound of a direct attempt's timeout; the retries through NOTIFY get the full one. */
  maxTimeoutMs: number;
  /** How long a delivery's msgId is remembered: NOTIFY's duplicate window. */
  dedupWindowMs: number;
  /** Deliveries to healthy hosts waiting for a slot; beyond it they are queued without an attempt. */
  maxWaiting: number;
  /** How long a delivery waits for a slot before it is queued without an attempt. */
  maxWaitMs: number;
}

/**
 * Limits for `concurrency` webhook requests at once (FW_WEBHOOK_CONCURRENCY): as many direct
 * attempts, to one host or several; the intake runs twice as many events at once (main.ts), as many
 * may wait for a slot, but none longer than a second: while a host hangs (until its first attempt
 * times out and it stops counting as healthy) the intake still moves on, queueing what waited.
 */
export function firstAttemptLimits(concurrency: number): FirstAttemptLimits {
  return {
    maxInFlight: concurrency,
    maxInFlightPerHost: concurrency,
    maxTimeoutMs: 5_000,
    dedupWindowMs: 120_000,
    maxWaiting: concurrency,
    maxWaitMs: 1_000,
  };
}

interface Remembered {
  outcome: Promise<FirstAttempt>;
  at: number;
}

export class FirstAttempts {
  readonly #deps: DeliveryDeps;
  readonly #limits: FirstAttemptLimits;
  readonly #perHost = new Map<string, number>();
  /** msgIds seen lately, oldest first: for direct deliveries, the dedup NOTIFY gives queued ones. */
  readonly #recent = new Map<string, Remembered>();
  #inFlight = 0;
  /** Wake-ups of the deliveries waiting for a slot, oldest first. */
  readonly #waiting: Array<() => void> = [];

  constructor(deps: DeliveryDeps, limits: FirstAttemptLimits) {
    this.#deps = deps;
    this.#limits = limits;
  }

  /**
   * Attempts `delivery` now unless limits say otherwise. A duplicate of a delivery seen within the
   * window follows its first copy: finished if that one finished here, else queued again (and
   * dropped by NOTIFY's duplicate window, since it carries the same msgId).
   */
  async deliver(delivery: WebhookDelivery, msgId: string): Promise<FirstAttempt> {
    this.#forgetOld();
    const seen = this.#recent.get(msgId);
    if (seen) return (await seen.outcome) === 'done' ? 'done' : 'queue';
    const host = hostOf(delivery.url);
    const outcome = this.#attemptOrQueue(delivery, host);
    this.#recent.set(msgId, { outcome, at: Date.now() });
    // A transient failure (PostgreSQL down) must not stick to the msgId: the redelivery tries again.
    outcome.catch(() => {
      if (this.#recent.get(msgId)?.outcome === outcome) this.#recent.delete(msgId);
    });
    return outcome;
  }

  async #attemptOrQueue(delivery: WebhookDelivery, host: string): Promise<FirstAttempt> {
    let waited = false;
    while (!this.#mayAttempt(host)) {
      if (!this.#mayWait(host)) return this.#giveUp();
      if (!(await this.#slotFreed())) return 'queue';
      waited = true;
    }
    // The host failed while this delivery waited: queue it rather than add to its trouble.
    if (waited && !this.#deps.circuit.isHealthy(host)) return this.#giveUp();
    return this.#attempt(delivery, host);
  }

  /** Queued without an attempt; a waiter woken for a slot it does not use passes the wake-up on. */
  #giveUp(): FirstAttempt {
    this.#wakeNext();
    return 'queue';
  }

  /** Resolves true when a slot was freed, false when none was within `maxWaitMs`. */
  #slotFreed(): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const at = this.#waiting.indexOf(wake);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(false);
      }, this.#limits.maxWaitMs);
      this.#waiting.push(wake);
    });
  }

  #mayWait(host: string): boolean {
    return this.#waiting.length < this.#limits.maxWaiting && this.#deps.circuit.isHealthy(host);
  }

  #wakeNext(): void {
    this.#waiting.shift()?.();
  }

  #mayAttempt(host: string): boolean {
    if (this.#inFlight >= this.#limits.maxInFlight) return false;
    if ((this.#perHost.get(host) ?? 0) >= this.#limits.maxInFlightPerHost) return false;
    return !this.#deps.circuit.isOpen(host);
  }

  async #attempt(delivery: WebhookDelivery, host: string): Promise<FirstAttempt> {
    this.#inFlight++;
    this.#perHost.set(host, (this.#perHost.get(host) ?? 0) + 1);
    try {
      return await this.#attemptOnce(delivery);
    } finally {
      this.#inFlight--;
      const left = (this.#perHost.get(host) ?? 1) - 1;
      if (left === 0) this.#perHost.delete(host);
      else this.#perHost.set(host, left);
      this.#wakeNext();
    }
  }

  async #attemptOnce(delivery: WebhookDelivery): Promise<FirstAttempt> {
    const deps = this.#deps;
    const secret = await secretFor(deps, delivery);
    // Without a secret nothing can be sent, now or later: the queued path would drop it too.
    if ('drop' in secret) return 'queue';
    const timeoutMs = Math.min(deps.config.timeoutMs, this.#limits.maxTimeoutMs);
    const result = await attemptOnce(deps, delivery, secret.secret, 1, timeoutMs);
    const decision = decide(result, 1, deps.config.backoffMs);
    // The context goes on each line: a child logger per delivery costs more than its one line.
    const log = deps.log;
    const details = { ...deliveryLogContext(delivery), url: delivery.url, attempt: 1, status: result.status };
    if (decision.action === 'ack') {
      deps.metrics.outcome('delivered', targetKind(delivery));
      log.info(details, 'webhook delivered');
      return 'done';
    }
    if (decision.action === 'dead-letter') {
      await writeDeadLetter(deps, delivery, 1, decision.reason);
      log.error(
        { ...details, error: decision.reason, id: deadLetterId(delivery.eventId, delivery.url) },
        'webhook dead-lettered',
      );
      return 'done';
    }
    deps.metrics.outcome('retry', targetKind(delivery));
    log.warn({ ...details, error: result.ok ? undefined : result.error }, 'webhook failed; queued for retry');
    return 'retry';
  }

  #forgetOld(): void {
    const oldest = Date.now() - this.#limits.dedupWindowMs;
    for (const [msgId, seen] of this.#recent) {
      if (seen.at >= oldest) return;
      this.#recent.delete(msgId);
    }
  }
}
