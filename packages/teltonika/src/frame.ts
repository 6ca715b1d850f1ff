/**
 * Streaming TCP framer: bytes in any chunking → whole frames. Rules (Traccar's, plus caps):
 * a lone 0xFF between frames is a heartbeat; at connection start a non-zero u16 is an IMEI login;
 * otherwise 00000000 + u32 length + body + 4-byte CRC is a data frame.
 */

import { TeltonikaError } from './errors.ts';
import { DATA_HEADER_LENGTH, DATA_OVERHEAD } from './packet.ts';

export type FrameKind = 'login' | 'data' | 'heartbeat' | 'error';

export type Frame =
  /** `bytes` holds the u16 length and the IMEI digits; decode with decodeLogin. */
  | { readonly kind: 'login'; readonly bytes: Uint8Array }
  /** `bytes` holds preamble … CRC, unchecked; decode with decodeDataFrame. */
  | { readonly kind: 'data'; readonly bytes: Uint8Array }
  | { readonly kind: 'heartbeat' }
  /** Fatal: the stream cannot be resynchronised, so the caller should close the connection. */
  | { readonly kind: 'error'; readonly error: TeltonikaError };

export interface FramerOptions {
  /** Largest data length field accepted (codec … quantity 2). Default DEFAULT_MAX_DATA_LENGTH. */
  readonly maxDataLength?: number;
  /** Largest IMEI length accepted in a login. Default DEFAULT_MAX_LOGIN_LENGTH. */
  readonly maxLoginLength?: number;
}

/** AVL packets are at most 1280 bytes; 64 KiB leaves room for Codec 12 payloads and camera chunks. */
export const DEFAULT_MAX_DATA_LENGTH = 64 * 1024;
/** IMEIs are 15 digits; the margin tolerates odd firmware without letting garbage allocate much. */
export const DEFAULT_MAX_LOGIN_LENGTH = 64;
export const HEARTBEAT_BYTE = 0xff;

const LOGIN_LENGTH_BYTES = 2;
const PREAMBLE_BYTES = 4;

type Verdict =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'heartbeat' }
  | { readonly kind: 'login' | 'data'; readonly total: number };

const INCOMPLETE: Verdict = { kind: 'incomplete' };
const HEARTBEAT_VERDICT: Verdict = { kind: 'heartbeat' };
const HEARTBEAT_FRAME: Frame = Object.freeze({ kind: 'heartbeat' });

interface PendingFrame {
  readonly kind: 'login' | 'data';
  readonly bytes: Uint8Array;
  filled: number;
}

/**
 * One instance per connection. Copies are minimal: a frame wholly inside one chunk is returned as
 * a view of that chunk (so do not reuse the chunk's memory while its frames are in use); a frame
 * split across chunks is copied once into a buffer allocated at its exact size, as soon as its
 * header (checked against the caps) has arrived.
 */
export class TeltonikaFramer {
  readonly #maxDataLength: number;
  readonly #maxLoginLength: number;
  /** A login is only valid before the first frame; heartbeats do not count. */
  #loginAllowed = true;
  /** Collects a header that arrived split across chunks (at most 8 bytes). */
  readonly #header = new Uint8Array(DATA_HEADER_LENGTH);
  #headerLength = 0;
  #pending: PendingFrame | undefined;
  #failure: TeltonikaError | undefined;

  constructor(options: FramerOptions = {}) {
    this.#maxDataLength = checkedCap('maxDataLength', options.maxDataLength ?? DEFAULT_MAX_DATA_LENGTH);
    this.#maxLoginLength = checkedCap('maxLoginLength', options.maxLoginLength ?? DEFAULT_MAX_LOGIN_LENGTH);
  }

  /**
   * Returns the frames completed by this chunk, in order; an empty array means "need more bytes".
   * A fatal error comes last, after any frames completed before it. From then on the framer is
   * poisoned and every push returns that same error.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#failure !== undefined) return [{ kind: 'error', error: this.#failure }];
    const frames: Frame[] = [];
    let at = 0;
    try {
      while (at < chunk.length) {
        at = this.#step(chunk, at, frames);
      }
    } catch (err) {
      if (!(err instanceof TeltonikaError)) throw err;
      this.#fail(err);
      frames.push({ kind: 'error', error: err });
    }
    return frames;
  }

  /** Bytes held for an incomplete frame; a gateway can log it when the connection closes. */
  get bufferedBytes(): number {
    return this.#headerLength + (this.#pending?.filled ?? 0);
  }

  get failure(): TeltonikaError | undefined {
    return this.#failure;
  }

  #step(chunk: Uint8Array, at: number, frames: Frame[]): number {
    if (this.#pending !== undefined) return this.#fillPending(chunk, at, frames);
    if (this.#headerLength === 0) {
      const verdict = this.#classify(chunk, at, chunk.length);
      if (verdict.kind === 'heartbeat') {
        frames.push(HEARTBEAT_FRAME);
        return at + 1;
      }
      if (verdict.kind !== 'incomplete')
        return this.#takeFrame(verdict.kind, verdict.total, chunk, at, frames);
    }
    return this.#collectHeaderByte(chunk, at);
  }

  #takeFrame(kind: 'login' | 'data', total: number, chunk: Uint8Array, at: number, frames: Frame[]): number {
    if (at + total <= chunk.length) {
      this.#emit(kind, chunk.subarray(at, at + total), frames);
      return at + total;
    }
    this.#pending = { kind, bytes: new Uint8Array(total), filled: 0 };
    return this.#fillPending(chunk, at, frames);
  }

  /** Header bytes trickle in one at a time, but there are at most 8 of them per frame. */
  #collectHeaderByte(chunk: Uint8Array, at: number): number {
    this.#header[this.#headerLength++] = chunk[at]!;
    const verdict = this.#classify(this.#header, 0, this.#headerLength);
    if (verdict.kind === 'login' || verdict.kind === 'data') {
      const bytes = new Uint8Array(verdict.total);
      bytes.set(this.#header.subarray(0, this.#headerLength));
      this.#pending = { kind: verdict.kind, bytes, filled: this.#headerLength };
      this.#headerLength = 0;
    }
    // A heartbeat verdict is impossible here: a leading 0xFF is taken before anything is collected.
    return at + 1;
  }

  #fillPending(chunk: Uint8Array, at: number, frames: Frame[]): number {
    const pending = this.#pending!;
    const count = Math.min(pending.bytes.length - pending.filled, chunk.length - at);
    pending.bytes.set(chunk.subarray(at, at + count), pending.filled);
    pending.filled += count;
    if (pending.filled === pending.bytes.length) {
      this.#pending = undefined;
      this.#emit(pending.kind, pending.bytes, frames);
    }
    return at + count;
  }

  #emit(kind: 'login' | 'data', bytes: Uint8Array, frames: Frame[]): void {
    this.#loginAllowed = false;
    frames.push({ kind, bytes });
  }

  /**
   * Decides what the bytes `bytes[from, end)` at a frame boundary start, as early as they allow.
   * Reads in place: a view and a DataView per frame showed in the edge's profile.
   */
  #classify(bytes: Uint8Array, from: number, end: number): Verdict {
    if (from >= end) return INCOMPLETE;
    const first = bytes[from]!;
    if (first === HEARTBEAT_BYTE) return HEARTBEAT_VERDICT;
    if (this.#loginAllowed) {
      if (end - from < LOGIN_LENGTH_BYTES) return INCOMPLETE;
      const imeiLength = (first << 8) | bytes[from + 1]!;
      if (imeiLength > 0) {
        checkCap('login', imeiLength, this.#maxLoginLength);
        return { kind: 'login', total: LOGIN_LENGTH_BYTES + imeiLength };
      }
    }
    checkPreamble(bytes, from, end);
    if (end - from < DATA_HEADER_LENGTH) return INCOMPLETE;
    const dataLength = readU32(bytes, from + PREAMBLE_BYTES);
    checkCap('data', dataLength, this.#maxDataLength);
    return { kind: 'data', total: dataLength + DATA_OVERHEAD };
  }

  #fail(error: TeltonikaError): void {
    this.#failure = error;
    this.#pending = undefined;
    this.#headerLength = 0;
  }
}

/** Checks the preamble bytes seen so far, so garbage is rejected without waiting for 8 bytes. */
function checkPreamble(bytes: Uint8Array, from: number, end: number): void {
  const seen = Math.min(end - from, PREAMBLE_BYTES);
  for (let i = 0; i < seen; i++) {
    const byte = bytes[from + i]!;
    if (byte !== 0) {
      throw new TeltonikaError('BAD_PREAMBLE', `data frame preamble byte ${i} is 0x${byte.toString(16)}`, {
        expected: 0,
        actual: byte,
        offset: i,
      });
    }
  }
}

function readU32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/** A NaN cap would compare false and silently disable the guard, so refuse it up front. */
function checkedCap(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${option} must be a non-negative integer, got ${value}`);
  }
  return value;
}

function checkCap(kind: 'login' | 'data', length: number, max: number): void {
  if (length > max) {
    throw new TeltonikaError('FRAME_TOO_LARGE', `${kind} length ${length} exceeds the cap of ${max}`, {
      field: `${kind} length`,
      expected: max,
      actual: length,
    });
  }
}
