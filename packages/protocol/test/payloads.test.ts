import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUS_PAYLOAD_SCHEMAS,
  type BusPayload,
  type CommandId,
  type CommandStateChange,
  DEVICE_BODY_SCHEMAS,
  type DeviceId,
  decodeAnyBusMessage,
  decodeBody,
  decodeBusMessage,
  decodeDeviceBody,
  decodeMsgpack,
  decodeProtoMsg,
  type EdgeId,
  encodeBusMessage,
  encodeDeviceMessage,
  encodeMsgpack,
  encodePayload,
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
  ProtocolError,
  type ProtocolErrorCode,
  type TelemetryMessage,
  TelemetryRecordBody,
  type TenantId,
  UP_KIND_PROTO,
} from '../src/index.ts';
import { toHex } from './support.ts';

const tenant = 'acme' as TenantId;
const deviceId = '356307042441013' as DeviceId;
const commandId = '01J9Z3K4M5N6P7Q8R9S0T1V2W3' as CommandId;
const edgeId = 'edge-1' as EdgeId;
const at = 1_700_000_000_000;

/** One realistic body per device-leg entry of the registry. */
const DEVICE_SAMPLES: Record<number, Record<string, Record<string, unknown>>> = {
  [PROTO.CONTROL]: {
    ping: {},
    pong: {},
    ack: {},
    open: { versions: [1] },
    accept: { version: 1, protocols: [PROTO.SHELL, PROTO.TELEMETRY, PROTO.COMMAND] },
    close: { reason: 'idle' },
    error: { err: 'no handler registered for protocol: 0x0003', close: false, msgproto: 3, msgid: 'm-1' },
  },
  [PROTO.TELEMETRY]: {
    record: {
      records: [
        {
          deviceTime: at,
          position: { lat: 54.68, lon: 25.27, speed: 42, satellites: 9 },
          attributes: { ignition: true },
        },
        {
          deviceTime: at + 1000,
          priority: 2,
          eventIoId: 247,
          io: { '239': 1, '78': '18446744073709551615' },
        },
      ],
    },
  },
  [PROTO.EVENT]: {
    event: { code: 'door_open', at, data: { door: 2 } },
    alert: { code: 'overheat', severity: 'critical', message: 'CPU at 95 °C' },
  },
  [PROTO.STATUS]: {
    heartbeat: { seq: 17, uptimeMs: 85_000 },
    state: { at, attributes: { firmware: '1.4.2', batteryPct: 87 } },
  },
  [PROTO.COMMAND]: {
    request: { commandId, name: 'send_msg_log', args: { msg: 'hello' }, expiresAt: at + 60_000 },
    ack: { commandId },
    result: { commandId, ok: true, output: 'logged' },
  },
  [PROTO.LOG]: {
    entry: { entries: [{ at, level: 'warn', message: 'System UNSTABLE manual reboot advised' }] },
    'upload-ready': { logId: 'log-2024-01-01', sizeBytes: 2048, sha256: 'a'.repeat(64) },
  },
};

const fromDevice = { tenant, deviceId, source: 'ws', receivedAt: at + 5 };

/** One realistic payload per bus entry of the registry. */
const BUS_SAMPLES: Record<number, Record<string, Record<string, unknown>>> = {
  [PROTO.TELEMETRY]: {
    record: {
      tenant,
      deviceId,
      source: 'teltonika',
      codec: 0x8e,
      records: [{ deviceTime: at, receivedAt: at + 40, position: { lat: 1, lon: 2, alt: 120, angle: 359 } }],
    },
    summary: {
      tenant,
      deviceId,
      recordCount: 5,
      latestTimestamp: at,
      latestGps: { latitude: 40.7128, longitude: -74.006, speed: 45 },
      latestAttributes: { batteryLevel: 85 },
    },
  },
  [PROTO.EVENT]: {
    event: { ...fromDevice, code: 'door_open' },
    alert: { ...fromDevice, code: 'panic', severity: 'critical' },
    webhook: {
      tenant,
      eventId: 'cmd-1:completed',
      eventType: 'command.completed',
      url: 'http://127.0.0.1:9/webhooks/iot/v1/command/confirm',
      payload: { identified: true, imei: '350612345678901', metadata: { job_id: '123' } },
      createdAt: at,
    },
  },
  [PROTO.STATUS]: {
    heartbeat: { ...fromDevice, seq: 1 },
    state: { ...fromDevice, attributes: { rssi: -71 } },
    presence: { tenant, deviceId, state: 'online', epoch: 12, edgeId, transport: 'tcp', at },
  },
  [PROTO.COMMAND]: {
    ack: { tenant, deviceId, commandId, receivedAt: at },
    result: { tenant, deviceId, commandId, ok: false, error: 'unsupported', receivedAt: at },
    reply: { tenant, deviceId, text: 'RTC:2024/1/1 0:0 Init:…', receivedAt: at },
    state: {
      tenant,
      deviceId,
      commandId,
      state: 'completed',
      at,
      attempt: 1,
      name: 'codec12',
      command: 'setdigout 1?',
      response: 'DOUT1:1',
      // The caller's metadata is any JSON, nested included, and comes back untouched.
      metadata: { job_id: '123', action: 'START', steps: [1, { nested: true }] },
    },
    dispatch: { tenant, deviceId, commandId, reason: 'online' },
  },
  [PROTO.LOG]: {
    entry: {
      ...fromDevice,
      entries: [{ at, level: 'info', message: 'boot', fields: { reason: 'watchdog' } }],
    },
    'upload-ready': { ...fromDevice, logId: 'l1', sizeBytes: 0 },
  },
};

function registryEntries(table: object): [number, string][] {
  return Object.entries(table).flatMap(([proto, byType]) =>
    Object.keys(byType as object).map((typ) => [Number(proto), typ] as [number, string]),
  );
}

function errorOf(run: () => unknown): { code: ProtocolErrorCode; path: string | undefined; message: string } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return { code: error.code, path: error.path, message: error.message };
  }
  throw new Error('expected a ProtocolError');
}

describe('device bodies', () => {
  it.each(registryEntries(DEVICE_BODY_SCHEMAS))('proto 0x%s %s round-trips through a frame', (proto, typ) => {
    const sample = DEVICE_SAMPLES[proto]?.[typ];
    expect(sample, 'every registry entry needs a sample').toBeDefined();
    const bytes = encodeDeviceMessage(proto as never, typ as never, sample as never, { sid: 's-1' });
    expect(decodeDeviceBody(decodeProtoMsg(bytes))).toEqual({ proto, typ, body: sample });
  });

  it('sends ping/pong without a body, exactly like Mender', () => {
    const bytes = encodeDeviceMessage(PROTO.CONTROL, MSG_TYPE.CONTROL.PING, {});
    expect(decodeProtoMsg(bytes)).toEqual({ hdr: { proto: PROTO.CONTROL, typ: 'ping' } });
  });

  it('tolerates unknown keys in Mender control bodies but not in fleetwire bodies', () => {
    const accept = {
      hdr: { proto: PROTO.CONTROL, typ: 'accept' },
      body: encodeMsgpack({ version: 1, protocols: [1], x: 1 }),
    };
    expect(decodeDeviceBody(accept).body).toMatchObject({ version: 1 });
    const ack = { hdr: { proto: PROTO.COMMAND, typ: 'ack' }, body: encodeMsgpack({ commandId, x: 1 }) };
    expect(errorOf(() => decodeDeviceBody(ack))).toMatchObject({ code: 'INVALID_PAYLOAD', path: 'body.x' });
  });

  it('names the offending path on invalid payloads', () => {
    const bad = { records: [{ deviceTime: at }, { deviceTime: -5 }] };
    const msg = { hdr: { proto: PROTO.TELEMETRY, typ: 'record' }, body: encodeMsgpack(bad) };
    expect(errorOf(() => decodeBody(msg, TelemetryRecordBody))).toMatchObject({
      code: 'INVALID_PAYLOAD',
      path: 'body.records.1.deviceTime',
    });
    const badIo = { records: [{ deviceTime: at, io: { ignition: 1 } }] };
    expect(
      errorOf(() => decodeBody({ ...msg, body: encodeMsgpack(badIo) }, TelemetryRecordBody)),
    ).toMatchObject({
      code: 'INVALID_PAYLOAD',
      path: 'body.records.0.io.ignition',
    });
  });

  it('requires the body to be one msgpack map', () => {
    const header = { proto: PROTO.TELEMETRY, typ: 'record' };
    expect(
      errorOf(() => decodeBody({ hdr: header, body: encodeMsgpack([1]) }, TelemetryRecordBody)),
    ).toMatchObject({
      code: 'NOT_A_MAP',
      path: 'body',
    });
    const trailing = new Uint8Array([...encodeMsgpack({ records: [] }), 0]);
    expect(errorOf(() => decodeBody({ hdr: header, body: trailing }, TelemetryRecordBody)).code).toBe(
      'TRAILING_BYTES',
    );
    expect(errorOf(() => decodeBody({ hdr: header }, TelemetryRecordBody))).toMatchObject({
      code: 'INVALID_PAYLOAD',
      path: 'body.records',
    });
  });

  it('reports unregistered proto/typ pairs', () => {
    const update = encodeProtoMsg({
      hdr: { proto: PROTO.UPDATE, typ: 'offer' },
      body: encodeMsgpack({ v: 1 }),
    });
    expect(errorOf(() => decodeDeviceBody(decodeProtoMsg(update))).code).toBe('UNKNOWN_MESSAGE_TYPE');
    expect(errorOf(() => decodeDeviceBody({ hdr: { proto: PROTO.SHELL, typ: 'shell' } })).code).toBe(
      'UNKNOWN_MESSAGE_TYPE',
    );
  });

  it('validates before encoding', () => {
    const bad = { commandId: 'has space', name: 'reboot' };
    expect(errorOf(() => encodeDeviceMessage(PROTO.COMMAND, 'request', bad as never))).toMatchObject({
      code: 'INVALID_PAYLOAD',
      path: 'body.commandId',
    });
  });

  it('never throws anything but ProtocolError for random bodies', () => {
    const entries = registryEntries(DEVICE_BODY_SCHEMAS);
    fc.assert(
      fc.property(fc.constantFrom(...entries), fc.uint8Array({ maxLength: 120 }), ([proto, typ], body) => {
        try {
          decodeDeviceBody({ hdr: { proto, typ }, body });
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('bus messages', () => {
  it.each(registryEntries(BUS_PAYLOAD_SCHEMAS))('proto 0x%s %s round-trips', (proto, typ) => {
    const sample = BUS_SAMPLES[proto]?.[typ];
    expect(sample, 'every registry entry needs a sample').toBeDefined();
    const bytes = encodeBusMessage(proto as never, typ as never, sample as never, { msgid: 'm-1' });
    expect(decodeAnyBusMessage(bytes)).toEqual({ proto, typ, props: { msgid: 'm-1' }, payload: sample });
  });

  it('is a ProtoMsg whose body is the msgpack payload map', () => {
    const payload = BUS_SAMPLES[PROTO.COMMAND]!.state as CommandStateChange;
    const bytes = encodeBusMessage(PROTO.COMMAND, 'state', payload);
    const msg = decodeProtoMsg(bytes);
    expect(msg.hdr).toEqual({ proto: PROTO.COMMAND, typ: 'state' });
    expect(decodeMsgpack(msg.body!)).toEqual(payload);
    expect(toHex(msg.body!)).toBe(toHex(encodePayload(BUS_PAYLOAD_SCHEMAS[PROTO.COMMAND].state, payload)));
  });

  it('decodes with an explicit schema and types the payload', () => {
    const payload = BUS_SAMPLES[PROTO.TELEMETRY]!.record as BusPayload<typeof PROTO.TELEMETRY, 'record'>;
    const decoded = decodeBusMessage(
      encodeBusMessage(PROTO.TELEMETRY, 'record', payload),
      BUS_PAYLOAD_SCHEMAS[0x0100].record,
    );
    const records: TelemetryMessage['records'] = decoded.payload.records;
    expect(records[0]?.position?.angle).toBe(359);
  });

  it('refuses payloads that do not match and unknown message types', () => {
    const bad = { ...BUS_SAMPLES[PROTO.STATUS]!.presence, state: 'sleeping' };
    expect(errorOf(() => encodeBusMessage(PROTO.STATUS, 'presence', bad as never))).toMatchObject({
      code: 'INVALID_PAYLOAD',
      path: 'body.state',
    });
    expect(errorOf(() => encodeBusMessage(PROTO.STATUS, 'nope' as never, {} as never)).code).toBe(
      'UNKNOWN_MESSAGE_TYPE',
    );
    const unregistered = encodeProtoMsg({ hdr: { proto: PROTO.COMMAND, typ: 'request' } });
    expect(errorOf(() => decodeAnyBusMessage(unregistered)).code).toBe('UNKNOWN_MESSAGE_TYPE');
  });

  it('maps every up kind to a proto with bus payloads', () => {
    for (const proto of Object.values(UP_KIND_PROTO)) expect(BUS_PAYLOAD_SCHEMAS[proto]).toBeDefined();
  });
});
