/**
 * Event intake: a command outcome or telemetry summary becomes one WebhookDelivery per target. Each
 * is attempted at once (first-attempt.ts) and stored on `notify.delivery` only if that attempt failed
 * or was not made. The source message is acknowledged only after every delivery succeeded or was
 * stored (PubAck), so a crash in between redelivers the source; the msgIds make a redelivery of
 * stored deliveries harmless, and a direct one goes out again with the same event id.
 */
import {
  CommandStateChange,
  decodeBusMessage,
  encodeBusMessage,
  isProtocolError,
  MSG_TYPE,
  PROTO,
  type Subjects,
  TelemetrySummary,
  type WebhookDelivery,
} from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { JsMsg } from '@nats-io/jetstream';
import {
  commandEvent,
  type NotifyEvent,
  type PlannedDelivery,
  type SeedTargetConfig,
  type SubscriptionTarget,
  seedDelivery,
  subscriptionDeliveries,
  telemetryEvent,
} from './events.ts';
import type { FirstAttempt } from './first-attempt.ts';

export interface FanOutDeps {
  subjects: Subjects;
  config: SeedTargetConfig;
  subscribersOf(tenant: string, eventType: string): Promise<SubscriptionTarget[]>;
  /** Stores a delivery on NOTIFY; `priorAttempts` = attempts already made (see first-attempt.ts). */
  publish(
    subject: string,
    data: Uint8Array,
    opts: { msgId: string; priorAttempts: number },
  ): Promise<unknown>;
  /** Attempts a delivery at once; without it every delivery goes through NOTIFY. */
  firstAttempt?(delivery: WebhookDelivery, msgId: string): Promise<FirstAttempt>;
  terminate(msg: JsMsg, reason: string): void;
  onEvent(eventType: string, deliveries: number): void;
  log: Logger;
}

export type EventReader = (msg: JsMsg) => NotifyEvent | undefined;

export const readCommandEvent: EventReader = (msg) =>
  commandEvent(decodeBusMessage(msg.data, CommandStateChange).payload);

export const readTelemetryEvent: EventReader = (msg) =>
  telemetryEvent(decodeBusMessage(msg.data, TelemetrySummary).payload, Date.now());

/** Builds the message handler for one source consumer. Transient failures throw (the worker NAKs). */
export function fanOutHandler(deps: FanOutDeps, read: EventReader): (msg: JsMsg) => Promise<void> {
  return async (msg) => {
    let event: NotifyEvent | undefined;
    try {
      event = read(msg);
    } catch (err) {
      if (!isProtocolError(err)) throw err;
      deps.terminate(msg, `undecodable: ${err.message}`);
      return;
    }
    if (event === undefined) {
      msg.ack();
      return;
    }
    await publishDeliveries(deps, event);
    msg.ack();
  };
}

async function publishDeliveries(deps: FanOutDeps, event: NotifyEvent): Promise<void> {
  const subject = deps.subjects.notify(event.tenant, 'delivery');
  const deliver = async ({ delivery, msgId }: PlannedDelivery): Promise<void> => {
    const first = deps.firstAttempt ? await deps.firstAttempt(delivery, msgId) : 'queue';
    if (first === 'done') return;
    const bytes = encodeBusMessage(PROTO.EVENT, MSG_TYPE.EVENT.WEBHOOK, delivery);
    await deps.publish(subject, bytes, { msgId, priorAttempts: first === 'retry' ? 1 : 0 });
  };
  // NOTIFICATION_URL needs no lookup: its delivery goes out while the subscriptions are read, a
  // PostgreSQL round trip off the seed API's path. Its failure is handled here, never left unheard.
  const seed = seedDelivery(event, deps.config);
  const seedDone = seed ? deliver(seed) : Promise.resolve();
  seedDone.catch(() => {});
  let subscriptions: SubscriptionTarget[];
  try {
    subscriptions = await deps.subscribersOf(event.tenant, event.eventType);
  } catch (err) {
    // The source is redelivered: let this attempt end first, so the next one does not overlap it.
    await seedDone.catch(() => {});
    throw err;
  }
  const planned = subscriptionDeliveries(event, subscriptions);
  const settled = await Promise.allSettled([seedDone, ...planned.map(deliver)]);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const targets = planned.length + (seed ? 1 : 0);
  deps.onEvent(event.eventType, targets);
  // No child logger per event for a debug line: the context goes on the line itself.
  deps.log.debug({ ...logContext(event), targets }, 'event fanned out');
}

function logContext(event: NotifyEvent): Record<string, string> {
  const ctx: Record<string, string> = {
    eventId: event.eventId,
    eventType: event.eventType,
    deviceId: event.deviceId,
  };
  if (event.commandId !== undefined) ctx.commandId = event.commandId;
  return ctx;
}
