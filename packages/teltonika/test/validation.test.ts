import { describe, expect, it } from 'vitest';
import { decodeAvlPacket } from '../src/avl-decode.ts';
import { decodeDataFrame } from '../src/data-frame.ts';
import { unwrapDataFrame, wrapDataFrame } from '../src/packet.ts';
import * as ex from './fixtures.ts';
import { bin, expectCode } from './helpers.ts';

/** Body of a valid frame (codec … quantity 2), editable and re-wrappable with a correct CRC. */
function bodyOf(frameHex: string): Uint8Array {
  return unwrapDataFrame(bin(frameHex)).slice();
}

function rewrapped(body: Uint8Array): Uint8Array {
  return wrapDataFrame(body);
}

function withByte(bytes: Uint8Array, index: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = value;
  return copy;
}

describe('envelope validation', () => {
  it('rejects a flipped body bit as BAD_CRC, with expected and actual CRC', () => {
    const frame = bin(ex.CODEC8_WIKI_1);
    frame[20]! ^= 0x01;
    const error = expectCode(() => decodeDataFrame(frame), 'BAD_CRC');
    expect(error.actual).toBe(0xc7cf);
    expect(error.expected).not.toBe(0xc7cf);
  });

  it('rejects a CRC field whose top two bytes are not zero', () => {
    const frame = bin(ex.CODEC8_WIKI_1);
    frame[frame.length - 4] = 0x01;
    expectCode(() => decodeDataFrame(frame), 'BAD_CRC');
  });

  it('rejects a non-zero preamble', () => {
    const frame = withByte(bin(ex.CODEC8_WIKI_1), 2, 0x01);
    expectCode(() => decodeDataFrame(frame), 'BAD_PREAMBLE');
  });

  it('rejects a frame shorter than its length field as TRUNCATED', () => {
    const frame = bin(ex.CODEC8_WIKI_1);
    expectCode(() => decodeDataFrame(frame.subarray(0, frame.length - 1)), 'TRUNCATED');
    expectCode(() => decodeDataFrame(frame.subarray(0, 5)), 'TRUNCATED');
    expectCode(() => decodeDataFrame(new Uint8Array()), 'TRUNCATED');
  });

  it('rejects bytes after the CRC as LENGTH_MISMATCH', () => {
    const frame = bin(ex.CODEC8_WIKI_1 + '00');
    const error = expectCode(() => decodeDataFrame(frame), 'LENGTH_MISMATCH');
    expect(error).toMatchObject({ expected: 66, actual: 67 });
  });

  it('rejects the old inconsistent Codec 13 wiki example (length 0x17, 19 bytes present)', () => {
    expectCode(() => decodeDataFrame(bin(ex.CODEC13_OLD_INCONSISTENT)), 'TRUNCATED');
  });

  it('rejects an empty body', () => {
    expectCode(() => decodeDataFrame(wrapDataFrame(new Uint8Array())), 'TRUNCATED');
  });
});

describe('AVL body validation (CRC recomputed, so only the body rule can fail)', () => {
  it('rejects Number of Data 1 != Number of Data 2 as COUNT_MISMATCH', () => {
    const body = bodyOf(ex.CODEC8_WIKI_1);
    body[body.length - 1] = 2;
    const error = expectCode(() => decodeDataFrame(rewrapped(body)), 'COUNT_MISMATCH');
    expect(error).toMatchObject({ expected: 1, actual: 2 });
  });

  it('rejects N1 = 2 with only one record present', () => {
    const body = bodyOf(ex.CODEC8_WIKI_1);
    body[1] = 2;
    body[body.length - 1] = 2;
    expectCode(() => decodeDataFrame(rewrapped(body)), 'TRUNCATED');
  });

  it('rejects trailing bytes after Number of Data 2 as LENGTH_MISMATCH', () => {
    const body = bodyOf(ex.CODEC8_WIKI_2);
    const longer = new Uint8Array(body.length + 1);
    longer.set(body);
    const error = expectCode(() => decodeDataFrame(rewrapped(longer)), 'LENGTH_MISMATCH');
    expect(error).toMatchObject({ expected: 0, actual: 1 });
  });

  it('rejects a body one byte short as TRUNCATED', () => {
    const body = bodyOf(ex.CODEC8E_WIKI);
    expectCode(() => decodeDataFrame(rewrapped(body.subarray(0, body.length - 1))), 'TRUNCATED');
  });

  it('rejects extra bytes inside a record that shift Number of Data 2', () => {
    const body = bodyOf(ex.CODEC16_WIKI);
    const padded = new Uint8Array(body.length + 2);
    padded.set(body.subarray(0, body.length - 1));
    padded[padded.length - 1] = body[body.length - 1]!;
    expectCode(() => decodeDataFrame(rewrapped(padded)), 'LENGTH_MISMATCH');
  });

  it('rejects priority 3 as BAD_FIELD', () => {
    const body = bodyOf(ex.CODEC8_WIKI_1);
    body[2 + 8] = 3;
    const error = expectCode(() => decodeDataFrame(rewrapped(body)), 'BAD_FIELD');
    expect(error.field).toBe('priority');
  });

  it('rejects a timestamp beyond 2^53 ms as BAD_FIELD', () => {
    const body = bodyOf(ex.CODEC8_WIKI_1);
    body[2] = 0xff;
    expectCode(() => decodeDataFrame(rewrapped(body)), 'BAD_FIELD');
  });

  it('rejects an NX length running past the body as TRUNCATED', () => {
    const body = bodyOf(ex.CODEC8E_WIKI);
    // Replace NX = 0 by NX = 1, element id 0x0181 with declared length 0x0100 but no bytes.
    const nxAt = body.length - 3;
    const edited = new Uint8Array(body.length + 4);
    edited.set(body.subarray(0, nxAt));
    edited.set([0x00, 0x01, 0x01, 0x81, 0x01, 0x00, 0x01], nxAt);
    expectCode(() => decodeDataFrame(rewrapped(edited)), 'TRUNCATED');
  });

  it('rejects a codec that is not an AVL codec when AVL is asked for', () => {
    expectCode(() => decodeAvlPacket(bin(ex.CODEC12_GETINFO)), 'UNKNOWN_CODEC');
  });

  it.each([0x00, 0x07, 0x0f, 0x11, 0x8f, 0xff].map((codec) => [codec.toString(16), codec] as const))(
    'rejects codec 0x%s as UNKNOWN_CODEC',
    (_hex, codec) => {
      const body = bodyOf(ex.CODEC8_WIKI_2);
      body[0] = codec;
      const error = expectCode(() => decodeDataFrame(rewrapped(body)), 'UNKNOWN_CODEC');
      expect(error.actual).toBe(codec);
    },
  );
});
