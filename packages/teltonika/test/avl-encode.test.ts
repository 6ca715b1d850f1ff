import { describe, expect, it } from 'vitest';
import { decodeAvlPacket } from '../src/avl-decode.ts';
import { encodeAvlBody, encodeAvlPacket, encodeRecordCountAck } from '../src/avl-encode.ts';
import type { AvlRecord, IoValue } from '../src/avl-types.ts';
import type { AvlCodecId } from '../src/codec-ids.ts';
import * as ex from './fixtures.ts';
import { bin, expectCode, hexOf } from './helpers.ts';

const FMB920_RECORD: AvlRecord = {
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
};

const BASE: AvlRecord = {
  timestamp: 1560161086000,
  priority: 0,
  longitude: 0,
  latitude: 0,
  altitude: 0,
  angle: 0,
  satellites: 0,
  speed: 0,
  eventIoId: 0,
  io: [],
};

describe('encodeAvlPacket re-creates the published frames byte for byte', () => {
  it('from a hand-written record (FMB920 capture, negative longitude)', () => {
    expect(hexOf(encodeAvlPacket(0x08, [FMB920_RECORD]))).toBe(ex.CODEC8_FMB920_CAPTURE.toLowerCase());
  });

  it.each([
    ['Codec 8 wiki 1', ex.CODEC8_WIKI_1],
    ['Codec 8 wiki 2', ex.CODEC8_WIKI_2],
    ['Codec 8 wiki 3', ex.CODEC8_WIKI_3_TWO_RECORDS],
    ['Codec 8 FMB920 capture', ex.CODEC8_FMB920_CAPTURE],
    ['Codec 8E wiki', ex.CODEC8E_WIKI],
    ['Codec 16 wiki', ex.CODEC16_WIKI],
  ])('from the decoded %s', (_name, frameHex) => {
    const packet = decodeAvlPacket(bin(frameHex));
    expect(hexOf(encodeAvlPacket(packet.codec, packet.records))).toBe(frameHex.toLowerCase());
  });

  it('the UDP example body (no envelope)', () => {
    const body = bin(ex.CODEC8_UDP_WIKI).subarray(ex.CODEC8_UDP_BODY_OFFSET);
    const record: AvlRecord = {
      ...BASE,
      timestamp: 1560407006000,
      priority: 1,
      eventIoId: 1,
      io: [
        { id: 21, width: 1, value: 3 },
        { id: 1, width: 1, value: 1 },
        { id: 66, width: 2, value: 23996 },
      ],
    };
    expect(hexOf(encodeAvlBody(0x08, [record]))).toBe(hexOf(body));
  });
});

describe('encodeRecordCountAck', () => {
  it.each([
    [1, '00000001'],
    [2, '00000002'],
    [0, '00000000'],
    [255, '000000ff'],
  ])('encodes %i as %s', (count, hex) => {
    expect(hexOf(encodeRecordCountAck(count))).toBe(hex);
  });

  it.each([-1, 1.5, 2 ** 32, Number.NaN])('rejects %d', (count) => {
    expectCode(() => encodeRecordCountAck(count), 'NOT_ENCODABLE');
  });
});

describe('encodeAvlPacket respects per-codec limits', () => {
  const withIo = (...io: IoValue[]): AvlRecord => ({ ...BASE, io });
  const nx: IoValue = { id: 385, width: 'x', value: Uint8Array.of(1, 2, 3) };

  it.each<[string, AvlCodecId, AvlRecord[], string]>([
    ['Codec 8 IO id above 255', 0x08, [withIo({ id: 385, width: 1, value: 1 })], 'records[0].io.id'],
    ['Codec 8 event id above 255', 0x08, [{ ...BASE, eventIoId: 256 }], 'records[0].eventIoId'],
    ['Codec 8 NX element', 0x08, [withIo(nx)], 'records[0].io'],
    ['Codec 16 NX element', 0x10, [{ ...withIo(nx), generationType: 5 }], 'records[0].io'],
    ['Codec 16 without generation type', 0x10, [BASE], 'records[0].generationType'],
    ['Codec 8 with a generation type', 0x08, [{ ...BASE, generationType: 5 }], 'records[0].generationType'],
    ['Codec 8E with a generation type', 0x8e, [{ ...BASE, generationType: 5 }], 'records[0].generationType'],
    [
      'Codec 16 IO id above 65535',
      0x10,
      [{ ...withIo({ id: 65536, width: 1, value: 0 }), generationType: 0 }],
      'records[0].io.id',
    ],
    ['more than 255 records', 0x8e, Array.from({ length: 256 }, () => BASE), 'number of records'],
    ['1-byte value 256', 0x8e, [withIo({ id: 1, width: 1, value: 256 })], 'records[0].io[id 1].value'],
    ['2-byte value -1', 0x8e, [withIo({ id: 1, width: 2, value: -1 })], 'records[0].io[id 1].value'],
    ['4-byte value 2^32', 0x8e, [withIo({ id: 1, width: 4, value: 2 ** 32 })], 'records[0].io[id 1].value'],
    ['8-byte value 2^64', 0x8e, [withIo({ id: 1, width: 8, value: 2n ** 64n })], 'records[0].io[id 1].value'],
    ['longitude beyond int32', 0x08, [{ ...BASE, longitude: 215 }], 'records[0].longitude'],
    ['latitude NaN', 0x08, [{ ...BASE, latitude: Number.NaN }], 'records[0].latitude'],
    ['altitude beyond int16', 0x08, [{ ...BASE, altitude: 40000 }], 'records[0].altitude'],
    ['negative timestamp', 0x08, [{ ...BASE, timestamp: -1 }], 'records[0].timestamp'],
    ['fractional timestamp', 0x08, [{ ...BASE, timestamp: 1.5 }], 'records[0].timestamp'],
  ])('rejects %s as NOT_ENCODABLE', (_name, codec, records, field) => {
    const error = expectCode(() => encodeAvlPacket(codec, records), 'NOT_ENCODABLE');
    expect(error.field).toBe(field);
  });

  it('rejects priority 3 and malformed elements from untyped callers', () => {
    const badPriority = { ...BASE, priority: 3 } as unknown as AvlRecord;
    expectCode(() => encodeAvlPacket(0x08, [badPriority]), 'NOT_ENCODABLE');
    const badWidth = withIo({ id: 1, width: 3, value: 1 } as unknown as IoValue);
    expectCode(() => encodeAvlPacket(0x08, [badWidth]), 'NOT_ENCODABLE');
    const numberAs8 = withIo({ id: 1, width: 8, value: 1 } as unknown as IoValue);
    expectCode(() => encodeAvlPacket(0x08, [numberAs8]), 'NOT_ENCODABLE');
    const nxNotBytes = withIo({ id: 1, width: 'x', value: 'ab' } as unknown as IoValue);
    expectCode(() => encodeAvlPacket(0x8e, [nxNotBytes]), 'NOT_ENCODABLE');
  });

  it('rejects a codec that carries no records', () => {
    expectCode(() => encodeAvlPacket(0x0c as AvlCodecId, [BASE]), 'UNKNOWN_CODEC');
  });

  it('encodes Codec 8E NX elements and AVL ids above 255', () => {
    const record = withIo(
      { id: 385, width: 'x', value: Uint8Array.of(0xde, 0xad) },
      { id: 300, width: 1, value: 7 },
    );
    const frame = encodeAvlPacket(0x8e, [record]);
    // Wire order is by group, so the 1-byte element comes first after decoding.
    expect(decodeAvlPacket(frame).records[0]!.io).toEqual([
      { id: 300, width: 1, value: 7 },
      { id: 385, width: 'x', value: Uint8Array.of(0xde, 0xad) },
    ]);
    expect(hexOf(frame)).toContain('0001' + '0181' + '0002' + 'dead' + '01');
  });
});
