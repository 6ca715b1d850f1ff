import { describe, expect, it } from 'vitest';
import { decodeDataFrame } from '../src/data-frame.ts';
import * as ex from './fixtures.ts';
import { bin, expectCode, expectSaneRecord } from './helpers.ts';

describe('decodeDataFrame', () => {
  it.each([
    ['Codec 8 wiki 1', ex.CODEC8_WIKI_1, 0x08, 1],
    ['Codec 8 wiki 2', ex.CODEC8_WIKI_2, 0x08, 1],
    ['Codec 8 wiki 3', ex.CODEC8_WIKI_3_TWO_RECORDS, 0x08, 2],
    ['Codec 8 FMB920 capture', ex.CODEC8_FMB920_CAPTURE, 0x08, 1],
    ['Codec 8E wiki', ex.CODEC8E_WIKI, 0x8e, 1],
    ['Codec 16 wiki', ex.CODEC16_WIKI, 0x10, 2],
  ])('returns an acknowledgeable avl packet for %s', (_name, frameHex, codec, ack) => {
    const frame = decodeDataFrame(bin(frameHex));
    expect(frame.kind).toBe('avl');
    if (frame.kind !== 'avl') return;
    expect(frame.codec).toBe(codec);
    expect(frame.ack).toBe(ack);
    expect(frame.records).toHaveLength(ack);
    frame.records.forEach(expectSaneRecord);
  });

  it.each([
    ['Codec 12 getinfo', ex.CODEC12_GETINFO, { kind: 'codec12', type: 'command', text: 'getinfo' }],
    [
      'Codec 12 getinfo response',
      ex.CODEC12_GETINFO_RESPONSE,
      { kind: 'codec12', type: 'response', text: ex.CODEC12_GETINFO_RESPONSE_TEXT },
    ],
    [
      'Codec 13 hello',
      ex.CODEC13_HELLO,
      { kind: 'codec13', type: 'response', timestamp: 1692938881000, text: 'hello lets test\r\n' },
    ],
    [
      'Codec 14 getver',
      ex.CODEC14_GETVER,
      { kind: 'codec14', type: 'command', imei: '352093081452251', text: 'getver' },
    ],
    [
      'Codec 14 getver ACK',
      ex.CODEC14_GETVER_ACK,
      { kind: 'codec14', type: 'response', imei: '352093081452251', text: ex.CODEC14_GETVER_ACK_TEXT },
    ],
    [
      'Codec 14 nACK',
      ex.CODEC14_NACK_CORRECTED,
      { kind: 'codec14', type: 'nack', imei: '352093081452468', text: '' },
    ],
  ])('returns a message that must not be acknowledged for %s', (_name, frameHex, expected) => {
    const frame = decodeDataFrame(bin(frameHex));
    expect(frame).toMatchObject(expected);
    expect(frame).not.toHaveProperty('ack');
  });

  it('rejects Codec 15 (valid CRC, unsupported) as UNKNOWN_CODEC', () => {
    const error = expectCode(() => decodeDataFrame(bin(ex.CODEC15_WIKI)), 'UNKNOWN_CODEC');
    expect(error.actual).toBe(0x0f);
  });

  it('rejects the published Codec 14 nACK for its CRC', () => {
    expectCode(() => decodeDataFrame(bin(ex.CODEC14_NACK_PUBLISHED)), 'BAD_CRC');
  });

  it('rejects a login frame handed to it by mistake', () => {
    expectCode(() => decodeDataFrame(bin(ex.LOGIN_356307042441013)), 'BAD_PREAMBLE');
  });
});
