import {
  type DeviceId,
  decodeBusMessage,
  encodeBusMessage,
  MSG_TYPE,
  PROTO,
  TelemetryMessage,
  type TenantId,
} from '@fleetwire/protocol';
import {
  type AvlCodecId,
  type AvlPacket,
  type AvlRecord,
  IO_ELEMENTS,
  type IoValue,
} from '@fleetwire/teltonika';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeDirect, encodeTelemetryMessage, toTelemetryMessage } from '../src/telemetry-message.ts';

const tenant = 'default' as TenantId;
const deviceId = '359000000000001' as DeviceId;
const receivedAt = 1_763_800_000_123;

/** The reference path: build the message object, validate it, encode it generically. */
function reference(packet: AvlPacket, tenantId = tenant, device = deviceId): Uint8Array {
  return encodeBusMessage(
    PROTO.TELEMETRY,
    MSG_TYPE.TELEMETRY.RECORD,
    toTelemetryMessage(tenantId, device, packet, receivedAt),
  );
}

function outcome(encode: () => Uint8Array): Uint8Array | string {
  try {
    return encode();
  } catch (err) {
    return `throws ${(err as Error).name}`;
  }
}

/** Named ids half of the time, so attributes (and their width rules) are exercised. */
const NAMED_IDS = Object.keys(IO_ELEMENTS).map(Number);
const ioId = fc.oneof(fc.constantFrom(...NAMED_IDS), fc.integer({ min: 0, max: 0xffff }));

const ioValue: fc.Arbitrary<IoValue> = fc.oneof(
  fc
    .tuple(ioId, fc.constantFrom(1 as const, 2 as const, 4 as const))
    .chain(([id, width]) =>
      fc.integer({ min: 0, max: 2 ** (8 * width) - 1 }).map((value): IoValue => ({ id, width, value })),
    ),
  fc
    .tuple(ioId, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))
    .map(([id, value]): IoValue => ({ id, width: 8, value })),
  fc
    .tuple(ioId, fc.uint8Array({ maxLength: 600 }))
    .map(([id, value]): IoValue => ({ id, width: 'x', value })),
);

const coordinate = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((raw) => raw / 1e7);

const record: fc.Arbitrary<AvlRecord> = fc
  .record({
    timestamp: fc.oneof(
      fc.integer({ min: 1_500_000_000_000, max: 2_000_000_000_000 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    ),
    priority: fc.constantFrom(0 as const, 1 as const, 2 as const),
    longitude: coordinate,
    latitude: coordinate,
    altitude: fc.integer({ min: -0x8000, max: 0x7fff }),
    angle: fc.oneof(fc.integer({ min: 0, max: 360 }), fc.integer({ min: 0, max: 0xffff })),
    satellites: fc.integer({ min: 0, max: 0xff }),
    speed: fc.integer({ min: 0, max: 0xffff }),
    eventIoId: fc.integer({ min: 0, max: 0xffff }),
    io: fc.array(ioValue, { maxLength: 12 }),
    generationType: fc.option(fc.integer({ min: 0, max: 0xff }), { nil: undefined }),
  })
  .map(({ generationType, ...r }) => (generationType === undefined ? r : { ...r, generationType }));

const packet: fc.Arbitrary<AvlPacket> = fc
  .tuple(fc.constantFrom<AvlCodecId>(0x08, 0x8e, 0x10), fc.array(record, { minLength: 0, maxLength: 5 }))
  .map(([codec, records]) => ({ kind: 'avl', codec, records, ack: records.length }));

/** What the benchmark's trackers send: 8 FMB IO elements per record, a valid fix. */
function fmbPacket(count: number): AvlPacket {
  const io: IoValue[] = [
    { id: 239, width: 1, value: 1 },
    { id: 240, width: 1, value: 0 },
    { id: 21, width: 1, value: 4 },
    { id: 69, width: 1, value: 1 },
    { id: 24, width: 2, value: 57 },
    { id: 66, width: 2, value: 12_840 },
    { id: 67, width: 2, value: 4_012 },
    { id: 16, width: 4, value: 1_203_455 },
    { id: 78, width: 8, value: 0x0102030405060708n },
  ];
  const records = Array.from({ length: count }, (_, i) => ({
    timestamp: 1_763_800_000_000 + i,
    priority: 1 as const,
    longitude: 25.2791234,
    latitude: 54.6871555,
    altitude: 120,
    angle: 90,
    satellites: 11,
    speed: 57,
    eventIoId: 240,
    io,
  }));
  return { kind: 'avl', codec: 0x8e, records, ack: count };
}

describe('encodeTelemetryMessage', () => {
  it('writes the bytes of the reference path, or leaves the packet to it', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const direct = outcome(() => encodeDirect(tenant, deviceId, p, receivedAt) ?? reference(p));
        expect(direct).toEqual(outcome(() => reference(p)));
        expect(outcome(() => encodeTelemetryMessage(tenant, deviceId, p, receivedAt))).toEqual(
          outcome(() => reference(p)),
        );
      }),
      { numRuns: 500 },
    );
  }, 60_000);

  it('takes the direct path for ordinary tracker packets, and they decode as a valid TelemetryMessage', () => {
    for (const count of [1, 10, 255]) {
      const p = fmbPacket(count);
      const direct = encodeDirect(tenant, deviceId, p, receivedAt);
      expect(direct).toBeDefined();
      expect(direct).toEqual(reference(p));
      // Ids the caller has checked (edge-tcp, once per connection): the same bytes.
      expect(encodeDirect(tenant, deviceId, p, receivedAt, true)).toEqual(direct);
      const { payload } = decodeBusMessage(direct!, TelemetryMessage);
      expect(payload.records).toHaveLength(count);
      expect(payload.records[0]!.attributes).toMatchObject({
        ignition: true,
        movement: false,
        iButton: '0102030405060708',
      });
      expect(Object.keys(payload.records[0]!.io!)).toEqual([
        '16',
        '21',
        '24',
        '66',
        '67',
        '69',
        '78',
        '239',
        '240',
      ]);
    }
  });

  it('leaves to the reference path what it cannot vouch for', () => {
    const p = fmbPacket(1);
    const repeated = {
      ...p,
      records: [{ ...p.records[0]!, io: [...p.records[0]!.io, { id: 21, width: 1, value: 5 } as const] }],
    };
    expect(encodeDirect(tenant, deviceId, repeated, receivedAt)).toBeUndefined();
    expect(encodeTelemetryMessage(tenant, deviceId, repeated, receivedAt)).toEqual(reference(repeated));
    const empty: AvlPacket = { ...p, records: [], ack: 0 };
    expect(encodeDirect(tenant, deviceId, empty, receivedAt)).toBeUndefined();
    expect(() => encodeTelemetryMessage(tenant, deviceId, empty, receivedAt)).toThrow();
    const badTenant = 'a.b' as TenantId;
    expect(encodeDirect(badTenant, deviceId, p, receivedAt)).toBeUndefined();
    expect(() => encodeTelemetryMessage(badTenant, deviceId, p, receivedAt)).toThrow();
  });
});
