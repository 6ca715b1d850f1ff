import { SAFE_TOKEN_PATTERN } from '@fleetwire/protocol';
import Type from 'typebox';

const strict = { additionalProperties: false } as const;
const Reported = Type.String({ maxLength: 128 });
const Secret = Type.String({ minLength: 1, maxLength: 512 });
const DeviceIdString = Type.String({ pattern: SAFE_TOKEN_PATTERN });

export const ErrorBody = Type.Object({
  error: Type.String({ description: 'stable code, e.g. bad_credential' }),
  message: Type.String(),
  field: Type.Optional(Type.String({ description: 'the offending input, e.g. deviceId' })),
});

/** Refusals a route may answer, by status. */
export function refusals(...statuses: number[]) {
  return Object.fromEntries([...statuses, 500].map((status) => [status, ErrorBody]));
}

export const Identity = Type.Object(
  {
    serial: Type.Optional(Reported),
    hwSerial: Type.Optional(Reported),
    mac: Type.Optional(Reported),
    localIp: Type.Optional(Reported),
    firmware: Type.Optional(Reported),
    model: Type.Optional(Reported),
  },
  strict,
);

export const SessionBody = Type.Object(
  {
    deviceId: DeviceIdString,
    credential: Type.Optional(Secret),
    provisioningKey: Type.Optional(Secret),
    identity: Type.Optional(Identity),
  },
  strict,
);

export const SessionCreated = Type.Object({
  token: Type.String(),
  sessionId: Type.String(),
  deviceId: Type.String(),
  tenant: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  heartbeatMs: Type.Integer(),
  connectPath: Type.String(),
  credential: Type.Optional(Type.String({ description: 'only when this call provisioned the device' })),
});

/** The seed device's session call: every other query parameter it sends (pts, S[lang], ...) is ignored. */
export const SeedOpenQuery = Type.Object({
  'S[S]': Secret,
  'S[serial_no]': DeviceIdString,
  'S[serial_no_hw]': Type.Optional(Reported),
  d_mac_id: Type.Optional(Reported),
  d_local_ip: Type.Optional(Reported),
  d_firmware: Type.Optional(Reported),
  d_short_code: Type.Optional(Reported),
});

export const SeedOpened = Type.Object({
  status: Type.String(),
  from: Type.String(),
  data: Type.Object({
    result: Type.String(),
    S: Type.String(),
    devices_id: Type.String(),
    is_login: Type.Boolean(),
    devices_last_state: Type.String(),
    session_id: Type.String(),
    expires_at: Type.String({ format: 'date-time' }),
    heartbeat_ms: Type.Integer(),
    connect_path: Type.String(),
  }),
});

export const LogStored = Type.Object({
  logId: Type.String(),
  sizeBytes: Type.Integer(),
  sha256: Type.String(),
});
