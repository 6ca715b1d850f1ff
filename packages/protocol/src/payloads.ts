/**
 * TypeBox schemas (and their static types) for every body fleetwire defines.
 *
 * Two legs use the same proto/typ names with different shapes:
 * - device leg: what a WebSocket device puts in a ProtoMsg body (no tenant, the edge knows who it is);
 * - bus leg: what an edge or service publishes on a JetStream subject, normalised and attributed
 *   (`tenant`, `deviceId`, `source`, `receivedAt`).
 * Bodies of fleetwire protos are msgpack maps. fleetwire-defined objects reject unknown keys;
 * Mender's control bodies tolerate them, as Go's decoder does.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { type CommandId, type DeviceId, type EdgeId, SAFE_TOKEN_PATTERN, type TenantId } from './ids.ts';
import { COMMAND_STATE } from './subjects.ts';

const strict = { additionalProperties: false } as const;

/** Milliseconds since the Unix epoch. */
export const EpochMs = Type.Integer({
  minimum: 0,
  maximum: 8_640_000_000_000_000,
  description: 'ms since epoch',
});

export const TenantIdSchema = Type.Unsafe<TenantId>(Type.String({ pattern: SAFE_TOKEN_PATTERN }));
export const DeviceIdSchema = Type.Unsafe<DeviceId>(Type.String({ pattern: SAFE_TOKEN_PATTERN }));
export const CommandIdSchema = Type.Unsafe<CommandId>(Type.String({ pattern: SAFE_TOKEN_PATTERN }));
export const EdgeIdSchema = Type.Unsafe<EdgeId>(Type.String({ pattern: SAFE_TOKEN_PATTERN }));

const NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_]{0,63}$';
const ScalarValue = Type.Union([Type.Number(), Type.Boolean(), Type.String({ maxLength: 4096 })]);
/** Named values, e.g. `{ ignition: true, externalVoltageV: 12.6 }`. */
export const Attributes = Type.Record(Type.String({ pattern: NAME_PATTERN }), ScalarValue, {
  ...strict,
  maxProperties: 256,
});
export type Attributes = Static<typeof Attributes>;

export const TELEMETRY_SOURCE = { TELTONIKA: 'teltonika', WS: 'ws' } as const;
export type TelemetrySource = (typeof TELEMETRY_SOURCE)[keyof typeof TELEMETRY_SOURCE];
const Source = Type.Enum(TELEMETRY_SOURCE);

export const TRANSPORT = { TCP: 'tcp', WS: 'ws' } as const;
export type Transport = (typeof TRANSPORT)[keyof typeof TRANSPORT];

// ---------------------------------------------------------------------------------------------
// Telemetry

export const Position = Type.Object(
  {
    lat: Type.Number({ minimum: -90, maximum: 90 }),
    lon: Type.Number({ minimum: -180, maximum: 180 }),
    alt: Type.Optional(Type.Number({ description: 'metres' })),
    angle: Type.Optional(Type.Number({ minimum: 0, maximum: 360, description: 'heading, degrees' })),
    satellites: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    speed: Type.Optional(Type.Number({ minimum: 0, description: 'km/h' })),
  },
  strict,
);
export type Position = Static<typeof Position>;

/** Raw IO values by numeric id. Values that do not fit a double exactly travel as strings. */
export const IoValues = Type.Record(
  Type.String({ pattern: '^[0-9]{1,5}$' }),
  Type.Union([Type.Number(), Type.String({ maxLength: 1024 })]),
  { ...strict, maxProperties: 512 },
);

const recordFields = {
  deviceTime: EpochMs,
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
  position: Type.Optional(Position),
  /** The IO id that triggered the record (Teltonika "event IO"), 0 or absent for periodic records. */
  eventIoId: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  io: Type.Optional(IoValues),
  attributes: Type.Optional(Attributes),
};

export const MAX_RECORDS_PER_MESSAGE = 1000;

/** A record as a device sends it; the edge adds `receivedAt`. */
export const DeviceTelemetryRecord = Type.Object(recordFields, strict);
export type DeviceTelemetryRecord = Static<typeof DeviceTelemetryRecord>;

/** Device leg, TELEMETRY/record. */
export const TelemetryRecordBody = Type.Object(
  { records: Type.Array(DeviceTelemetryRecord, { minItems: 1, maxItems: MAX_RECORDS_PER_MESSAGE }) },
  strict,
);
export type TelemetryRecordBody = Static<typeof TelemetryRecordBody>;

/** One normalised record, the same for Teltonika trackers and WebSocket devices. */
export const TelemetryRecord = Type.Object({ ...recordFields, receivedAt: EpochMs }, strict);
export type TelemetryRecord = Static<typeof TelemetryRecord>;

/** Bus, TELEMETRY/record on `up.<device>.telemetry`. */
export const TelemetryMessage = Type.Object(
  {
    tenant: TenantIdSchema,
    deviceId: DeviceIdSchema,
    source: Source,
    /** Teltonika codec id (0x08, 0x8E, 0x10); absent for WebSocket devices. */
    codec: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    records: Type.Array(TelemetryRecord, { minItems: 1, maxItems: MAX_RECORDS_PER_MESSAGE }),
  },
  strict,
);
export type TelemetryMessage = Static<typeof TelemetryMessage>;

// ---------------------------------------------------------------------------------------------
// Attribution shared by bus messages that originate at a device

const fromDevice = {
  tenant: TenantIdSchema,
  deviceId: DeviceIdSchema,
  source: Source,
  /** When the edge received it. */
  receivedAt: EpochMs,
};

// ---------------------------------------------------------------------------------------------
// Events and alerts

export const EVENT_SEVERITY = { INFO: 'info', WARNING: 'warning', CRITICAL: 'critical' } as const;
export type EventSeverity = (typeof EVENT_SEVERITY)[keyof typeof EVENT_SEVERITY];

const eventFields = {
  /** Machine-readable event code, e.g. `door_open`, `overheat`. */
  code: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
  /** Device time of the event. */
  at: Type.Optional(EpochMs),
  severity: Type.Optional(Type.Enum(EVENT_SEVERITY)),
  message: Type.Optional(Type.String({ maxLength: 1024 })),
  data: Type.Optional(Attributes),
};

/** Device leg, EVENT/event and EVENT/alert (an alert is an event that should notify someone). */
export const DeviceEventBody = Type.Object(eventFields, strict);
export type DeviceEventBody = Static<typeof DeviceEventBody>;

/** Bus, EVENT/event and EVENT/alert on `up.<device>.event`. */
export const DeviceEventMessage = Type.Object({ ...fromDevice, ...eventFields }, strict);
export type DeviceEventMessage = Static<typeof DeviceEventMessage>;

// ---------------------------------------------------------------------------------------------
// Status

const heartbeatFields = {
  seq: Type.Optional(Type.Integer({ minimum: 0 })),
  uptimeMs: Type.Optional(Type.Integer({ minimum: 0 })),
  at: Type.Optional(EpochMs),
};
const stateFields = { at: Type.Optional(EpochMs), attributes: Attributes };

/** Device leg, STATUS/heartbeat: an application-level liveness tick (the seed device sends one every 5 s). */
export const HeartbeatBody = Type.Object(heartbeatFields, strict);
export type HeartbeatBody = Static<typeof HeartbeatBody>;
/** Device leg, STATUS/state: device-reported state such as firmware version or battery level. */
export const StateBody = Type.Object(stateFields, strict);
export type StateBody = Static<typeof StateBody>;

/** Bus, STATUS/heartbeat on `up.<device>.status`. */
export const DeviceHeartbeatMessage = Type.Object({ ...fromDevice, ...heartbeatFields }, strict);
export type DeviceHeartbeatMessage = Static<typeof DeviceHeartbeatMessage>;
/** Bus, STATUS/state on `up.<device>.status`. */
export const DeviceStateMessage = Type.Object({ ...fromDevice, ...stateFields }, strict);
export type DeviceStateMessage = Static<typeof DeviceStateMessage>;

export const PRESENCE_STATE = { ONLINE: 'online', OFFLINE: 'offline' } as const;
export type PresenceState = (typeof PRESENCE_STATE)[keyof typeof PRESENCE_STATE];

/**
 * Bus, STATUS/presence on `presence.<device>`. `epoch` increases with every connection of the
 * device; an `offline` with an older epoch than the current `online` is stale and must be ignored.
 */
export const PresenceEvent = Type.Object(
  {
    tenant: TenantIdSchema,
    deviceId: DeviceIdSchema,
    state: Type.Enum(PRESENCE_STATE),
    epoch: Type.Integer({ minimum: 0 }),
    edgeId: EdgeIdSchema,
    transport: Type.Enum(TRANSPORT),
    at: EpochMs,
    reason: Type.Optional(Type.String({ maxLength: 256 })),
  },
  strict,
);
export type PresenceEvent = Static<typeof PresenceEvent>;

// ---------------------------------------------------------------------------------------------
// Commands

/** Command names as the seed device knows them: `reboot`, `send_msg_log`, `Power_Off`, ... */
export const CommandName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });

/** Device leg, COMMAND/request (cloud → device). */
export const CommandRequestBody = Type.Object(
  {
    commandId: CommandIdSchema,
    name: CommandName,
    args: Type.Optional(Type.Record(Type.String({ pattern: NAME_PATTERN }), Type.Unknown(), strict)),
    /** The device should drop the command after this time. */
    expiresAt: Type.Optional(EpochMs),
  },
  strict,
);
export type CommandRequestBody = Static<typeof CommandRequestBody>;

/** Device leg, COMMAND/ack: the device received the command (not yet executed). */
export const CommandAckBody = Type.Object({ commandId: CommandIdSchema }, strict);
export type CommandAckBody = Static<typeof CommandAckBody>;

const MAX_OUTPUT = 65536;
const MAX_ERROR = 4096;

/** Device leg, COMMAND/result: the command finished. */
export const CommandResultBody = Type.Object(
  {
    commandId: CommandIdSchema,
    ok: Type.Boolean(),
    output: Type.Optional(Type.String({ maxLength: MAX_OUTPUT })),
    error: Type.Optional(Type.String({ maxLength: MAX_ERROR })),
  },
  strict,
);
export type CommandResultBody = Static<typeof CommandResultBody>;

/**
 * Bus, COMMAND/ack|result|reply on `up.<device>.reply`. `reply` carries free text from devices that
 * cannot correlate (a Teltonika Codec 12 response), so `commandId` is optional.
 */
export const CommandReply = Type.Object(
  {
    tenant: TenantIdSchema,
    deviceId: DeviceIdSchema,
    commandId: Type.Optional(CommandIdSchema),
    text: Type.Optional(Type.String({ maxLength: MAX_OUTPUT })),
    ok: Type.Optional(Type.Boolean()),
    output: Type.Optional(Type.String({ maxLength: MAX_OUTPUT })),
    error: Type.Optional(Type.String({ maxLength: MAX_ERROR })),
    receivedAt: EpochMs,
  },
  strict,
);
export type CommandReply = Static<typeof CommandReply>;

/** The caller's metadata: any JSON object, returned untouched in every notification. */
export const CommandMetadata = Type.Record(Type.String({ maxLength: 256 }), Type.Unknown(), {
  maxProperties: 256,
});
export type CommandMetadata = Static<typeof CommandMetadata>;

/** Bus, COMMAND/state on `cmd.<device>.<state>`. */
export const CommandStateChange = Type.Object(
  {
    tenant: TenantIdSchema,
    deviceId: DeviceIdSchema,
    commandId: CommandIdSchema,
    state: Type.Enum(COMMAND_STATE),
    at: EpochMs,
    /** What was sent: `codec12`/`codec14` for trackers, the command name for WebSocket devices. */
    name: Type.Optional(CommandName),
    /** The command as the host wrote it (e.g. `setdigout 1?`). */
    command: Type.Optional(Type.String({ maxLength: 4096 })),
    /** Delivery attempt this change belongs to, from 1. */
    attempt: Type.Optional(Type.Integer({ minimum: 1 })),
    response: Type.Optional(Type.String({ maxLength: MAX_OUTPUT })),
    error: Type.Optional(Type.String({ maxLength: MAX_ERROR })),
    metadata: Type.Optional(CommandMetadata),
  },
  strict,
);
export type CommandStateChange = Static<typeof CommandStateChange>;

/** Bus, COMMAND/dispatch on `dispatch.<device>`: "look at this device's open commands now". */
export const CommandDispatch = Type.Object(
  {
    tenant: TenantIdSchema,
    deviceId: DeviceIdSchema,
    /** The command that prompted it; the dispatcher still sends the device's oldest open command first. */
    commandId: Type.Optional(CommandIdSchema),
    reason: Type.Enum({ NEW: 'new', ONLINE: 'online', RETRY: 'retry', REPLAY: 'replay' }),
  },
  strict,
);
export type CommandDispatch = Static<typeof CommandDispatch>;

/**
 * Bus, TELEMETRY/summary on `notify.telemetry`: per device, at most one per interval, the seed
 * gateway's telemetry webhook (`recordCount`, `latestTimestamp`, `latestGps`, `latestAttributes`).
 */
export const TelemetrySummary = Type.Object(
  {
    tenant: TenantIdSchema,
    deviceId: DeviceIdSchema,
    recordCount: Type.Integer({ minimum: 1 }),
    latestTimestamp: EpochMs,
    latestGps: Type.Optional(
      Type.Object(
        {
          latitude: Type.Number({ minimum: -90, maximum: 90 }),
          longitude: Type.Number({ minimum: -180, maximum: 180 }),
          speed: Type.Optional(Type.Number({ minimum: 0 })),
        },
        strict,
      ),
    ),
    latestAttributes: Attributes,
  },
  strict,
);
export type TelemetrySummary = Static<typeof TelemetrySummary>;

/**
 * Bus, EVENT/webhook on `notify.delivery`: one webhook delivery to one target, owned by the
 * notifier (retried with backoff, dead-lettered after the last attempt, replayed by the API).
 */
export const WebhookDelivery = Type.Object(
  {
    tenant: TenantIdSchema,
    /** Stable per event and target: the receiver's idempotency key (header x-fleetwire-event-id). */
    eventId: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,200}$' }),
    eventType: Type.String({ pattern: '^[a-z][a-z0-9_.]{0,63}$' }),
    /** Full URL the payload is POSTed to. */
    url: Type.String({ maxLength: 2048 }),
    /** Absent for NOTIFICATION_URL (signed with the configured secret). */
    subscriptionId: Type.Optional(Type.String({ pattern: SAFE_TOKEN_PATTERN })),
    payload: Type.Record(Type.String(), Type.Unknown()),
    createdAt: EpochMs,
  },
  strict,
);
export type WebhookDelivery = Static<typeof WebhookDelivery>;

// ---------------------------------------------------------------------------------------------
// Logs

export const LOG_LEVEL = { DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
export type LogLevel = (typeof LOG_LEVEL)[keyof typeof LOG_LEVEL];

export const LogEntry = Type.Object(
  {
    at: EpochMs,
    level: Type.Enum(LOG_LEVEL),
    message: Type.String({ maxLength: 8192 }),
    fields: Type.Optional(Attributes),
  },
  strict,
);
export type LogEntry = Static<typeof LogEntry>;

const logEntryFields = { entries: Type.Array(LogEntry, { minItems: 1, maxItems: 500 }) };
const uploadReadyFields = {
  /** Device-chosen id of the log bundle, used to fetch it. */
  logId: Type.String({ pattern: SAFE_TOKEN_PATTERN }),
  sizeBytes: Type.Integer({ minimum: 0 }),
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  from: Type.Optional(EpochMs),
  to: Type.Optional(EpochMs),
  contentType: Type.Optional(Type.String({ maxLength: 128 })),
};

/** Device leg, LOG/entry: a batch of log lines. */
export const LogEntryBody = Type.Object(logEntryFields, strict);
export type LogEntryBody = Static<typeof LogEntryBody>;
/** Device leg, LOG/upload-ready: a log bundle is ready to be fetched or uploaded. */
export const LogUploadReadyBody = Type.Object(uploadReadyFields, strict);
export type LogUploadReadyBody = Static<typeof LogUploadReadyBody>;

/** Bus, LOG/entry on `up.<device>.log`. */
export const DeviceLogMessage = Type.Object({ ...fromDevice, ...logEntryFields }, strict);
export type DeviceLogMessage = Static<typeof DeviceLogMessage>;
/** Bus, LOG/upload-ready on `up.<device>.log`. */
export const LogUploadReadyMessage = Type.Object({ ...fromDevice, ...uploadReadyFields }, strict);
export type LogUploadReadyMessage = Static<typeof LogUploadReadyMessage>;

// ---------------------------------------------------------------------------------------------
// Control (Mender device-connect); unknown keys are tolerated for interoperability.

const Uint16 = Type.Integer({ minimum: 0, maximum: 0xffff });

export const ControlOpenBody = Type.Object({ versions: Type.Array(Type.Integer()) });
export type ControlOpenBody = Static<typeof ControlOpenBody>;
export const ControlAcceptBody = Type.Object({ version: Type.Integer(), protocols: Type.Array(Uint16) });
export type ControlAcceptBody = Static<typeof ControlAcceptBody>;
export const ControlErrorBody = Type.Object({
  err: Type.String(),
  close: Type.Boolean(),
  /** 400–599 carry their HTTP meaning; custom codes start at 1000. */
  code: Type.Optional(Type.Integer()),
  msgproto: Type.Optional(Uint16),
  msgtype: Type.Optional(Type.String()),
  /** Echoes `props.msgid` of the message that caused the error. */
  msgid: Type.Optional(Type.String()),
});
export type ControlErrorBody = Static<typeof ControlErrorBody>;
export const ControlCloseBody = Type.Object({ reason: Type.Optional(Type.String()) });
export type ControlCloseBody = Static<typeof ControlCloseBody>;
/** ping and pong carry no body. */
export const EmptyBody = Type.Object({});
export type EmptyBody = Static<typeof EmptyBody>;

export type { Static, TSchema };
