import {
  decodeDataFrame,
  encodeAvlPacket,
  encodeCodec12,
  encodeCodec14,
  encodeRecordCountAck,
} from '@fleetwire/teltonika';
import { type ServerMessage, ServerStreamParser } from '@fleetwire/tracker-client';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../src/backoff.ts';
import { poisson, seededRandom } from '../src/random.ts';
import { RecordBuffer } from '../src/tracker/record-buffer.ts';
import { DEFAULT_CENTRE, Vehicle } from '../src/tracker/vehicle.ts';

function parseAll(chunks: Uint8Array[], expectLogin: boolean): ServerMessage[] {
  const parser = new ServerStreamParser();
  if (expectLogin) parser.expectLoginReply();
  const out: ServerMessage[] = [];
  for (const c of chunks) parser.push(Buffer.from(c), (m) => out.push(m));
  return out;
}

describe('the server → tracker stream', () => {
  const stream = Buffer.concat([
    Uint8Array.of(1),
    encodeRecordCountAck(3),
    encodeCodec12('getinfo'),
    encodeRecordCountAck(1),
    encodeCodec14('356307042441013', 'getver'),
  ]);
  const expected = [
    { kind: 'login-reply', accepted: true },
    { kind: 'ack', count: 3 },
    {
      kind: 'command',
      message: expect.objectContaining({ kind: 'codec12', text: 'getinfo', type: 'command' }),
    },
    { kind: 'ack', count: 1 },
    { kind: 'command', message: expect.objectContaining({ kind: 'codec14', text: 'getver' }) },
  ];

  it('splits login reply, record counts and commands arriving in one chunk', () => {
    expect(parseAll([stream], true)).toEqual(expected);
  });

  it('gives the same messages when every byte arrives alone', () => {
    expect(
      parseAll(
        [...stream].map((b) => Uint8Array.of(b)),
        true,
      ),
    ).toEqual(expected);
  });

  it('reads a refusal, and no login byte when none is awaited', () => {
    expect(parseAll([Uint8Array.of(0)], true)).toEqual([{ kind: 'login-reply', accepted: false }]);
    expect(parseAll([Uint8Array.of(1)], false)).toEqual([]);
  });

  it('reports a corrupt command frame and carries on', () => {
    const bad = Uint8Array.from(encodeCodec12('getver'));
    bad[bad.length - 1]! ^= 0xff;
    const out = parseAll([bad, encodeRecordCountAck(2)], false);
    expect(out[0]!.kind).toBe('garbage');
    expect(out[1]).toEqual({ kind: 'ack', count: 2 });
  });
});

describe('the record buffer', () => {
  const vehicle = new Vehicle({ centre: DEFAULT_CENTRE, radiusKm: 5, random: seededRandom('buf') });
  const record = (t: number) => {
    vehicle.step(1000);
    return vehicle.record(t);
  };

  it('builds Codec 8E packets of the oldest records that decode to the same records', () => {
    const buffer = new RecordBuffer(100);
    const records = [record(1_000), record(2_000), record(3_000)];
    for (const r of records) buffer.push(r);
    const packet = buffer.takePacket(2)!;
    expect(packet.records).toBe(2);
    const decoded = decodeDataFrame(packet.bytes);
    expect(decoded).toMatchObject({ kind: 'avl', codec: 0x8e, ack: 2 });
    if (decoded.kind !== 'avl') return;
    expect(decoded.records.map((r) => r.timestamp)).toEqual([1_000, 2_000]);
    expect(decoded.records[0]!.io).toEqual(records[0]!.io);
    expect(buffer.size).toBe(1);
    expect(decoded).toEqual(decodeDataFrame(encodeAvlPacket(0x8e, records.slice(0, 2))));
    expect(buffer.takePacket(5)!.records).toBe(1);
    expect(buffer.takePacket(5)).toBeUndefined();
  });

  it('drops the oldest records when full', () => {
    const buffer = new RecordBuffer(3);
    let dropped = 0;
    for (let i = 1; i <= 200; i++) dropped += buffer.push(record(i * 1000));
    expect(dropped).toBe(197);
    const decoded = decodeDataFrame(buffer.takePacket(10)!.bytes);
    if (decoded.kind !== 'avl') throw new Error('not avl');
    expect(decoded.records.map((r) => r.timestamp)).toEqual([198_000, 199_000, 200_000]);
  });
});

describe('backoff and faults', () => {
  it('draws full-jitter delays under an exponentially growing ceiling capped at 60 s, reset on success', () => {
    const backoff = new Backoff({ baseMs: 1_000, capMs: 60_000 }, seededRandom('jitter'));
    const ceilings = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000];
    for (const ceiling of ceilings) {
      const d = backoff.next();
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(ceiling);
    }
    backoff.reset();
    expect(backoff.next()).toBeLessThan(1_000);
    const always = new Backoff({ baseMs: 1_000, capMs: 60_000 }, () => 0.999_999);
    const delays = Array.from({ length: 12 }, () => always.next());
    expect(delays.slice(0, 3)).toEqual([999, 1999, 3999]);
    expect(Math.max(...delays)).toBe(59_999);
  });

  it('drops a connection about one tick in eight, as the seed simulator does (P(Poisson(5) <= 2))', () => {
    const random = seededRandom('faults');
    const n = 20_000;
    let hits = 0;
    for (let i = 0; i < n; i++) if (poisson(random, 5) <= 2) hits++;
    expect(hits / n).toBeGreaterThan(0.11);
    expect(hits / n).toBeLessThan(0.14);
  });
});
