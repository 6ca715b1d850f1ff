import {
  type DeviceId,
  decodeBusMessage,
  encodeBusMessage,
  MSG_TYPE,
  PROTO,
  TelemetryMessage,
  type TelemetryRecord,
  type TenantId,
} from '@fleetwire/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CopyWriter, encodeTelemetryCopy } from '../src/adapters/copy-binary.ts';
import { copyDirect, type DirectMessage } from '../src/adapters/direct-copy.ts';
import { toStoredRecords } from '../src/adapters/telemetry-writer.ts';

/** Today's path: generic decode + schema check, StoredRecord objects, the object encoder. */
function reference(bytes: Uint8Array): { copy: Buffer; msg: TelemetryMessage } | 'refused' {
  try {
    const msg = decodeBusMessage(bytes, TelemetryMessage).payload;
    return { copy: encodeTelemetryCopy(toStoredRecords(msg)), msg };
  } catch {
    return 'refused';
  }
}

function direct(bytes: Uint8Array): { copy: Buffer; out: DirectMessage } | undefined {
  const w = new CopyWriter(16);
  w.header();
  const out = copyDirect(bytes, w);
  if (out === undefined) return undefined;
  w.trailer();
  return { copy: Buffer.from(w.done()), out };
}

/** The direct path either hands the message back or agrees with today's path, byte for byte. */
function agrees(bytes: Uint8Array): boolean {
  const mine = direct(bytes);
  if (mine === undefined) return false;
  const ref = reference(bytes);
  expect(ref).not.toBe('refused');
  if (ref === 'refused') return true;
  expect(mine.copy.equals(ref.copy)).toBe(true);
  // What latest-state and the coalescer read: every StoredRecord field but io, and the raw speed.
  const stored = toStoredRecords(ref.msg);
  expect(mine.out.records).toEqual(stored.map((r) => ({ ...r, io: {} })));
  expect(mine.out.speeds).toEqual(ref.msg.records.map((r) => r.position?.speed));
  return true;
}

const encode = (msg: TelemetryMessage) => encodeBusMessage(PROTO.TELEMETRY, MSG_TYPE.TELEMETRY.RECORD, msg);

const unicode = fc.string({ unit: 'binary', maxLength: 40 });
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  unicode,
  fc.constantFrom('"', '\\', '\n\t\u0001', '\u2028'),
);
const anyNumber = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 60, 1e300, -0, 0.1, 4294967296),
);
const ioKey = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 99_999 }).map(String), weight: 30 },
  { arbitrary: fc.constantFrom('007', '0'), weight: 1 },
);
const attributeName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,63}$/);
const epochMs = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  fc.constantFrom(0, 8_640_000_000_000_000),
);

const position = fc.record(
  {
    lat: fc.double({ min: -90, max: 90, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
    alt: fc.oneof(
      { arbitrary: fc.double({ min: -500, max: 9000, noNaN: true }), weight: 10 },
      { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 1 },
    ),
    angle: fc.double({ min: 0, max: 360, noNaN: true }),
    satellites: fc.integer({ min: 0, max: 255 }),
    speed: fc.oneof(
      { arbitrary: fc.double({ min: 0, max: 300, noNaN: true }), weight: 10 },
      { arbitrary: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }), weight: 1 },
    ),
  },
  { requiredKeys: ['lat', 'lon'] },
);

const record: fc.Arbitrary<TelemetryRecord> = fc
  .tuple(
    fc.record(
      {
        deviceTime: epochMs,
        receivedAt: epochMs,
        priority: fc.integer({ min: 0, max: 255 }),
        position,
        eventIoId: fc.integer({ min: 0, max: 65535 }),
        io: fc.dictionary(ioKey, fc.oneof(anyNumber, text), { maxKeys: 12 }),
        attributes: fc.dictionary(attributeName, fc.oneof(anyNumber, fc.boolean(), text), { maxKeys: 8 }),
      },
      { requiredKeys: ['deviceTime', 'receivedAt'] },
    ),
    fc.nat(),
  )
  // Other encoders may write the record's keys in another order.
  .map(([r, seed]) => Object.fromEntries(rotate(Object.entries(r), seed)) as TelemetryRecord);

function rotate<T>(items: T[], by: number): T[] {
  const k = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

const message: fc.Arbitrary<TelemetryMessage> = fc.record(
  {
    tenant: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).map((s) => s as TenantId),
    deviceId: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).map((s) => s as DeviceId),
    source: fc.constantFrom('teltonika' as const, 'ws' as const),
    codec: fc.integer({ min: 0, max: 255 }),
    records: fc.array(record, { minLength: 1, maxLength: 4 }),
  },
  { requiredKeys: ['tenant', 'deviceId', 'source', 'records'] },
);

const base: TelemetryMessage = {
  tenant: 'default' as TenantId,
  deviceId: '359000000000001' as DeviceId,
  source: 'teltonika',
  codec: 0x8e,
  records: [
    {
      deviceTime: 1_763_800_000_000,
      receivedAt: 1_763_800_000_123,
      priority: 1,
      eventIoId: 0,
      io: { '1': 1, '21': 4, '240': 0, '78': 'ff00aa' },
      attributes: { ignition: true, externalVoltageV: 12.61 },
      position: { lat: -33.8688123, lon: -70.6692655, alt: 520.4, angle: 359.6, satellites: 9, speed: 47.5 },
    },
  ],
};

describe('copyDirect: bus message bytes straight to COPY rows', () => {
  it('writes what today’s path writes for generated messages, and takes most of them', () => {
    let taken = 0;
    let runs = 0;
    fc.assert(
      fc.property(message, (msg) => {
        runs++;
        const bytes = encode(msg);
        if (agrees(bytes)) taken++;
        else if (reference(bytes) === 'refused') runs--; // declined rightly: not a miss
      }),
      { numRuns: 400 },
    );
    // Generated values the direct path declines (e.g. altitudes beyond int4) are a minority.
    expect(taken).toBeGreaterThan(runs * 0.5);
  });

  it('agrees on the edge cases, taking the direct path for each', () => {
    const [r] = base.records;
    const cases: TelemetryMessage[] = [
      base,
      { ...base, codec: undefined, records: [{ deviceTime: 0, receivedAt: 1 }] },
      { ...base, records: [{ ...r!, position: undefined, attributes: { invalidPosition: true } }] },
      { ...base, records: [{ ...r!, io: { '11': '18446744073709551615', '12': 2 ** 53 - 1, '13': -12.5 } }] },
      { ...base, records: [{ ...r!, attributes: { name: 'Zürich "Ω" \\ 🚚\n', big: 1e300, n: -0 } }] },
      { ...base, source: 'ws', records: Array.from({ length: 10 }, (_, i) => ({ ...r!, deviceTime: i })) },
    ];
    for (const msg of cases) {
      const clean = JSON.parse(JSON.stringify(msg)) as TelemetryMessage;
      expect(agrees(encode(clean))).toBe(true);
    }
  });

  it('hands back what it cannot vouch for, leaving the writer as it was', () => {
    const [r] = base.records;
    const declined: TelemetryMessage[] = [
      { ...base, records: [{ ...r!, io: { '007': 1 } }] }, // not an array index: another key order
      { ...base, records: [{ ...r!, position: { ...r!.position!, alt: 1e12 } }] }, // beyond int4
    ];
    for (const msg of declined) {
      const w = new CopyWriter(16);
      w.header();
      const before = Buffer.from(w.done());
      expect(copyDirect(encode(msg), w)).toBeUndefined();
      expect(Buffer.from(w.done()).equals(before)).toBe(true);
    }
  });

  it('never accepts a corrupted message that today’s path would refuse or read differently', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 0, max: 255 }), (msg, where, byte) => {
        const bytes = encode(msg).slice();
        bytes[where % bytes.length] = byte;
        agrees(bytes);
      }),
      { numRuns: 600 },
    );
  });

  it('never accepts a truncated or extended message', () => {
    const bytes = encode(base);
    for (let n = 0; n < bytes.length; n++) expect(direct(bytes.subarray(0, n))).toBeUndefined();
    expect(direct(Uint8Array.from([...bytes, 0xc0]))).toBeUndefined();
  });
});
