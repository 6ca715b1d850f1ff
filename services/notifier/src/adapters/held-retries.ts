/**
 * The NATS side of held retries (holding.ts): holding a delivery under `notify.held.<host>.<due>`,
 * and the release round that puts due ones (a recovered host's all, a failing host's one probe)
 * back on `notify.delivery`.
 *
 * A release takes one held subject through a short-lived consumer filtered on exactly that subject.
 * NOTIFY is a work queue, whose consumers may not overlap: a second instance trying the same subject
 * at the same moment is refused and moves on, so one held retry is released by one instance. Each
 * release is republished with a msgId derived from the held message's sequence, so a round that
 * fails between republishing and acking is deduplicated when the next round releases it again.
 */
import type { Subjects, TenantId } from '@fleetwire/protocol';
import { type Logger, listHeldSubjects } from '@fleetwire/runtime';
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/transport-node';
import { ATTEMPT_DUE_HEADER, PRIOR_ATTEMPTS_HEADER, priorAttemptsOf } from '../delivery.ts';
import { type HeldSubject, HostHealth, hostKeyOf, nextProbe, releaseOrder } from '../holding.ts';

/** A releasing consumer left behind by a crashed instance is removed by the server after this. */
const RELEASE_CONSUMER_IDLE_MS = 30_000;
/** Longest a release round keeps releasing a backlog larger than the delivery consumer takes at once. */
const ROUND_MS = 5_000;
/** How often a round looks at the delivery consumer's backlog again while it has more to release. */
const PACE_MS = 100;
/** How long a release waits for the messages its consumer reported. */
const FETCH_EXPIRES_MS = 2_000;

export interface HeldRetriesOptions {
  /** NOTIFY's stream name. */
  stream: string;
  /** The delivery consumer, whose backlog paces releases. */
  deliveriesConsumer: string;
  subjects: Subjects;
  /** Undelivered messages the delivery consumer may have; releases wait while it has more. */
  maxBacklog: number;
  /** How often a failing host with held retries is probed with one of them (holding.ts). */
  probeEveryMs: number;
  /** Whether a request to this origin may go out now (its circuit is not open). */
  mayRequest: (origin: string) => boolean;
  log: Logger;
  onReleased?: (count: number) => void;
  now?: () => number;
}

export class HeldRetries {
  readonly hosts = new HostHealth();
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #opts: HeldRetriesOptions;
  readonly #now: () => number;

  constructor(js: JetStreamClient, jsm: JetStreamManager, opts: HeldRetriesOptions) {
    this.#js = js;
    this.#jsm = jsm;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Stores `msg`, a delivery whose `attemptsMade` attempts failed, until `dueAtSec`. */
  async hold(
    msg: JsMsg,
    tenant: TenantId,
    origin: string,
    attemptsMade: number,
    dueAtSec: number,
  ): Promise<void> {
    const h = headers();
    h.set(PRIOR_ATTEMPTS_HEADER, String(attemptsMade));
    const subject = this.#opts.subjects.notifyHeld(tenant, hostKeyOf(origin), dueAtSec);
    // Per delivery and attempt: a redelivered handler that holds the same attempt again is deduplicated.
    await this.#js.publish(subject, msg.data, { headers: h, msgID: `held:${msg.seq}:${attemptsMade}` });
  }

  /**
   * One round: releases what is due, then what recovered hosts have held, then one probe per failing
   * host whose circuit lets a request through and of which nothing went out yet (holding.ts). A
   * subject another consumer holds gives nothing this round. While there is more, it
   * looks at the delivery consumer's backlog again every PACE_MS (for up to ROUND_MS), so a large
   * backlog goes out as fast as the deliveries are worked off, and never far ahead of them.
   */
  async releaseRound(): Promise<number> {
    const held = await this.#listHeld();
    const now = this.#now();
    this.hosts.keepOnly(new Set(held.map((h) => h.hostKey)));
    const probes = this.hosts.probesDue(now, this.#opts.probeEveryMs, this.#opts.mayRequest);
    const order = releaseOrder(held, now, this.hosts.recovered, probes);
    const roundEnds = performance.now() + ROUND_MS;
    let released = 0;
    const hostsReleased = new Set<string>();
    while (order.length > 0) {
      let budget = this.#opts.maxBacklog - (await this.#backlog());
      while (budget > 0 && order.length > 0) {
        const subject = order[0]!;
        if (subject.probe && hostsReleased.has(subject.hostKey)) {
          order.shift();
          continue;
        }
        const count = await this.#release(subject, Math.min(budget, subject.count));
        if (count > 0) hostsReleased.add(subject.hostKey);
        budget -= count;
        released += count;
        subject.count -= count;
        // A probe that found its subject busy or empty tries the host's next one.
        const fallback = count === 0 ? nextProbe(subject) : undefined;
        if (fallback) order[0] = fallback;
        // Fully released, or nothing to take (another instance has it): on to the next subject.
        else if (count === 0 || subject.count <= 0) order.shift();
      }
      if (order.length === 0 || performance.now() >= roundEnds) break;
      await new Promise((resolve) => setTimeout(resolve, PACE_MS));
    }
    if (released > 0) this.#opts.onReleased?.(released);
    return released;
  }

  #listHeld(): Promise<HeldSubject[]> {
    const { stream, subjects } = this.#opts;
    return listHeldSubjects(this.#jsm, stream, subjects, subjects.notifyHeldAll());
  }

  async #backlog(): Promise<number> {
    return (await this.#jsm.consumers.info(this.#opts.stream, this.#opts.deliveriesConsumer)).num_pending;
  }

  /** Moves up to `max` messages of one held subject back to `notify.delivery`; returns how many. */
  async #release(held: HeldSubject, max: number): Promise<number> {
    const { stream, subjects, log } = this.#opts;
    let consumerName: string;
    let pending: number;
    try {
      const info = await this.#jsm.consumers.add(stream, releaseConsumerConfig(held.subject));
      consumerName = info.name;
      pending = info.num_pending;
    } catch (err) {
      // Another instance is releasing this subject (overlapping work-queue consumers are refused).
      log.debug({ subject: held.subject, err: String(err) }, 'held subject busy; skipped this round');
      return 0;
    }
    try {
      const want = Math.min(max, pending);
      if (want === 0) return 0;
      const consumer = await this.#js.consumers.get(stream, consumerName);
      const batch: JsMsg[] = [];
      for await (const msg of await consumer.fetch({ max_messages: want, expires: FETCH_EXPIRES_MS })) {
        batch.push(msg);
        if (batch.length >= want) break;
      }
      const target = subjects.notify(held.tenant, 'delivery');
      await Promise.all(
        batch.map((msg) =>
          this.#js.publish(target, msg.data, {
            headers: releaseHeaders(msg, held.dueAtSec),
            msgID: `released:${msg.seq}`,
          }),
        ),
      );
      await Promise.all(batch.map((msg) => msg.ackAck()));
      return batch.length;
    } finally {
      await this.#jsm.consumers.delete(stream, consumerName).catch(() => undefined);
    }
  }
}

/**
 * The short-lived consumer a release reads one held subject through. Unnamed, so a crashed
 * instance's consumer is not reused but removed by the server once idle for `idleMs`; until then it
 * blocks that subject (NOTIFY is a work queue), never loses it: what it fetched and did not ack stays
 * stored.
 */
export function releaseConsumerConfig(subject: string, idleMs = RELEASE_CONSUMER_IDLE_MS) {
  return {
    filter_subject: subject,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    inactive_threshold: nanos(idleMs),
    mem_storage: true,
  };
}

function releaseHeaders(msg: JsMsg, dueAtSec: number) {
  const h = headers();
  h.set(PRIOR_ATTEMPTS_HEADER, String(priorAttemptsOf(msg)));
  h.set(ATTEMPT_DUE_HEADER, String(dueAtSec));
  return h;
}
