import { describe, expect, it } from 'vitest';
import { decodeAvlBody, decodeAvlPacket } from '../src/avl-decode.ts';
import type { AvlPacket, AvlRecord } from '../src/avl-types.ts';
import * as ex from './fixtures.ts';
import { bin, expectSaneRecord } from './helpers.ts';

function decode(hex: string): AvlPacket {
  const packet = decodeAvlPacket(bin(hex));
  packet.records.forEach(expectSaneRecord);
  return packet;
}

/** Every wiki example record except the FMB920 capture was taken without a fix. */
const NO_FIX = { longitude: 0, latitude: 0, altitude: 0, angle: 0, satellites: 0, speed: 0 } as const;

function only(packet: AvlPacket): AvlRecord {
  expect(packet.records).toHaveLength(1);
  return packet.records[0]!;
}

describe('Codec 8', () => {
  it('decodes wiki example 1 (all four fixed-width groups)', () => {
    const packet = decode(ex.CODEC8_WIKI_1);
    expect(packet).toMatchObject({ kind: 'avl', codec: 0x08, ack: 1 });
    expect(only(packet)).toEqual({
      timestamp: 1560161086000,
      priority: 1,
      ...NO_FIX,
      eventIoId: 1,
      io: [
        { id: 21, width: 1, value: 3 },
        { id: 1, width: 1, value: 1 },
        { id: 66, width: 2, value: 24079 },
        { id: 241, width: 4, value: 24602 },
        { id: 78, width: 8, value: 0n },
      ],
    });
    expect(new Date(only(packet).timestamp).toISOString()).toBe('2019-06-10T10:04:46.000Z');
  });

  it('decodes wiki example 2', () => {
    const packet = decode(ex.CODEC8_WIKI_2);
    expect(packet.ack).toBe(1);
    expect(only(packet)).toEqual({
      timestamp: 1560161136000,
      priority: 1,
      ...NO_FIX,
      eventIoId: 1,
      io: [
        { id: 21, width: 1, value: 3 },
        { id: 1, width: 1, value: 1 },
        { id: 66, width: 2, value: 24080 },
      ],
    });
  });

  it('decodes wiki example 3 (two records, ACK 2)', () => {
    const packet = decode(ex.CODEC8_WIKI_3_TWO_RECORDS);
    expect(packet.ack).toBe(2);
    expect(packet.records).toEqual([
      { timestamp: 1560160861000, priority: 1, ...NO_FIX, eventIoId: 1, io: [{ id: 1, width: 1, value: 0 }] },
      { timestamp: 1560160879000, priority: 1, ...NO_FIX, eventIoId: 1, io: [{ id: 1, width: 1, value: 1 }] },
    ]);
    expect(new Date(packet.records[0]!.timestamp).toISOString()).toBe('2019-06-10T10:01:01.000Z');
    expect(new Date(packet.records[1]!.timestamp).toISOString()).toBe('2019-06-10T10:01:19.000Z');
  });

  it('decodes the FMB920 capture with signed coordinates', () => {
    const record = only(decode(ex.CODEC8_FMB920_CAPTURE));
    expect(record).toEqual({
      timestamp: 1719587520000,
      priority: 1,
      longitude: -3.669515,
      latitude: 40.45731,
      altitude: 725,
      angle: 0,
      satellites: 0,
      speed: 0,
      eventIoId: 239,
      io: [
        { id: 239, width: 1, value: 1 },
        { id: 240, width: 1, value: 1 },
        { id: 1, width: 1, value: 0 },
        { id: 66, width: 2, value: 12720 },
        { id: 67, width: 2, value: 4042 },
        { id: 9, width: 2, value: 43 },
      ],
    });
    expect(new Date(record.timestamp).toISOString()).toBe('2024-06-28T15:12:00.000Z');
  });

  it('decodes the AVL body inside the wiki UDP datagram (UDP transport itself is out of scope)', () => {
    const datagram = bin(ex.CODEC8_UDP_WIKI);
    const body = datagram.subarray(ex.CODEC8_UDP_BODY_OFFSET);
    const packet = decodeAvlBody(body);
    packet.records.forEach(expectSaneRecord);
    expect(packet).toMatchObject({ codec: 0x08, ack: 1 });
    expect(only(packet)).toEqual({
      timestamp: 1560407006000,
      priority: 1,
      ...NO_FIX,
      eventIoId: 1,
      io: [
        { id: 21, width: 1, value: 3 },
        { id: 1, width: 1, value: 1 },
        { id: 66, width: 2, value: 23996 },
      ],
    });
    expect(new TextDecoder().decode(datagram.subarray(8, 23))).toBe('352093086403655');
  });
});

describe('Codec 8 Extended', () => {
  it('decodes the wiki example (2-byte ids and counts, empty NX group)', () => {
    const packet = decode(ex.CODEC8E_WIKI);
    expect(packet).toMatchObject({ kind: 'avl', codec: 0x8e, ack: 1 });
    expect(only(packet)).toEqual({
      timestamp: 1560166592000,
      priority: 1,
      ...NO_FIX,
      eventIoId: 1,
      io: [
        { id: 1, width: 1, value: 1 },
        { id: 17, width: 2, value: 29 },
        { id: 16, width: 4, value: 22949000 },
        { id: 11, width: 8, value: 893700218n },
        { id: 14, width: 8, value: 500686954n },
      ],
    });
    expect(new Date(only(packet).timestamp).toISOString()).toBe('2019-06-10T11:36:32.000Z');
  });
});

describe('Codec 16', () => {
  it('decodes the wiki example (generation type, 2-byte ids, 1-byte counts)', () => {
    const packet = decode(ex.CODEC16_WIKI);
    expect(packet).toMatchObject({ kind: 'avl', codec: 0x10, ack: 2 });
    const io = (io11Value: number) => [
      { id: 1, width: 1, value: 0 },
      { id: 3, width: 1, value: 0 },
      { id: 11, width: 2, value: io11Value },
      { id: 66, width: 2, value: 22074 },
    ];
    expect(packet.records).toEqual([
      { timestamp: 1562760414000, priority: 0, ...NO_FIX, eventIoId: 11, generationType: 5, io: io(39) },
      { timestamp: 1562760415000, priority: 0, ...NO_FIX, eventIoId: 11, generationType: 5, io: io(38) },
    ]);
    expect(new Date(packet.records[0]!.timestamp).toISOString()).toBe('2019-07-10T12:06:54.000Z');
  });
});
