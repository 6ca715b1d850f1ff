/** Big-endian readers and writers. Every read is bounds-checked and fails as a TeltonikaError. */

import { TeltonikaError } from './errors.ts';

/** The high 32 bits of Number.MAX_SAFE_INTEGER (2^53 - 1). */
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

export class ByteReader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  // Reads in place rather than through a DataView: one DataView per packet showed in the edge's profile.
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get offset(): number {
    return this.#offset;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  u8(): number {
    return this.#bytes[this.#take(1)]!;
  }

  u16(): number {
    const at = this.#take(2);
    return (this.#bytes[at]! << 8) | this.#bytes[at + 1]!;
  }

  i16(): number {
    return (this.u16() << 16) >> 16;
  }

  u32(): number {
    return this.i32() >>> 0;
  }

  i32(): number {
    const b = this.#bytes;
    const at = this.#take(4);
    return (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
  }

  u64(): bigint {
    const high = this.u32();
    return (BigInt(high) << 32n) | BigInt(this.u32());
  }

  /**
   * A u64 as a number when it is at most Number.MAX_SAFE_INTEGER, else as a bigint: timestamps are
   * always in range, and creating a bigint for each one was a visible share of decoding.
   */
  u64Safe(): number | bigint {
    this.#take(8);
    this.#offset -= 8;
    const high = this.u32();
    const low = this.u32();
    if (high > MAX_SAFE_HIGH_WORD) return (BigInt(high) << 32n) | BigInt(low);
    return high * 2 ** 32 + low;
  }

  /**
   * A copy, so decoded values never pin (or alias) the caller's socket buffer, which edge-tcp reuses
   * for the next read. Uint8Array's slice: a Buffer's own slice() returns a view, not a copy.
   */
  bytes(length: number): Uint8Array {
    const at = this.#take(length);
    return Uint8Array.prototype.slice.call(this.#bytes, at, at + length);
  }

  #take(length: number): number {
    if (length > this.remaining) {
      throw new TeltonikaError(
        'TRUNCATED',
        `need ${length} bytes at offset ${this.#offset}, only ${this.remaining} left`,
        { expected: length, actual: this.remaining, offset: this.#offset },
      );
    }
    const at = this.#offset;
    this.#offset += length;
    return at;
  }
}

/**
 * Growable big-endian writer for encoders. Each write names its field so an out-of-range input
 * is reported as NOT_ENCODABLE with that name instead of being silently truncated by DataView.
 */
export class ByteWriter {
  #buffer = new Uint8Array(128);
  #view = new DataView(this.#buffer.buffer);
  #length = 0;

  u8(value: number, field: string): this {
    checkUnsigned(value, 0xff, field);
    const at = this.#reserve(1);
    this.#view.setUint8(at, value);
    return this;
  }

  u16(value: number, field: string): this {
    checkUnsigned(value, 0xffff, field);
    const at = this.#reserve(2);
    this.#view.setUint16(at, value);
    return this;
  }

  i16(value: number, field: string): this {
    checkInteger(value, -0x8000, 0x7fff, field);
    const at = this.#reserve(2);
    this.#view.setInt16(at, value);
    return this;
  }

  u32(value: number, field: string): this {
    checkUnsigned(value, 0xffff_ffff, field);
    const at = this.#reserve(4);
    this.#view.setUint32(at, value);
    return this;
  }

  i32(value: number, field: string): this {
    checkInteger(value, -0x8000_0000, 0x7fff_ffff, field);
    const at = this.#reserve(4);
    this.#view.setInt32(at, value);
    return this;
  }

  u64(value: bigint, field: string): this {
    if (typeof value !== 'bigint' || value < 0n || value > 0xffff_ffff_ffff_ffffn) {
      throw notEncodable(field, String(value), 'a bigint in 0..2^64-1');
    }
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, value);
    return this;
  }

  bytes(value: Uint8Array): this {
    const at = this.#reserve(value.length);
    this.#buffer.set(value, at);
    return this;
  }

  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  /** Grows the buffer when needed, replacing #buffer and #view: read them only after calling this. */
  #reserve(length: number): number {
    const at = this.#length;
    const needed = at + length;
    if (needed > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(needed, this.#buffer.length * 2));
      grown.set(this.#buffer.subarray(0, at));
      this.#buffer = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length = needed;
    return at;
  }
}

function checkUnsigned(value: number, max: number, field: string): void {
  checkInteger(value, 0, max, field);
}

function checkInteger(value: number, min: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw notEncodable(field, value, `an integer in ${min}..${max}`);
  }
}

function notEncodable(field: string, actual: number | string, expected: string): TeltonikaError {
  return new TeltonikaError('NOT_ENCODABLE', `${field} = ${actual} is not ${expected}`, {
    field,
    expected,
    actual,
  });
}

const HEX_DIGITS = '0123456789abcdef';

export function bytesToHex(bytes: Uint8Array): string {
  let hex = '';
  for (const byte of bytes) {
    hex += HEX_DIGITS[byte >>> 4]! + HEX_DIGITS[byte & 0x0f]!;
  }
  return hex;
}

const HEX_PAIRS = /^(?:[0-9a-fA-F]{2})*$/;

/** Accepts upper or lower case and no separators; anything else is NOT_ENCODABLE. */
export function hexToBytes(hex: string): Uint8Array {
  if (!HEX_PAIRS.test(hex)) {
    throw new TeltonikaError('NOT_ENCODABLE', 'hex must be an even number of hex digits', {
      field: 'hex',
      actual: hex.length,
    });
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return bytes;
}

export function isHexPairs(text: string): boolean {
  return text.length > 0 && HEX_PAIRS.test(text);
}
