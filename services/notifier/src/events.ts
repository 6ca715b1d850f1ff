/**
 * What the notifier tells hosts, as pure functions: a command outcome or a telemetry summary becomes
 * one event, and an event becomes one WebhookDelivery per target. The seed gateway's paths and
 * payloads on NOTIFICATION_URL are kept byte-for-byte in meaning; subscriptions get the same payload
 * inside the fleetwire envelope.
 */
import type {
  CommandId,
  CommandState,
  CommandStateChange,
  DeviceId,
  TelemetrySummary,
  TenantId,
  WebhookDelivery,
} from '@fleetwire/protocol';

export const EVENT_TYPE = {
  COMMAND_COMPLETED: 'command.completed',
  COMMAND_FAILED: 'command.failed',
  COMMAND_EXPIRED: 'command.expired',
  COMMAND_CANCELLED: 'command.cancelled',
  COMMAND_SUPERSEDED: 'command.superseded',
  TELEMETRY: 'telemetry',
} as const;
export type EventType = (typeof EVENT_TYPE)[keyof typeof EVENT_TYPE];

/** Terminal command states that notify; queued/sent/delivered are progress, not outcomes. */
export const NOTIFYING_STATES = [
  'completed',
  'failed',
  'expired',
  'cancelled',
  'superseded',
] as const satisfies readonly CommandState[];

export const SEED_PATH = {
  CONFIRM: '/webhooks/iot/v1/command/confirm',
  BULK_FAILURE: '/webhooks/iot/v1/command/bulk_failure',
  TELEMETRY: '/webhooks/iot/v1/telemetry',
} as const;

/** Seed paths per event type; cancelled and superseded had none, they go to subscriptions only. */
const SEED_PATH_BY_TYPE: Partial<Record<EventType, string>> = {
  [EVENT_TYPE.COMMAND_COMPLETED]: SEED_PATH.CONFIRM,
  [EVENT_TYPE.COMMAND_FAILED]: SEED_PATH.BULK_FAILURE,
  [EVENT_TYPE.COMMAND_EXPIRED]: SEED_PATH.BULK_FAILURE,
  [EVENT_TYPE.TELEMETRY]: SEED_PATH.TELEMETRY,
};

export interface NotifyEvent {
  tenant: TenantId;
  eventId: string;
  eventType: EventType;
  createdAt: number;
  deviceId: DeviceId;
  commandId?: CommandId;
  /** The seed gateway's payload for this event (also `data` of the subscription envelope). */
  payload: Record<string, unknown>;
}

export function isNotifyingState(state: string): state is (typeof NOTIFYING_STATES)[number] {
  return (NOTIFYING_STATES as readonly string[]).includes(state);
}

/** Undefined for states that do not notify. */
export function commandEvent(change: CommandStateChange): NotifyEvent | undefined {
  if (!isNotifyingState(change.state)) return undefined;
  const metadata = change.metadata ?? null;
  const payload =
    change.state === 'completed'
      ? {
          identified: true,
          imei: change.deviceId,
          command: change.command ?? null,
          response: change.response ?? null,
          metadata,
          commandId: change.commandId,
        }
      : {
          entries: [
            {
              command_log_id: change.commandId,
              imei: change.deviceId,
              command: change.command ?? null,
              metadata,
              state: change.state,
              error: change.error ?? null,
            },
          ],
        };
  return {
    tenant: change.tenant,
    eventId: `${change.commandId}:${change.state}`,
    eventType: `command.${change.state}`,
    createdAt: change.at,
    deviceId: change.deviceId,
    commandId: change.commandId,
    payload,
  };
}

export function telemetryEvent(summary: TelemetrySummary, nowMs: number): NotifyEvent {
  return {
    tenant: summary.tenant,
    eventId: `telemetry:${summary.deviceId}:${summary.latestTimestamp}`,
    eventType: EVENT_TYPE.TELEMETRY,
    createdAt: nowMs,
    deviceId: summary.deviceId,
    payload: {
      imei: summary.deviceId,
      recordCount: summary.recordCount,
      latestTimestamp: new Date(summary.latestTimestamp).toISOString(),
      latestGps: summary.latestGps ?? null,
      latestAttributes: summary.latestAttributes,
    },
  };
}

export interface SubscriptionTarget {
  id: string;
  url: string;
}

export interface SeedTargetConfig {
  notificationUrl: string | undefined;
  telemetryWebhookEnabled: boolean;
}

/** The full NOTIFICATION_URL target of an event, or undefined when the seed gateway would not call it. */
export function seedUrl(config: SeedTargetConfig, eventType: EventType): string | undefined {
  const path = SEED_PATH_BY_TYPE[eventType];
  if (config.notificationUrl === undefined || path === undefined) return undefined;
  if (eventType === EVENT_TYPE.TELEMETRY && !config.telemetryWebhookEnabled) return undefined;
  return `${config.notificationUrl.replace(/\/+$/, '')}${path}`;
}

export interface PlannedDelivery {
  delivery: WebhookDelivery;
  /** Nats-Msg-Id: the same event and target inside the duplicate window is stored once. */
  msgId: string;
}

export const SEED_TARGET = 'notification_url';

/** The NOTIFICATION_URL delivery of an event; it depends on the configuration only, not on subscriptions. */
export function seedDelivery(event: NotifyEvent, config: SeedTargetConfig): PlannedDelivery | undefined {
  const url = seedUrl(config, event.eventType);
  if (url === undefined) return undefined;
  return {
    delivery: {
      tenant: event.tenant,
      eventId: event.eventId,
      eventType: event.eventType,
      url,
      payload: event.payload,
      createdAt: event.createdAt,
    },
    msgId: `${event.eventId}:${SEED_TARGET}`,
  };
}

export function subscriptionDeliveries(
  event: NotifyEvent,
  subscriptions: readonly SubscriptionTarget[],
): PlannedDelivery[] {
  return subscriptions.map((sub) => ({
    delivery: {
      tenant: event.tenant,
      eventId: event.eventId,
      eventType: event.eventType,
      url: sub.url,
      subscriptionId: sub.id,
      payload: envelope(event),
      createdAt: event.createdAt,
    },
    msgId: `${event.eventId}:sub:${sub.id}`,
  }));
}

/** What subscriptions receive: the seed payload as `data`, with the event's identity around it. */
export function envelope(event: NotifyEvent): Record<string, unknown> {
  return {
    id: event.eventId,
    type: event.eventType,
    tenant: event.tenant,
    createdAt: new Date(event.createdAt).toISOString(),
    data: event.payload,
  };
}

/** deviceId and commandId of a delivery, for log lines (they live in the payload, not the message). */
export function deliveryLogContext(d: WebhookDelivery): Record<string, string> {
  const ctx: Record<string, string> = { eventId: d.eventId, eventType: d.eventType };
  if (d.subscriptionId !== undefined) ctx.subscriptionId = d.subscriptionId;
  if (d.eventType.startsWith('command.')) ctx.commandId = d.eventId.slice(0, d.eventId.lastIndexOf(':'));
  const data = (d.payload.data ?? d.payload) as Record<string, unknown>;
  const entry = Array.isArray(data.entries) ? (data.entries[0] as Record<string, unknown>) : data;
  if (typeof entry?.imei === 'string') ctx.deviceId = entry.imei;
  return ctx;
}
