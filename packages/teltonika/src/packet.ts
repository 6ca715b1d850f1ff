/**
 * The TCP envelope shared by every data codec:
 * preamble 00000000 | u32 length | body (codec … quantity 2) | u32 CRC-16 of body.
 */

import type { ByteReader } from './bytes.ts';
import { crc16 } from './crc.ts';
import { TeltonikaError } from './errors.ts';

export const DATA_HEADER_LENGTH = 8;
export const CRC_FIELD_LENGTH = 4;
/** Preamble, length and CRC fields around the body. */
export const DATA_OVERHEAD = DATA_HEADER_LENGTH + CRC_FIELD_LENGTH;

/** Checks preamble, length and CRC; returns a view of the body (codec id … quantity 2). */
export function unwrapDataFrame(frame: Uint8Array): Uint8Array {
  if (frame.length < DATA_HEADER_LENGTH) {
    throw new TeltonikaError('TRUNCATED', `data frame of ${frame.length} bytes has no complete header`, {
      expected: DATA_HEADER_LENGTH,
      actual: frame.length,
    });
  }
  // Read in place: a DataView per packet showed in the edge's profile.
  const preamble = readU32(frame, 0);
  if (preamble !== 0) {
    throw new TeltonikaError('BAD_PREAMBLE', `data frame preamble is 0x${hex32(preamble)}, not 00000000`, {
      expected: 0,
      actual: preamble,
      offset: 0,
    });
  }
  const bodyLength = readU32(frame, 4);
  checkFrameLength(frame.length, bodyLength);
  const body = frame.subarray(DATA_HEADER_LENGTH, DATA_HEADER_LENGTH + bodyLength);
  const carried = readU32(frame, DATA_HEADER_LENGTH + bodyLength);
  const computed = crc16(body);
  if (carried !== computed) {
    throw new TeltonikaError('BAD_CRC', `CRC is 0x${hex32(carried)}, body computes to 0x${hex32(computed)}`, {
      expected: computed,
      actual: carried,
      offset: DATA_HEADER_LENGTH + bodyLength,
    });
  }
  return body;
}

function checkFrameLength(frameLength: number, bodyLength: number): void {
  const expected = bodyLength + DATA_OVERHEAD;
  if (frameLength < expected) {
    throw new TeltonikaError(
      'TRUNCATED',
      `length field promises ${expected} bytes, frame has ${frameLength}`,
      {
        field: 'length',
        expected,
        actual: frameLength,
      },
    );
  }
  if (frameLength > expected) {
    throw new TeltonikaError(
      'LENGTH_MISMATCH',
      `length field promises ${expected} bytes, frame has ${frameLength}`,
      { field: 'length', expected, actual: frameLength },
    );
  }
}

export function wrapDataFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(body.length + DATA_OVERHEAD);
  const view = new DataView(frame.buffer);
  view.setUint32(4, body.length);
  frame.set(body, DATA_HEADER_LENGTH);
  view.setUint32(DATA_HEADER_LENGTH + body.length, crc16(body));
  return frame;
}

function readU32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/**
 * Reads Number of Data 2 as the last byte of the body. Leftover bytes are checked first: with
 * trailing bytes the byte read as quantity 2 is not quantity 2, so comparing it would mislead.
 */
export function readQuantity2(reader: ByteReader, quantity1: number): void {
  const offset = reader.offset;
  const quantity2 = reader.u8();
  if (reader.remaining !== 0) {
    throw new TeltonikaError('LENGTH_MISMATCH', `${reader.remaining} bytes left after Number of Data 2`, {
      expected: 0,
      actual: reader.remaining,
      offset: reader.offset,
    });
  }
  if (quantity2 !== quantity1) {
    throw new TeltonikaError(
      'COUNT_MISMATCH',
      `Number of Data 1 is ${quantity1}, Number of Data 2 is ${quantity2}`,
      { expected: quantity1, actual: quantity2, offset },
    );
  }
}
