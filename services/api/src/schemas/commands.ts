import { COMMAND_STATE } from '@fleetwire/protocol';
import Type, { type Static } from 'typebox';
import { IsoTime, JsonObject, NullableIsoTime, PageQuery, Token } from './common.ts';

export const CommandStateSchema = Type.Enum(COMMAND_STATE);
const IdempotencyKey = Type.String({ minLength: 1, maxLength: 255 });
const Metadata = Type.Record(Type.String({ maxLength: 256 }), Type.Unknown(), {
  maxProperties: 256,
  description: 'any JSON object, returned untouched with every notification',
});

export const CreateCommandBody = Type.Object(
  {
    name: Type.String({
      pattern: '^[A-Za-z0-9_.-]{1,64}$',
      description: 'codec12 / codec14 for trackers (with args.text), the command name for WebSocket devices',
    }),
    args: Type.Optional(JsonObject),
    command: Type.Optional(
      Type.String({ maxLength: 4096, description: 'the command as written, e.g. "setdigout 1?"' }),
    ),
    metadata: Type.Optional(Metadata),
    idempotencyKey: Type.Optional(IdempotencyKey),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    attemptTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 86_400_000 })),
    ttlMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 366 * 86_400_000 })),
    supersede: Type.Optional(
      Type.Boolean({ description: 'older open commands with the same command text become superseded' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateCommandBody = Static<typeof CreateCommandBody>;

export const IdempotencyHeaders = Type.Object({ 'idempotency-key': Type.Optional(IdempotencyKey) });

export const Command = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  name: Type.String(),
  args: JsonObject,
  command: Type.Union([Type.String(), Type.Null()]),
  metadata: JsonObject,
  state: CommandStateSchema,
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  attemptTimeoutMs: Type.Integer(),
  expiresAt: IsoTime,
  createdAt: IsoTime,
  updatedAt: IsoTime,
  sentAt: NullableIsoTime,
  finishedAt: NullableIsoTime,
  response: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  idempotencyKey: Type.Union([Type.String(), Type.Null()]),
});

export const Transition = Type.Object({
  seq: Type.Integer(),
  state: CommandStateSchema,
  attempt: Type.Integer(),
  at: IsoTime,
  detail: Type.Union([Type.String(), Type.Null()]),
});

export const CommandWithTransitions = Type.Object({
  ...Command.properties,
  transitions: Type.Array(Transition),
});

export const ListCommandsQuery = Type.Object(
  { deviceId: Type.Optional(Token('device id')), state: Type.Optional(CommandStateSchema), ...PageQuery },
  { additionalProperties: false },
);

/** The seed gateway's POST /api/v1/command body, unchanged. */
export const SeedCommandBody = Type.Object({
  imei: Token('device IMEI'),
  command: Type.String({ minLength: 1, maxLength: 4096, description: 'Codec 12 command text' }),
  metadata: Type.Optional(Metadata),
});
