/**
 * A deliberately small, strict msgpack codec for JSON-like values.
 *
 * Why not msgpackr for this: decoding untrusted device frames must reject anything the protocol
 * does not carry, and msgpackr's unpacker honours its own extensions (record definitions that
 * re-map fixints 0x40–0x7f, bundled strings, structured-clone references, Set/Error/RegExp/typed
 * arrays), keeps the last of duplicate keys and has no depth limit. On the encode side msgpackr
 * writes integers above 2^32 (millisecond timestamps) as float64, which Python or Go consumers then
 * see as floats. This codec writes integers the way Go's `Encoder.Encode(int)` does (smallest
 * format) and refuses everything that is not nil/bool/number/string/bin/array/string-keyed map.
 */
import { PROTOCOL_ERROR, ProtocolError, type ProtocolErrorCode } from './errors.ts';

export type MsgpackValue = null | boolean | number | string | Uint8Array | MsgpackValue[] | MsgpackMap;
export interface MsgpackMap {
  [key: string]: MsgpackValue;
}

/** Containers nested deeper than this are rejected, so recursion can never exhaust the stack. */
export const DEFAULT_MAX_DEPTH = 32;
/** Larger `maxDepth` options are clamped to this, which stays far below V8's stack limit. */
export const MAX_SUPPORTED_DEPTH = 512;

const TWO_POW_32 = 2 ** 32;
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Lenient = new TextDecoder('utf-8', { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

type PathSegment = string | number;

function joinPath(
  base: string | undefined,
  segments: readonly PathSegment[],
  depth: number,
): string | undefined {
  const entered = segments.slice(0, depth);
  const parts = base ? [base, ...entered] : entered;
  return parts.length > 0 ? parts.join('.') : undefined;
}

const NO_BYTES = new Uint8Array(0);
/** Floats are copied here to be read: a DataView per reader was an allocation per decoded frame. */
const floatBytes = new Uint8Array(8);
const floatView = new DataView(floatBytes.buffer);

/**
 * Cursor over untrusted bytes. Every failure is a ProtocolError carrying the dotted path.
 * A reader can be reused for the next input (`reset`): the decoders keep one each, so a decoded
 * frame costs its result objects and nothing else (no reader, path array or view per frame).
 */
export class MsgpackReader {
  bytes: Uint8Array;
  pos = 0;
  private maxDepth: number;
  private basePath: string | undefined;
  /** The path entered so far: `segments[0 … depth)` (slots are overwritten, never popped, so a reused reader allocates nothing). */
  private readonly segments: PathSegment[] = [];
  private depth = 0;

  constructor(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH, basePath?: string) {
    this.bytes = bytes;
    this.maxDepth = Math.min(maxDepth, MAX_SUPPORTED_DEPTH);
    this.basePath = basePath;
  }

  /** Starts over on new input, as a new reader would. */
  reset(bytes: Uint8Array, maxDepth = DEFAULT_MAX_DEPTH, basePath?: string): void {
    this.bytes = bytes;
    this.pos = 0;
    this.maxDepth = Math.min(maxDepth, MAX_SUPPORTED_DEPTH);
    this.basePath = basePath;
    this.depth = 0;
  }

  /** Drops the input, so that a kept reader does not hold on to a large frame. */
  release(): void {
    this.bytes = NO_BYTES;
    this.depth = 0;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  enter(segment: PathSegment): void {
    this.segments[this.depth++] = segment;
  }

  leave(): void {
    this.depth--;
  }

  /**
   * Errors about input bytes carry no stack trace: it would only show decoder internals, and
   * capturing it was about 90% of the cost of rejecting a garbage frame.
   */
  fail(code: ProtocolErrorCode, message: string, cause?: unknown): never {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      throw new ProtocolError(code, message, {
        path: joinPath(this.basePath, this.segments, this.depth),
        cause,
      });
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  truncated(): never {
    return this.fail(PROTOCOL_ERROR.MALFORMED, 'unexpected end of data');
  }

  /** A value of the wrong kind; a reserved 0xc1 byte there is reported as malformed instead. */
  mismatch(code: ProtocolErrorCode, message: string): never {
    if (this.peek() === 0xc1) this.fail(PROTOCOL_ERROR.MALFORMED, 'reserved byte 0xc1');
    return this.fail(code, message);
  }

  peek(): number {
    if (this.pos >= this.bytes.length) this.truncated();
    return this.bytes[this.pos]!;
  }

  atMap(): boolean {
    const token = this.peek();
    return (token >= 0x80 && token <= 0x8f) || token === 0xde || token === 0xdf;
  }

  /** Consumes a map header and returns its entry count, or returns undefined and consumes nothing. */
  tryMapHeader(): number | undefined {
    const token = this.peek();
    let count: number;
    if (token >= 0x80 && token <= 0x8f) {
      this.pos++;
      count = token & 0x0f;
    } else if (token === 0xde) count = this.skipToken(this.u16At(1), 3);
    else if (token === 0xdf) count = this.skipToken(this.u32At(1), 5);
    else return undefined;
    if (count * 2 > this.remaining) this.truncated();
    return count;
  }

  /** Consumes a bin header and returns its length, or returns undefined and consumes nothing. */
  tryBinHeader(): number | undefined {
    const token = this.peek();
    if (token === 0xc4) return this.skipToken(this.u8At(1), 2);
    if (token === 0xc5) return this.skipToken(this.u16At(1), 3);
    if (token === 0xc6) return this.skipToken(this.u32At(1), 5);
    return undefined;
  }

  tryNil(): boolean {
    if (this.peek() !== 0xc0) return false;
    this.pos++;
    return true;
  }

  /** Returns the next string, or undefined (consuming nothing) when the next value is not a string. */
  tryString(): string | undefined {
    const token = this.peek();
    if (token >= 0xa0 && token <= 0xbf) {
      this.pos++;
      return this.utf8(token & 0x1f);
    }
    if (token === 0xd9) return this.utf8(this.skipToken(this.u8At(1), 2));
    if (token === 0xda) return this.utf8(this.skipToken(this.u16At(1), 3));
    if (token === 0xdb) return this.utf8(this.skipToken(this.u32At(1), 5));
    return undefined;
  }

  /** Returns the next integer in any msgpack integer format, or undefined (consuming nothing). */
  tryInteger(): number | undefined {
    const token = this.peek();
    if (
      token <= 0x7f ||
      token >= 0xe0 ||
      (token >= 0xcc && token <= 0xcf) ||
      (token >= 0xd0 && token <= 0xd3)
    ) {
      return this.readValue(0) as number;
    }
    return undefined;
  }

  mapKey(): string {
    const key = this.tryString();
    if (key === undefined) this.mismatch(PROTOCOL_ERROR.WRONG_TYPE, 'map keys must be strings');
    if (key === '__proto__') this.fail(PROTOCOL_ERROR.UNSUPPORTED, 'map key __proto__ is not allowed');
    return key;
  }

  bin(length: number): Uint8Array {
    this.need(length);
    const view = new Uint8Array(this.bytes.buffer, this.bytes.byteOffset + this.pos, length);
    this.pos += length;
    return view;
  }

  /** Reads any supported value; `depth` counts the containers already entered. */
  readValue(depth: number): MsgpackValue {
    const token = this.peek();
    this.pos++;
    if (token <= 0x7f) return token;
    if (token >= 0xe0) return token - 0x100;
    if (token >= 0xa0 && token <= 0xbf) return this.utf8(token & 0x1f);
    if (token >= 0x90 && token <= 0x9f) return this.array(token & 0x0f, depth);
    if (token >= 0x80 && token <= 0x8f) return this.map(token & 0x0f, depth);
    return this.readFormat(token, depth);
  }

  private readFormat(token: number, depth: number): MsgpackValue {
    switch (token) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.take(1, this.u8At(0)));
      case 0xc5:
        return this.bin(this.take(2, this.u16At(0)));
      case 0xc6:
        return this.bin(this.take(4, this.u32At(0)));
      case 0xca:
        return this.take(4, this.float(4));
      case 0xcb:
        return this.take(8, this.float(8));
      case 0xcc:
        return this.take(1, this.u8At(0));
      case 0xcd:
        return this.take(2, this.u16At(0));
      case 0xce:
        return this.take(4, this.u32At(0));
      case 0xcf:
        return this.safeInteger(this.take(8, this.u32At(0) * TWO_POW_32 + this.u32At(4)));
      case 0xd0:
        return this.take(1, (this.u8At(0) << 24) >> 24);
      case 0xd1:
        return this.take(2, (this.u16At(0) << 16) >> 16);
      case 0xd2:
        return this.take(4, this.u32At(0) | 0);
      case 0xd3:
        return this.safeInteger(this.take(8, (this.u32At(0) | 0) * TWO_POW_32 + this.u32At(4)));
      case 0xd9:
        return this.utf8(this.take(1, this.u8At(0)));
      case 0xda:
        return this.utf8(this.take(2, this.u16At(0)));
      case 0xdb:
        return this.utf8(this.take(4, this.u32At(0)));
      case 0xdc:
        return this.array(this.take(2, this.u16At(0)), depth);
      case 0xdd:
        return this.array(this.take(4, this.u32At(0)), depth);
      case 0xde:
        return this.map(this.take(2, this.u16At(0)), depth);
      case 0xdf:
        return this.map(this.take(4, this.u32At(0)), depth);
      case 0xc1:
        return this.fail(PROTOCOL_ERROR.MALFORMED, 'reserved byte 0xc1');
      default:
        // 0xc7–0xc9 and 0xd4–0xd8: extension types, which nothing in the protocol uses.
        return this.fail(
          PROTOCOL_ERROR.UNSUPPORTED,
          `msgpack extension types are not accepted (0x${token.toString(16)})`,
        );
    }
  }

  private array(count: number, depth: number): MsgpackValue[] {
    this.checkContainer(count, depth);
    const items: MsgpackValue[] = [];
    for (let i = 0; i < count; i++) {
      this.enter(i);
      items.push(this.readValue(depth + 1));
      this.leave();
    }
    return items;
  }

  private map(count: number, depth: number): MsgpackMap {
    this.checkContainer(count * 2, depth);
    const result: MsgpackMap = {};
    for (let i = 0; i < count; i++) {
      const key = this.mapKey();
      this.enter(key);
      if (Object.hasOwn(result, key)) this.fail(PROTOCOL_ERROR.DUPLICATE_KEY, 'duplicate map key');
      result[key] = this.readValue(depth + 1);
      this.leave();
    }
    return result;
  }

  /** Each element takes at least one byte, so a count above the remaining bytes is a lie. */
  private checkContainer(minBytes: number, depth: number): void {
    if (depth >= this.maxDepth) this.fail(PROTOCOL_ERROR.TOO_DEEP, `nesting deeper than ${this.maxDepth}`);
    if (minBytes > this.remaining) this.truncated();
  }

  private safeInteger(value: number): number {
    if (!Number.isSafeInteger(value))
      this.fail(PROTOCOL_ERROR.UNSUPPORTED, '64-bit integer outside ±(2^53-1)');
    return value;
  }

  private utf8(length: number): string {
    this.need(length);
    const start = this.pos;
    this.pos += length;
    return decodeUtf8(this.bytes, start, length, this);
  }

  private need(length: number): void {
    if (length > this.remaining) this.truncated();
  }

  /** Position of a fixed-width read of `width` bytes following the already-consumed token byte. */
  private at(width: number): number {
    this.need(width);
    return this.pos;
  }

  private take<T>(width: number, value: T): T {
    this.pos += width;
    return value;
  }

  private skipToken(value: number, width: number): number {
    this.pos += width;
    return value;
  }

  private u8At(offset: number): number {
    this.need(offset + 1);
    return this.bytes[this.pos + offset]!;
  }

  private u16At(offset: number): number {
    this.need(offset + 2);
    const at = this.pos + offset;
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!;
  }

  private u32At(offset: number): number {
    this.need(offset + 4);
    const at = this.pos + offset;
    const b = this.bytes;
    return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
  }

  /** A big-endian float32 or float64 following the already-consumed token byte. */
  private float(width: 4 | 8): number {
    const at = this.at(width);
    for (let i = 0; i < width; i++) floatBytes[i] = this.bytes[at + i]!;
    return width === 4 ? floatView.getFloat32(0) : floatView.getFloat64(0);
  }
}

function decodeUtf8(bytes: Uint8Array, start: number, length: number, reader: MsgpackReader): string {
  // Short ASCII strings (keys, typ, ids) are the common case; TextDecoder has a fixed call cost.
  if (length <= MAX_INTERNED)
    return shortAscii(bytes, start, length) ?? decodeUtf8Slow(bytes, start, length, reader);
  return decodeUtf8Slow(bytes, start, length, reader);
}

/** Strings up to this many bytes go through the table of recent short strings. */
const MAX_INTERNED = 24;
const INTERN_SLOTS = 1024;
/**
 * The last short ASCII string decoded per hash slot. Map keys, `typ` values, tenant and device ids
 * repeat in every frame: found here they cost no allocation (a string built byte by byte cost one
 * intermediate string per byte). A different string in the slot is simply replaced.
 */
const interned: string[] = new Array<string>(INTERN_SLOTS).fill('');
/** Per length, an array of char codes to build a string from in one call. */
const charCodes: number[][] = Array.from({ length: MAX_INTERNED + 1 }, (_, n) =>
  new Array<number>(n).fill(0),
);

/** The ASCII string at `start`, or undefined when a byte is not ASCII. */
function shortAscii(bytes: Uint8Array, start: number, length: number): string | undefined {
  let hash = length;
  for (let i = start; i < start + length; i++) {
    const code = bytes[i]!;
    if (code >= 0x80) return undefined;
    hash = (Math.imul(hash, 31) + code) | 0;
  }
  const slot = (hash ^ (hash >>> 15)) & (INTERN_SLOTS - 1);
  const known = interned[slot]!;
  if (known.length === length && sameAscii(known, bytes, start)) return known;
  const codes = charCodes[length]!;
  for (let i = 0; i < length; i++) codes[i] = bytes[start + i]!;
  const text = String.fromCharCode.apply(null, codes);
  interned[slot] = text;
  return text;
}

function sameAscii(text: string, bytes: Uint8Array, start: number): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}

/**
 * The lenient decoder turns invalid sequences into U+FFFD without throwing; only when U+FFFD
 * appears (rare in valid text) is the strict decoder asked, so garbage costs no exception.
 */
function decodeUtf8Slow(bytes: Uint8Array, start: number, length: number, reader: MsgpackReader): string {
  const slice = bytes.subarray(start, start + length);
  const text = utf8Lenient.decode(slice);
  if (text.includes('\uFFFD') && !isStrictUtf8(slice))
    reader.fail(PROTOCOL_ERROR.MALFORMED, 'string is not valid UTF-8');
  return text;
}

function isStrictUtf8(slice: Uint8Array): boolean {
  try {
    utf8Strict.decode(slice);
    return true;
  } catch {
    return false;
  }
}

/** Growable output buffer producing the same byte layout as Go's vmihailenco/msgpack v5. */
export class MsgpackWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  /** As MsgpackReader's: `segments[0 … depth)`. */
  private readonly segments: PathSegment[] = [];
  private depth = 0;
  private readonly maxDepth: number;

  constructor(initialSize = 256, maxDepth = DEFAULT_MAX_DEPTH) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
    this.maxDepth = Math.min(maxDepth, MAX_SUPPORTED_DEPTH);
  }

  get length(): number {
    return this.pos;
  }

  enter(segment: PathSegment): void {
    this.segments[this.depth++] = segment;
  }

  leave(): void {
    this.depth--;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** The bytes written so far, without copying: valid only until the writer is used again. */
  written(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Starts over, keeping the grown buffer unless it is over `maxKeptBytes` (a scratch writer). */
  reset(maxKeptBytes = Number.POSITIVE_INFINITY): void {
    this.pos = 0;
    this.depth = 0;
    if (this.buf.length > maxKeptBytes) {
      this.buf = new Uint8Array(maxKeptBytes);
      this.view = new DataView(this.buf.buffer);
    }
  }

  fail(message: string): never {
    throw new ProtocolError(PROTOCOL_ERROR.UNSUPPORTED, message, {
      path: joinPath(undefined, this.segments, this.depth),
    });
  }

  mapHeader(count: number): void {
    this.containerHeader(count, 0x80, 0xde, 0xdf);
  }

  arrayHeader(count: number): void {
    this.containerHeader(count, 0x90, 0xdc, 0xdd);
  }

  /** uint16 in its fixed 3-byte form, as Go writes a `uint16` struct field without UseCompactInts. */
  uint16Fixed(value: number): void {
    this.reserve(3);
    this.buf[this.pos] = 0xcd;
    this.view.setUint16(this.pos + 1, value);
    this.pos += 3;
  }

  string(text: string): void {
    const byteLength = utf8Length(text);
    this.reserve(5 + byteLength);
    if (byteLength < 32) this.buf[this.pos++] = 0xa0 | byteLength;
    else if (byteLength <= 0xff) this.put8(0xd9, byteLength);
    else if (byteLength <= 0xffff) this.put16(0xda, byteLength);
    else this.put32(0xdb, byteLength);
    if (byteLength === text.length) {
      for (let i = 0; i < text.length; i++) this.buf[this.pos + i] = text.charCodeAt(i);
    } else {
      utf8Encoder.encodeInto(text, this.buf.subarray(this.pos, this.pos + byteLength));
    }
    this.pos += byteLength;
  }

  /**
   * Bytes that already are msgpack (e.g. a map key encoded once at startup), copied as they are.
   * The caller vouches for them: nothing is checked.
   */
  raw(bytes: Uint8Array): void {
    const length = bytes.length;
    this.reserve(length);
    // A loop beats TypedArray#set for the few bytes of a key.
    if (length <= 32) for (let i = 0; i < length; i++) this.buf[this.pos + i] = bytes[i]!;
    else this.buf.set(bytes, this.pos);
    this.pos += length;
  }

  bin(bytes: Uint8Array): void {
    const length = bytes.length;
    this.reserve(5 + length);
    if (length <= 0xff) this.put8(0xc4, length);
    else if (length <= 0xffff) this.put16(0xc5, length);
    else this.put32(0xc6, length);
    this.buf.set(bytes, this.pos);
    this.pos += length;
  }

  number(value: number): void {
    if (Number.isSafeInteger(value)) this.integer(value);
    else this.float64(value);
  }

  /** Any supported value; `depth` counts the containers already entered. */
  value(value: unknown, depth = 0): void {
    if (value === null) this.byte(0xc0);
    else if (typeof value === 'boolean') this.byte(value ? 0xc3 : 0xc2);
    else if (typeof value === 'number') this.number(value);
    else if (typeof value === 'string') this.string(value);
    else if (typeof value === 'object') this.object(value, depth);
    else this.fail(`cannot encode a value of type ${typeof value}`);
  }

  /** Plain object as a map, skipping keys whose value is undefined (like JSON.stringify). */
  map(object: object, depth: number): void {
    const record = object as Record<string, unknown>;
    // for-in over own keys visits them in Object.keys order without building the array.
    let defined = 0;
    for (const key in record) if (Object.hasOwn(record, key) && record[key] !== undefined) defined++;
    this.mapHeader(defined);
    for (const key in record) {
      if (!Object.hasOwn(record, key)) continue;
      const value = record[key];
      if (value === undefined) continue;
      if (key === '__proto__') this.fail('map key __proto__ is not allowed');
      this.string(key);
      this.enter(key);
      this.value(value, depth + 1);
      this.leave();
    }
  }

  private object(value: object, depth: number): void {
    if (value instanceof Uint8Array) this.bin(value);
    else if (depth >= this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth} (or a cycle)`);
    else if (Array.isArray(value)) this.array(value, depth);
    else if (isPlainObject(value)) this.map(value, depth);
    else
      this.fail(
        `cannot encode ${value.constructor?.name ?? 'object'}; use plain objects, arrays and Uint8Array`,
      );
  }

  private array(items: readonly unknown[], depth: number): void {
    this.arrayHeader(items.length);
    for (let i = 0; i < items.length; i++) {
      this.enter(i);
      if (items[i] === undefined) this.fail('undefined inside an array');
      this.value(items[i], depth + 1);
      this.leave();
    }
  }

  /** Smallest format, as Go's `Encoder.EncodeInt` writes a plain `int`. */
  private integer(value: number): void {
    this.reserve(9);
    if (value >= 0) {
      if (value <= 0x7f) this.buf[this.pos++] = value;
      else if (value <= 0xff) this.put8(0xcc, value);
      else if (value <= 0xffff) this.put16(0xcd, value);
      else if (value <= 0xffffffff) this.put32(0xce, value);
      else this.int64(0xcf, value);
    } else if (value >= -32) this.buf[this.pos++] = value & 0xff;
    else if (value >= -0x80) this.put8(0xd0, value & 0xff);
    else if (value >= -0x8000) this.put16(0xd1, value & 0xffff);
    else if (value >= -0x80000000) this.put32(0xd2, value >>> 0);
    else this.int64(0xd3, value);
  }

  private int64(token: number, value: number): void {
    const high = Math.floor(value / TWO_POW_32);
    this.reserve(9);
    this.buf[this.pos] = token;
    this.view.setInt32(this.pos + 1, high);
    this.view.setUint32(this.pos + 5, value - high * TWO_POW_32);
    this.pos += 9;
  }

  private float64(value: number): void {
    this.reserve(9);
    this.buf[this.pos] = 0xcb;
    this.view.setFloat64(this.pos + 1, value);
    this.pos += 9;
  }

  private containerHeader(count: number, fix: number, token16: number, token32: number): void {
    this.reserve(5);
    if (count < 16) this.buf[this.pos++] = fix | count;
    else if (count <= 0xffff) this.put16(token16, count);
    else this.put32(token32, count);
  }

  private byte(value: number): void {
    this.reserve(1);
    this.buf[this.pos++] = value;
  }

  private put8(token: number, value: number): void {
    this.buf[this.pos] = token;
    this.buf[this.pos + 1] = value;
    this.pos += 2;
  }

  private put16(token: number, value: number): void {
    this.buf[this.pos] = token;
    this.view.setUint16(this.pos + 1, value);
    this.pos += 3;
  }

  private put32(token: number, value: number): void {
    this.buf[this.pos] = token;
    this.view.setUint32(this.pos + 1, value);
    this.pos += 5;
  }

  private reserve(size: number): void {
    if (this.pos + size <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.pos + size));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Byte length TextEncoder will produce (lone surrogates become the 3-byte U+FFFD). */
function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) length += 1;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      length += 2;
      i++;
    } else length += 2;
  }
  return length;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Encodes a JSON-like value (plain objects, arrays, strings, numbers, booleans, null, Uint8Array). */
export function encodeMsgpack(value: unknown): Uint8Array {
  const writer = new MsgpackWriter();
  writer.value(value);
  return writer.finish();
}

export interface DecodeMsgpackOptions {
  maxDepth?: number;
  /** Prefix for error paths, e.g. `body`. */
  path?: string;
}

/** Decodes exactly one value; anything left over is TRAILING_BYTES. */
export function decodeMsgpack(bytes: Uint8Array, options: DecodeMsgpackOptions = {}): MsgpackValue {
  if (!(bytes instanceof Uint8Array)) {
    throw new ProtocolError(PROTOCOL_ERROR.WRONG_TYPE, 'expected a Uint8Array', { path: options.path });
  }
  const reader = takeReader(bytes, options.maxDepth ?? DEFAULT_MAX_DEPTH, options.path);
  try {
    const value = reader.readValue(0);
    if (reader.remaining > 0)
      reader.fail(PROTOCOL_ERROR.TRAILING_BYTES, `${reader.remaining} bytes after the value`);
    return value;
  } finally {
    giveBack(reader);
  }
}

/** The decoders' reader, lent to one decode at a time (decoding never re-enters itself). */
const sharedReader = new MsgpackReader(NO_BYTES);
let sharedReaderLent = false;

/**
 * A reader over `bytes`: the shared one when it is free, else a new one. Pair with `giveBack` in a
 * `finally`, so that an error leaves the shared reader free (and holding no input).
 */
export function takeReader(
  bytes: Uint8Array,
  maxDepth = DEFAULT_MAX_DEPTH,
  basePath?: string,
): MsgpackReader {
  if (sharedReaderLent) return new MsgpackReader(bytes, maxDepth, basePath);
  sharedReaderLent = true;
  sharedReader.reset(bytes, maxDepth, basePath);
  return sharedReader;
}

export function giveBack(reader: MsgpackReader): void {
  if (reader !== sharedReader) return;
  reader.release();
  sharedReaderLent = false;
}
