import Type, { type Static } from 'typebox';
import { IsoTime, JsonObject, NullableIsoTime, PageQuery } from './common.ts';

/** What a subscription may filter on; empty = everything. */
export const EVENT_TYPES = [
  'command.completed',
  'command.failed',
  'command.expired',
  'command.cancelled',
  'command.superseded',
  'telemetry',
] as const;

export const CreateWebhookBody = Type.Object(
  {
    url: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }),
    secret: Type.Optional(
      Type.String({ minLength: 16, maxLength: 256, description: 'HMAC key; generated when omitted' }),
    ),
    events: Type.Optional(
      Type.Array(Type.Enum(EVENT_TYPES), {
        uniqueItems: true,
        description: 'event types delivered; empty or absent = all',
      }),
    ),
  },
  { additionalProperties: false },
);
export type CreateWebhookBody = Static<typeof CreateWebhookBody>;

export const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  createdAt: IsoTime,
});

export const CreatedWebhook = Type.Object({
  ...Webhook.properties,
  secret: Type.String({ description: 'shown once: sign-check x-fleetwire-signature with it' }),
});

export const DeadLetter = Type.Object({
  id: Type.String(),
  eventId: Type.String(),
  eventType: Type.String(),
  targetUrl: Type.String(),
  subscriptionId: Type.Union([Type.String(), Type.Null()]),
  path: Type.String(),
  payload: JsonObject,
  attempts: Type.Integer(),
  lastError: Type.String(),
  deadAt: IsoTime,
  replayedAt: NullableIsoTime,
});

export const HeldHost = Type.Object({
  host: Type.Union([Type.String(), Type.Null()], {
    description: 'origin of the webhook target; null when no held delivery could be read',
  }),
  held: Type.Integer({ description: 'retries held for this host' }),
  nextDueAt: IsoTime,
  lastDueAt: IsoTime,
});

export const DeadLetterQuery = Type.Object(
  {
    replayed: Type.Optional(
      Type.Boolean({ description: 'only replayed (true) or only open (false); all if absent' }),
    ),
    ...PageQuery,
  },
  { additionalProperties: false },
);
