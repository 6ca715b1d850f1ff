import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeCodec12,
  decodeCodec13,
  decodeCodec14,
  encodeCodec12,
  encodeCodec13,
  encodeCodec14,
} from '../src/command.ts';
import { unwrapDataFrame, wrapDataFrame } from '../src/packet.ts';
import * as ex from './fixtures.ts';
import { bin, expectCode, hexOf } from './helpers.ts';

const lower = (hex: string) => hex.toLowerCase();

describe('Codec 12 encode (server → device)', () => {
  it.each([
    ['getinfo', ex.CODEC12_GETINFO],
    ['setdigout 11', ex.CODEC12_SETDIGOUT_11],
    ['#GET DATAORDER\r\n', ex.CODEC12_GET_DATAORDER],
  ])('encodes %j byte for byte', (text, frameHex) => {
    expect(hexOf(encodeCodec12(text))).toBe(lower(frameHex));
  });

  it('sends hex-pair text as binary only when asked to', () => {
    expect(hexOf(encodeCodec12('03030000000185E8', { hexAsBinary: true }))).toBe(lower(ex.CODEC12_RAW_BYTES));
    expect(hexOf(encodeCodec12(bin('03030000000185E8')))).toBe(lower(ex.CODEC12_RAW_BYTES));
    const asText = decodeCodec12(encodeCodec12('03030000000185E8'));
    expect(asText.text).toBe('03030000000185E8');
    expect(asText.bytes).toHaveLength(16);
  });

  it('keeps non-hex text as text even with hexAsBinary', () => {
    expect(hexOf(encodeCodec12('getinfo', { hexAsBinary: true }))).toBe(lower(ex.CODEC12_GETINFO));
    expect(decodeCodec12(encodeCodec12('abc', { hexAsBinary: true })).text).toBe('abc');
  });

  it('encodes a simulator response byte for byte', () => {
    const frame = encodeCodec12(ex.CODEC12_GETINFO_RESPONSE_TEXT, { type: 'response' });
    expect(hexOf(frame)).toBe(lower(ex.CODEC12_GETINFO_RESPONSE));
  });

  it('rejects an unknown type name from untyped callers', () => {
    expectCode(() => encodeCodec12('x', { type: 'bogus' as 'command' }), 'NOT_ENCODABLE');
  });
});

describe('Codec 12 decode', () => {
  it('decodes the wiki getinfo response', () => {
    const message = decodeCodec12(bin(ex.CODEC12_GETINFO_RESPONSE));
    expect(message).toMatchObject({
      kind: 'codec12',
      type: 'response',
      text: ex.CODEC12_GETINFO_RESPONSE_TEXT,
    });
    expect(message.bytes).toHaveLength(136);
  });

  it.each([
    ['getinfo', ex.CODEC12_GETINFO],
    ['setdigout 11', ex.CODEC12_SETDIGOUT_11],
    ['#GET DATAORDER\r\n', ex.CODEC12_GET_DATAORDER],
  ])('decodes the command %j (type 0x05)', (text, frameHex) => {
    expect(decodeCodec12(bin(frameHex))).toMatchObject({ kind: 'codec12', type: 'command', text });
  });

  it('decodes the raw-bytes command to its bytes', () => {
    expect(hexOf(decodeCodec12(bin(ex.CODEC12_RAW_BYTES)).bytes)).toBe('03030000000185e8');
  });

  it('rejects the camera sub-protocol type 0x0D and other types', () => {
    for (const type of [0x00, 0x0d, 0x11, 0xff]) {
      const body = unwrapDataFrame(bin(ex.CODEC12_GETINFO)).slice();
      body[2] = type;
      const error = expectCode(() => decodeCodec12(wrapDataFrame(body)), 'BAD_COMMAND_TYPE');
      expect(error.actual).toBe(type);
    }
  });

  it('rejects a command size that overruns the body, and quantity mismatches', () => {
    const body = unwrapDataFrame(bin(ex.CODEC12_GETINFO)).slice();
    body[6] = 8;
    expectCode(() => decodeCodec12(wrapDataFrame(body)), 'TRUNCATED');
    body[6] = 6;
    expectCode(() => decodeCodec12(wrapDataFrame(body)), 'LENGTH_MISMATCH');
    body[6] = 7;
    body[body.length - 1] = 2;
    expectCode(() => decodeCodec12(wrapDataFrame(body)), 'COUNT_MISMATCH');
  });

  it('rejects a different codec', () => {
    const error = expectCode(() => decodeCodec12(bin(ex.CODEC13_HELLO)), 'UNKNOWN_CODEC');
    expect(error).toMatchObject({ expected: 0x0c, actual: 0x0d });
  });

  it('round-trips arbitrary text in both directions', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.constantFrom('command', 'response'), (text, type) => {
        expect(decodeCodec12(encodeCodec12(text, { type }))).toMatchObject({ type, text });
      }),
      { numRuns: 300 },
    );
  });
});

describe('Codec 13', () => {
  it('decodes the wiki message (timestamp counted in the command size)', () => {
    const message = decodeCodec13(bin(ex.CODEC13_HELLO));
    expect(message).toMatchObject({
      kind: 'codec13',
      type: 'response',
      timestamp: 1692938881000,
      text: 'hello lets test\r\n',
    });
    expect(new Date(message.timestamp).toISOString()).toBe('2023-08-25T04:48:01.000Z');
  });

  it('encodes the wiki message byte for byte', () => {
    expect(hexOf(encodeCodec13('hello lets test\r\n', 1692938881000))).toBe(lower(ex.CODEC13_HELLO));
  });

  it('accepts type 0x05 as Traccar test data uses', () => {
    const message = decodeCodec13(encodeCodec13('getinfo', 1692938881000, { type: 'command' }));
    expect(message).toMatchObject({ type: 'command', text: 'getinfo' });
  });

  it('rejects a command size too small for the timestamp', () => {
    const body = Uint8Array.of(0x0d, 0x01, 0x06, 0, 0, 0, 3, 0x64, 0xe8, 0x32, 0x01);
    const error = expectCode(() => decodeCodec13(wrapDataFrame(body)), 'BAD_FIELD');
    expect(error).toMatchObject({ expected: 4, actual: 3 });
  });

  it('rejects a nACK type (not defined for Codec 13)', () => {
    const body = unwrapDataFrame(bin(ex.CODEC13_HELLO)).slice();
    body[2] = 0x11;
    expectCode(() => decodeCodec13(wrapDataFrame(body)), 'BAD_COMMAND_TYPE');
  });
});

describe('Codec 14', () => {
  it('encodes getver to IMEI 352093081452251 byte for byte', () => {
    expect(hexOf(encodeCodec14('352093081452251', 'getver'))).toBe(lower(ex.CODEC14_GETVER));
  });

  it('decodes the getver request', () => {
    expect(decodeCodec14(bin(ex.CODEC14_GETVER))).toMatchObject({
      kind: 'codec14',
      type: 'command',
      imei: '352093081452251',
      text: 'getver',
    });
  });

  it('decodes the device ACK to getver', () => {
    const message = decodeCodec14(bin(ex.CODEC14_GETVER_ACK));
    expect(message).toMatchObject({
      kind: 'codec14',
      type: 'response',
      imei: '352093081452251',
      text: ex.CODEC14_GETVER_ACK_TEXT,
    });
    expect(message.bytes).toHaveLength(155);
  });

  it('encodes the device ACK byte for byte', () => {
    const frame = encodeCodec14('352093081452251', ex.CODEC14_GETVER_ACK_TEXT, { type: 'response' });
    expect(hexOf(frame)).toBe(lower(ex.CODEC14_GETVER_ACK));
  });

  it('rejects the published nACK for its wrong CRC (0x32AC, should be 0x635E)', () => {
    const error = expectCode(() => decodeCodec14(bin(ex.CODEC14_NACK_PUBLISHED)), 'BAD_CRC');
    expect(error).toMatchObject({ expected: 0x635e, actual: 0x32ac });
  });

  it('accepts the nACK with the corrected CRC 0x635E', () => {
    expect(decodeCodec14(bin(ex.CODEC14_NACK_CORRECTED))).toMatchObject({
      kind: 'codec14',
      type: 'nack',
      imei: '352093081452468',
      text: '',
    });
    expect(hexOf(encodeCodec14('352093081452468', '', { type: 'nack' }))).toBe(
      lower(ex.CODEC14_NACK_CORRECTED),
    );
  });

  it('left-pads IMEIs and keeps 16-digit ones intact', () => {
    expect(decodeCodec14(encodeCodec14('012345678901234', 'x')).imei).toBe('012345678901234');
    expect(decodeCodec14(encodeCodec14('1234567890123456', 'x')).imei).toBe('1234567890123456');
  });

  it('refuses IMEIs it cannot pack into 8 bytes of nibbles', () => {
    expectCode(() => encodeCodec14('12345678901234567', 'getver'), 'BAD_IMEI');
    expectCode(() => encodeCodec14('35209308145225A', 'getver'), 'BAD_IMEI');
    expectCode(() => encodeCodec14('', 'getver'), 'BAD_IMEI');
  });

  it('rejects non-decimal IMEI nibbles and a command size shorter than the IMEI', () => {
    const body = unwrapDataFrame(bin(ex.CODEC14_GETVER)).slice();
    body[7] = 0x0a;
    expectCode(() => decodeCodec14(wrapDataFrame(body)), 'BAD_IMEI');
    const short = Uint8Array.of(0x0e, 0x01, 0x05, 0, 0, 0, 2, 0x03, 0x52, 0x01);
    expectCode(() => decodeCodec14(wrapDataFrame(short)), 'BAD_FIELD');
  });
});
