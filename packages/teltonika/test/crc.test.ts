import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc16 } from '../src/crc.ts';
import { unwrapDataFrame } from '../src/packet.ts';
import * as ex from './fixtures.ts';
import { bin } from './helpers.ts';

/** The bit-by-bit definition from the reference, to check the table-driven implementation. */
function crc16Bitwise(data: Uint8Array, init = 0): number {
  let crc = init;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
    }
  }
  return crc;
}

/** CRC over codec … quantity 2, i.e. the frame minus 8 header bytes and 4 CRC bytes. */
function bodyCrc(frameHex: string): number {
  const frame = bin(frameHex);
  return crc16(frame.subarray(8, frame.length - 4));
}

describe('crc16 (CRC-16/IBM)', () => {
  it('has the catalogue check value 0xBB3D for "123456789"', () => {
    expect(crc16(new TextEncoder().encode('123456789'))).toBe(0xbb3d);
  });

  it('is 0 for no bytes (init 0, no final xor)', () => {
    expect(crc16(new Uint8Array())).toBe(0);
  });

  it.each([
    ['Codec 8 wiki 1', ex.CODEC8_WIKI_1, 0xc7cf],
    ['Codec 8 wiki 2', ex.CODEC8_WIKI_2, 0xf22a],
    ['Codec 8 wiki 3', ex.CODEC8_WIKI_3_TWO_RECORDS, 0x252c],
    ['Codec 8 FMB920 capture', ex.CODEC8_FMB920_CAPTURE, 0xbeb3],
    ['Codec 8E wiki', ex.CODEC8E_WIKI, 0x2994],
    ['Codec 16 wiki', ex.CODEC16_WIKI, 0x5fb3],
    ['Codec 12 getinfo', ex.CODEC12_GETINFO, 0x4312],
    ['Codec 12 setdigout 11', ex.CODEC12_SETDIGOUT_11, 0xbed5],
    ['Codec 12 raw bytes', ex.CODEC12_RAW_BYTES, 0xda8b],
    ['Codec 12 #GET DATAORDER', ex.CODEC12_GET_DATAORDER, 0x4990],
    ['Codec 12 getinfo response', ex.CODEC12_GETINFO_RESPONSE, 0xc78f],
    ['Codec 13 hello', ex.CODEC13_HELLO, 0x3548],
    ['Codec 14 getver', ex.CODEC14_GETVER, 0xd2c1],
    ['Codec 14 getver ACK', ex.CODEC14_GETVER_ACK, 0x7aae],
    ['Codec 14 nACK (corrected)', ex.CODEC14_NACK_CORRECTED, 0x635e],
    ['Codec 15 wiki', ex.CODEC15_WIKI, 0x93d6],
  ])('matches the published CRC of %s', (_name, frameHex, expected) => {
    expect(bodyCrc(frameHex)).toBe(expected);
    expect(() => unwrapDataFrame(bin(frameHex))).not.toThrow();
  });

  it('shows the published Codec 14 nACK CRC 0x32AC is wrong (0x635E is right)', () => {
    expect(bodyCrc(ex.CODEC14_NACK_PUBLISHED)).toBe(0x635e);
  });

  it('differs from the broken "init 0xA001" variant some simulators use', () => {
    const frame = bin(ex.CODEC8_WIKI_1);
    expect(crc16Bitwise(frame.subarray(8, frame.length - 4), 0xa001)).not.toBe(0xc7cf);
  });

  it('agrees with the bitwise definition on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        expect(crc16(data)).toBe(crc16Bitwise(data));
      }),
      { numRuns: 500 },
    );
  });
});
