/**
 * Delivery: one WebhookDelivery message is one POST. Success acks; failure NAKs with the scheduled
 * delay; the last failed attempt (or a permanent failure) writes a dead letter and then terminates
 * the message. Every attempt is signed afresh, so the signature's timestamp is always current.
 * A dead letter PostgreSQL refuses keeps its delivery queued: it is written on a later delivery,
 * without another POST, so nothing is lost while the database is away.
 */
import { createHash } from 'node:crypto';
import { decodeBusMessage, isProtocolError, WebhookDelivery } from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import type { WebhookRequest } from './adapters/http-sender.ts';
import type { DeadLetter } from './adapters/webhook-store.ts';
import type { CircuitBreaker } from './circuit.ts';
import { deliveryLogContext } from './events.ts';
import { heldDueAtSec, shouldHold } from './holding.ts';
import { type AttemptResult, attemptsFor, decide } from './retry.ts';
import { SIGNATURE_HEADER, signatureHeader } from './signature.ts';

export const HEADER = {
  EVENT_ID: 'x-fleetwire-event-id',
  EVENT_TYPE: 'x-fleetwire-event-type',
  SIGNATURE: SIGNATURE_HEADER,
  ATTEMPT: 'x-fleetwire-delivery-attempt',
} as const;

/**
 * NATS header of a NOTIFY delivery whose first attempt(s) the fan-out already made directly: its
 * first JetStream delivery only waits out the retry delay, and attempts are counted after these.
 */
export const PRIOR_ATTEMPTS_HEADER = 'Fleetwire-Prior-Attempts';

/**
 * NATS header of a held retry put back on `notify.delivery` (holding.ts): the unix second its next
 * attempt was due. Its first delivery makes that attempt, without waiting a retry delay first.
 */
export const ATTEMPT_DUE_HEADER = 'Fleetwire-Attempt-Due';

function positiveIntHeader(msg: JsMsg, name: string): number | undefined {
  const value = Number(msg.headers?.get(name) ?? 0);
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

export function priorAttemptsOf(msg: JsMsg): number {
  return positiveIntHeader(msg, PRIOR_ATTEMPTS_HEADER) ?? 0;
}

/** When a released held retry was due (unix seconds); undefined for any other delivery. */
export function attemptDueOf(msg: JsMsg): number | undefined {
  return positiveIntHeader(msg, ATTEMPT_DUE_HEADER);
}

/**
 * The attempt a JetStream delivery makes, counting the attempts made before it was queued. A queued
 * failure's first delivery only waits out the retry delay; a released held retry's makes the attempt.
 */
export function attemptOf(deliveryCount: number, priorAttempts: number, released = false): number {
  if (released) return priorAttempts + deliveryCount;
  return priorAttempts > 0 ? priorAttempts + deliveryCount - 1 : deliveryCount;
}

export type DeliveryOutcome = 'delivered' | 'retry' | 'dead_letter' | 'dropped';
export type TargetKind = 'notification_url' | 'subscription';

export interface DeliveryMetrics {
  outcome(outcome: DeliveryOutcome, target: TargetKind): void;
  /** One HTTP attempt: how long the host took to answer (or to fail). */
  attempt(ok: boolean, seconds: number): void;
}

export interface DeliveryDeps {
  config: {
    notificationUrl: string | undefined;
    webhookSecret: string | undefined;
    timeoutMs: number;
    backoffMs: readonly number[];
    /** Delay before a refused dead letter is tried again. */
    deadLetterRetryMs: number;
  };
  secretOf(tenant: string, subscriptionId: string): Promise<string | undefined>;
  deadLetter(d: DeadLetter): Promise<void>;
  post(req: WebhookRequest): Promise<AttemptResult>;
  circuit: CircuitBreaker;
  /**
   * Holds a retry outside the consumer's slots until `dueAtSec` (holding.ts); without it every retry
   * waits in a slot (delayed NAK).
   */
  hold?(msg: JsMsg, delivery: WebhookDelivery, attemptsMade: number, dueAtSec: number): Promise<void>;
  /** Told when an attempt finds a host failing, or healthy again after failures. */
  onHostHealth?(origin: string, healthy: boolean): void;
  terminate(msg: JsMsg, reason: string): void;
  metrics: DeliveryMetrics;
  log: Logger;
}

/** Stable per event and target, so a redelivered last attempt updates the same dead-letter row. */
export function deadLetterId(eventId: string, url: string): string {
  return createHash('sha256').update(`${eventId}\n${url}`).digest('hex').slice(0, 32);
}

/** A dead letter whose write failed, kept until a redelivery of its message writes it. */
interface UnwrittenDeadLetter {
  attempts: number;
  reason: string;
}

export function deliveryHandler(deps: DeliveryDeps): (msg: JsMsg) => Promise<void> {
  // By stream sequence, per process: after a restart the redelivery makes the last attempt again, as
  // after any crash during it.
  const unwritten = new Map<number, UnwrittenDeadLetter>();
  return async (msg) => {
    let delivery: WebhookDelivery;
    try {
      delivery = decodeBusMessage(msg.data, WebhookDelivery).payload;
    } catch (err) {
      if (!isProtocolError(err)) throw err;
      deps.terminate(msg, `undecodable: ${err.message}`);
      return;
    }
    const prior = priorAttemptsOf(msg);
    const dueAtSec = attemptDueOf(msg);
    const log = deps.log.child(deliveryLogContext(delivery));
    if (dueAtSec === undefined && prior > 0 && msg.info.deliveryCount === 1) {
      // Attempt `prior` failed moments ago in the fan-out: wait its retry delay, as any retry does.
      await waitForNextAttempt(deps, msg, delivery, prior, deps.config.backoffMs[prior - 1] ?? 1_000, log);
      return;
    }
    // Released before its time (a probe, or its host recovered): a failure spends no attempt.
    const early = dueAtSec !== undefined && msg.info.deliveryCount === 1 && dueAtSec * 1000 > Date.now();
    const pending = unwritten.get(msg.seq);
    if (pending) {
      await deadLetterOrRequeue(deps, msg, delivery, pending, unwritten, log);
      return;
    }
    const target = targetKind(delivery);
    const secret = await secretFor(deps, delivery);
    if ('drop' in secret) {
      log.warn({ url: delivery.url, reason: secret.drop }, 'webhook delivery dropped');
      deps.metrics.outcome('dropped', target);
      deps.terminate(msg, secret.drop);
      return;
    }
    const attempt = attemptOf(msg.info.deliveryCount, prior, dueAtSec !== undefined);
    const result = await attemptOnce(deps, delivery, secret.secret, attempt);
    if (early && !result.ok && !result.permanent && dueAtSec !== undefined) {
      // Held even when the wait is short: a delayed NAK would count as a delivery, and so as an attempt.
      await holdOrPark(deps, msg, delivery, prior, dueAtSec * 1000 - Date.now(), dueAtSec, log, true);
      log.info(
        { url: delivery.url, attempt, status: result.status, error: result.error, dueAtSec },
        'early webhook attempt failed; back to its own time, no attempt spent',
      );
      return;
    }
    const decision = decide(result, attempt, deps.config.backoffMs);
    const details = { url: delivery.url, attempt, status: result.status };
    switch (decision.action) {
      case 'ack':
        msg.ack();
        deps.metrics.outcome('delivered', target);
        log.info(details, 'webhook delivered');
        return;
      case 'retry': {
        deps.metrics.outcome('retry', target);
        const wait = await waitForNextAttempt(deps, msg, delivery, attempt, decision.delayMs, log);
        log.warn(
          { ...details, error: errorOf(result), retryInMs: decision.delayMs, held: wait === 'held' },
          'webhook failed; will retry',
        );
        return;
      }
      case 'dead-letter':
        log.warn({ ...details, error: decision.reason }, 'webhook failed for the last time');
        await deadLetterOrRequeue(
          deps,
          msg,
          delivery,
          { attempts: attempt, reason: decision.reason },
          unwritten,
          log,
        );
        return;
    }
  };
}

/**
 * Settles a delivery whose next attempt is `delayMs` away: held outside the consumer's slots when
 * holding.ts says so (and holding works), else a delayed NAK that keeps it in a slot.
 */
async function waitForNextAttempt(
  deps: DeliveryDeps,
  msg: JsMsg,
  delivery: WebhookDelivery,
  attemptsMade: number,
  delayMs: number,
  log: Logger,
): Promise<'held' | 'parked'> {
  return holdOrPark(deps, msg, delivery, attemptsMade, delayMs, heldDueAtSec(Date.now(), delayMs), log);
}

async function holdOrPark(
  deps: DeliveryDeps,
  msg: JsMsg,
  delivery: WebhookDelivery,
  attemptsMade: number,
  delayMs: number,
  dueAtSec: number,
  log: Logger,
  alwaysHold = false,
): Promise<'held' | 'parked'> {
  if (deps.hold && (alwaysHold || shouldHold(delayMs, deps.circuit.isOpen(hostOf(delivery.url))))) {
    try {
      await deps.hold(msg, delivery, attemptsMade, dueAtSec);
      msg.ack();
      return 'held';
    } catch (err) {
      log.warn({ err: String(err), url: delivery.url }, 'retry not held; it waits in a consumer slot');
    }
  }
  // NAK delays are whole milliseconds for nats-server.
  msg.nak(Math.max(0, Math.round(delayMs)));
  return 'parked';
}

/**
 * Writes the dead letter and terminates the delivery, or, when PostgreSQL refuses the write, keeps
 * the delivery in JetStream (NAK) and remembers the outcome, so the redelivery only writes.
 */
async function deadLetterOrRequeue(
  deps: DeliveryDeps,
  msg: JsMsg,
  delivery: WebhookDelivery,
  dead: UnwrittenDeadLetter,
  unwritten: Map<number, UnwrittenDeadLetter>,
  log: Logger,
): Promise<void> {
  const id = deadLetterId(delivery.eventId, delivery.url);
  try {
    await writeDeadLetter(deps, delivery, dead.attempts, dead.reason);
  } catch (err) {
    unwritten.set(msg.seq, dead);
    msg.nak(deps.config.deadLetterRetryMs);
    log.error(
      { id, err: String(err), retryInMs: deps.config.deadLetterRetryMs },
      'dead letter not written; the delivery stays queued',
    );
    return;
  }
  unwritten.delete(msg.seq);
  log.error({ id, url: delivery.url, attempts: dead.attempts, error: dead.reason }, 'webhook dead-lettered');
  deps.terminate(msg, `dead-lettered: ${dead.reason}`);
}

export function targetKind(d: WebhookDelivery): TargetKind {
  return d.subscriptionId === undefined ? 'notification_url' : 'subscription';
}

export async function writeDeadLetter(
  deps: Pick<DeliveryDeps, 'deadLetter' | 'metrics'>,
  delivery: WebhookDelivery,
  attempts: number,
  reason: string,
): Promise<void> {
  await deps.deadLetter({
    tenant: delivery.tenant,
    id: deadLetterId(delivery.eventId, delivery.url),
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    targetUrl: delivery.url,
    subscriptionId: delivery.subscriptionId,
    payload: delivery.payload,
    attempts,
    lastError: reason,
  });
  deps.metrics.outcome('dead_letter', targetKind(delivery));
}

export async function secretFor(
  deps: DeliveryDeps,
  d: WebhookDelivery,
): Promise<{ secret: string } | { drop: string }> {
  if (d.subscriptionId !== undefined) {
    const secret = await deps.secretOf(d.tenant, d.subscriptionId);
    return secret === undefined ? { drop: 'subscription deleted or disabled' } : { secret };
  }
  const { notificationUrl, webhookSecret } = deps.config;
  if (notificationUrl === undefined || webhookSecret === undefined) {
    return { drop: 'NOTIFICATION_URL is not configured' };
  }
  // FW_WEBHOOK_SECRET signs only requests to NOTIFICATION_URL, whatever a bus message asks for.
  if (!d.url.startsWith(notificationUrl.replace(/\/+$/, ''))) return { drop: 'url outside NOTIFICATION_URL' };
  return { secret: webhookSecret };
}

export async function attemptOnce(
  deps: DeliveryDeps,
  d: WebhookDelivery,
  secret: string,
  attempt: number,
  timeoutMs: number = deps.config.timeoutMs,
): Promise<AttemptResult> {
  const host = hostOf(d.url);
  const lastAttempt = attempt >= attemptsFor(deps.config.backoffMs);
  // The last attempt always goes out: a host is not dead-lettered without being tried.
  if (!lastAttempt && !deps.circuit.allow(host)) {
    return { ok: false, error: 'circuit open: host failing', permanent: false };
  }
  const body = JSON.stringify(d.payload);
  const started = performance.now();
  let result: AttemptResult = { ok: false, error: 'not attempted', permanent: false };
  try {
    result = await deps.post({
      url: d.url,
      body,
      timeoutMs,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'fleetwire-notifier/0.1',
        [HEADER.EVENT_ID]: d.eventId,
        [HEADER.EVENT_TYPE]: d.eventType,
        [HEADER.ATTEMPT]: String(attempt),
        [HEADER.SIGNATURE]: signatureHeader(secret, body),
      },
    });
    return result;
  } finally {
    const recovered = deps.circuit.record(host, result.ok);
    if (recovered || !result.ok) deps.onHostHealth?.(host, result.ok);
    deps.metrics.attempt(result.ok, (performance.now() - started) / 1000);
  }
}

/** The circuit breaker's key: one origin, one host. */
export function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : url;
}

function errorOf(result: AttemptResult): string | undefined {
  return result.ok ? undefined : result.error;
}
