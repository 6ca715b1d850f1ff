import Type, { type Static } from 'typebox';
import { IsoTime, JsonObject, PageQuery, Tag, Token } from './common.ts';

export const DEVICE_KIND = { TRACKER: 'tracker', WS: 'ws' } as const;
export const DeviceKind = Type.Enum(DEVICE_KIND, { description: 'tracker (Teltonika, id = IMEI) or ws' });
export type DeviceKind = Static<typeof DeviceKind>;

const Tags = Type.Array(Tag, { maxItems: 64, uniqueItems: true });
const Name = Type.String({ minLength: 1, maxLength: 200 });

export const CreateDeviceBody = Type.Object(
  {
    id: Token('device id; the IMEI for trackers'),
    kind: DeviceKind,
    name: Type.Optional(Name),
    tags: Type.Optional(Tags),
    metadata: Type.Optional(JsonObject),
  },
  { additionalProperties: false },
);
export type CreateDeviceBody = Static<typeof CreateDeviceBody>;

export const PatchDeviceBody = Type.Object(
  {
    name: Type.Optional(Type.Union([Name, Type.Null()])),
    tags: Type.Optional(Tags),
    metadata: Type.Optional(JsonObject),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type PatchDeviceBody = Static<typeof PatchDeviceBody>;

export const ListDevicesQuery = Type.Object(
  {
    kind: Type.Optional(DeviceKind),
    tag: Type.Optional(Tag),
    state: Type.Optional(Type.Union([Type.Literal('online'), Type.Literal('offline')])),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'device id prefix' })),
    ...PageQuery,
  },
  { additionalProperties: false },
);
export type ListDevicesQuery = Static<typeof ListDevicesQuery>;

export const Presence = Type.Object({
  state: Type.Enum({ ONLINE: 'online', OFFLINE: 'offline' }),
  since: IsoTime,
  edgeId: Type.String(),
  transport: Type.String(),
  remoteAddress: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
});
export type Presence = Static<typeof Presence>;

/** Position columns of a stored record or latest state; null when the record carried none. */
const PositionColumns = {
  latitude: Type.Union([Type.Number(), Type.Null()]),
  longitude: Type.Union([Type.Number(), Type.Null()]),
  altitude: Type.Union([Type.Number(), Type.Null()]),
  angle: Type.Union([Type.Number(), Type.Null()]),
  satellites: Type.Union([Type.Number(), Type.Null()]),
  speed: Type.Union([Type.Number(), Type.Null()]),
};

export const LatestState = Type.Object({
  deviceTime: IsoTime,
  receivedAt: IsoTime,
  ...PositionColumns,
  attributes: JsonObject,
  updatedAt: IsoTime,
});
export type LatestState = Static<typeof LatestState>;

export const Device = Type.Object({
  id: Type.String(),
  kind: DeviceKind,
  name: Type.Union([Type.String(), Type.Null()]),
  tags: Type.Array(Type.String()),
  metadata: JsonObject,
  createdAt: IsoTime,
  updatedAt: IsoTime,
  online: Type.Boolean(),
  presence: Type.Union([Presence, Type.Null()], { description: 'null until an edge reported the device' }),
});
export type Device = Static<typeof Device>;

const Credential = Type.String({
  description: "the WebSocket device's credential: shown once, only its SHA-256 is stored",
});

export const CreatedDevice = Type.Object({
  ...Device.properties,
  credential: Type.Optional(Credential),
});

export const IssuedCredential = Type.Object({ credential: Credential, issuedAt: IsoTime });

export const DeviceDetail = Type.Object({
  ...Device.properties,
  identity: Type.Record(Type.String(), Type.Unknown(), {
    description: 'what the device reported at its last session start (serial, mac, firmware, …)',
  }),
  credentialIssuedAt: Type.Union([IsoTime, Type.Null()], {
    description: 'when the current credential was issued (WebSocket devices); null for trackers',
  }),
  latestState: Type.Union([LatestState, Type.Null()]),
});
export type DeviceDetail = Static<typeof DeviceDetail>;

export const DeviceStateAnswer = Type.Object({ deviceId: Type.String(), ...LatestState.properties });

export const TelemetryQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ format: 'date-time', description: 'device time, inclusive' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'device time, exclusive' })),
    ...PageQuery,
  },
  { additionalProperties: false },
);
export type TelemetryQuery = Static<typeof TelemetryQuery>;

export const TelemetryRow = Type.Object({
  deviceTime: IsoTime,
  eventIo: Type.Integer(),
  receivedAt: IsoTime,
  priority: Type.Union([Type.Integer(), Type.Null()]),
  ...PositionColumns,
  io: JsonObject,
  attributes: JsonObject,
  source: Type.String(),
});
export type TelemetryRow = Static<typeof TelemetryRow>;
