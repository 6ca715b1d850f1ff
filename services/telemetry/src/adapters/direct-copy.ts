/**
 * TELEMETRY/record bus message bytes → binary COPY rows, without the generic decoder.
 *
 * The reference path (decodeBusMessage: generic msgpack reader → objects → schema check →
 * StoredRecord objects → JSON.stringify of `io` and `attributes`) was the largest item of the
 * service's profile. This reader walks the msgpack bytes once and writes each row as it goes; the
 * jsonb columns (version byte + JSON text) are written straight from the msgpack maps. It returns
 * only what the latest-state writer and the notification coalescer use (device, times, position,
 * attributes — not `io`). It produces exactly the bytes of the reference path (a property test holds
 * it to that) and hands back anything it does not vouch for (an unexpected shape, a value the
 * schema or PostgreSQL could refuse, non-ASCII text it would have to escape): the caller then takes
 * the reference path, which validates and may refuse.
 */
import {
  BUS_MAX_MESSAGE_BYTES,
  type DeviceId,
  encodeProtoMsg,
  isDeviceId,
  isTenantId,
  MAX_RECORDS_PER_MESSAGE,
  MSG_TYPE,
  PROTO,
  TELEMETRY_SOURCE,
  type TenantId,
} from '@fleetwire/protocol';
import type { CopyWriter } from './copy-binary.ts';
import type { StoredRecord } from './telemetry-store.ts';

/** One message as the direct reader saw it: light records (`io` left empty) and the raw speeds. */
export interface DirectMessage {
  tenant: TenantId;
  deviceId: DeviceId;
  records: StoredRecord[];
  /** `position.speed` as sent (StoredRecord.speed is rounded), for the notification summary. */
  speeds: Array<number | undefined>;
}

/** Light records carry no `io`: nothing downstream of the COPY reads it. */
const NO_IO: Record<string, never> = Object.freeze({});

/** Thrown inside the reader to hand the message back; never escapes `copyDirect`. */
const GIVE_UP = new Error('not for the direct path');

/** The envelope up to the body's bin header: `{hdr: {proto, typ}, body: ` — taken from the encoder. */
const ENVELOPE_PREFIX = (() => {
  const probe = encodeProtoMsg({
    hdr: { proto: PROTO.TELEMETRY, typ: MSG_TYPE.TELEMETRY.RECORD },
    body: Uint8Array.of(0xc0),
  });
  return probe.slice(0, probe.length - 3); // minus bin8 header (c4 01) and the one body byte
})();

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const KEY = {
  tenant: ascii('tenant'),
  deviceId: ascii('deviceId'),
  source: ascii('source'),
  codec: ascii('codec'),
  records: ascii('records'),
  deviceTime: ascii('deviceTime'),
  receivedAt: ascii('receivedAt'),
  priority: ascii('priority'),
  position: ascii('position'),
  eventIoId: ascii('eventIoId'),
  io: ascii('io'),
  attributes: ascii('attributes'),
  lat: ascii('lat'),
  lon: ascii('lon'),
  alt: ascii('alt'),
  angle: ascii('angle'),
  satellites: ascii('satellites'),
  speed: ascii('speed'),
} as const;
const SOURCES = Object.values(TELEMETRY_SOURCE).map((name) => ({ name, bytes: ascii(name) }));

/** Schema limits (payloads.ts) and PostgreSQL's int4 range; beyond them the reference path decides. */
const MAX_EPOCH_MS = 8_640_000_000_000_000;
const MAX_IO_KEYS = 512;
const MAX_IO_STRING = 1024;
const MAX_ATTRIBUTES = 256;
const MAX_ATTRIBUTE_STRING = 4096;
const INT4_MAX = 2_147_483_647;

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const EMPTY = new Uint8Array(0);

// The reader's state: one message at a time, synchronously.
let bytes: Uint8Array = EMPTY;
let view = new DataView(bytes.buffer);
let at = 0;

/**
 * Appends the COPY rows of one bus message to `w` and returns what the state writers need, or
 * returns undefined with `w` as it was: the message is for the reference path.
 */
export function copyDirect(data: Uint8Array, w: CopyWriter): DirectMessage | undefined {
  const start = w.position;
  try {
    bytes = data;
    view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    at = 0;
    return readMessage(w);
  } catch (err) {
    if (err !== GIVE_UP && !(err instanceof RangeError)) throw err;
    w.rewind(start);
    return undefined;
  } finally {
    // Not kept alive by the reader between messages (a constant: no allocation per message).
    bytes = EMPTY;
  }
}

function readMessage(w: CopyWriter): DirectMessage {
  if (bytes.length > BUS_MAX_MESSAGE_BYTES) throw GIVE_UP;
  for (let i = 0; i < ENVELOPE_PREFIX.length; i++) if (bytes[i] !== ENVELOPE_PREFIX[i]) throw GIVE_UP;
  at = ENVELOPE_PREFIX.length;
  const length = binHeader();
  if (length !== bytes.length - at) throw GIVE_UP;
  // Keys in the order every encoder of this message writes them (edge-tcp, encodeBusMessage).
  const entries = mapHeader();
  if (entries !== 4 && entries !== 5) throw GIVE_UP;
  expectKey(KEY.tenant);
  const tenant = token();
  if (!isTenantId(tenant)) throw GIVE_UP;
  expectKey(KEY.deviceId);
  const deviceId = token();
  if (!isDeviceId(deviceId)) throw GIVE_UP;
  expectKey(KEY.source);
  const source = sourceName();
  if (entries === 5) {
    expectKey(KEY.codec);
    integer(0, 255);
  }
  expectKey(KEY.records);
  const count = arrayHeader();
  if (count < 1 || count > MAX_RECORDS_PER_MESSAGE) throw GIVE_UP;
  const out: DirectMessage = { tenant, deviceId, records: [], speeds: [] };
  for (let i = 0; i < count; i++) readRecord(w, out, source);
  if (at !== bytes.length) throw GIVE_UP;
  return out;
}

const SEEN = {
  deviceTime: 1,
  receivedAt: 2,
  priority: 4,
  position: 8,
  eventIoId: 16,
  io: 32,
  attributes: 64,
} as const;

/** Reads one record map (any key order), then writes its row: the columns come in another order. */
function readRecord(w: CopyWriter, out: DirectMessage, source: string): void {
  const r: StoredRecord = {
    tenantId: out.tenant,
    deviceId: out.deviceId,
    deviceTime: 0,
    eventIo: 0,
    receivedAt: 0,
    priority: null,
    latitude: null,
    longitude: null,
    altitude: null,
    angle: null,
    satellites: null,
    speed: null,
    io: NO_IO,
    attributes: {},
    source,
  };
  let speed: number | undefined;
  let ioAt = -1;
  let attributesAt = -1;
  let seen = 0;
  const entries = mapHeader();
  for (let k = 0; k < entries; k++) {
    const keyLength = stringHeader();
    const keyAt = at;
    at += keyLength;
    const bit = recordKey(keyAt, keyLength);
    if ((seen & bit) !== 0) throw GIVE_UP;
    seen |= bit;
    if (bit === SEEN.deviceTime) r.deviceTime = integer(0, MAX_EPOCH_MS);
    else if (bit === SEEN.receivedAt) r.receivedAt = integer(0, MAX_EPOCH_MS);
    else if (bit === SEEN.priority) r.priority = integer(0, 255);
    else if (bit === SEEN.eventIoId) r.eventIo = integer(0, 65535);
    else if (bit === SEEN.position) speed = readPosition(r);
    else if (bit === SEEN.io) ioAt = skipMap();
    else attributesAt = skipMap();
  }
  if ((seen & (SEEN.deviceTime | SEEN.receivedAt)) !== (SEEN.deviceTime | SEEN.receivedAt)) throw GIVE_UP;
  const end = at;
  writeRow(w, r, ioAt, attributesAt);
  at = end;
  out.records.push(r);
  out.speeds.push(speed);
}

function recordKey(keyAt: number, length: number): number {
  if (keyIs(keyAt, length, KEY.deviceTime)) return SEEN.deviceTime;
  if (keyIs(keyAt, length, KEY.receivedAt)) return SEEN.receivedAt;
  if (keyIs(keyAt, length, KEY.priority)) return SEEN.priority;
  if (keyIs(keyAt, length, KEY.eventIoId)) return SEEN.eventIoId;
  if (keyIs(keyAt, length, KEY.io)) return SEEN.io;
  if (keyIs(keyAt, length, KEY.attributes)) return SEEN.attributes;
  if (keyIs(keyAt, length, KEY.position)) return SEEN.position;
  throw GIVE_UP;
}

/** The row, as CopyWriter.row writes it; `io`/`attributes` are read from their msgpack maps. */
function writeRow(w: CopyWriter, r: StoredRecord, ioAt: number, attributesAt: number): void {
  w.rowUpToSpeed(r);
  const io = w.startJsonb();
  if (ioAt < 0) w.slice(EMPTY_OBJECT, 0, 2);
  else writeIoJson(w, ioAt);
  w.endJsonb(io);
  const attributes = w.startJsonb();
  if (attributesAt < 0) w.slice(EMPTY_OBJECT, 0, 2);
  else writeAttributesJson(w, attributesAt, r.attributes);
  w.endJsonb(attributes);
  w.text(r.source);
}

const EMPTY_OBJECT = ascii('{}');

/** Returns the raw speed; fills the rounded columns as toStoredRecords does. */
function readPosition(r: StoredRecord): number | undefined {
  const entries = mapHeader();
  let seen = 0;
  let speed: number | undefined;
  for (let k = 0; k < entries; k++) {
    const keyLength = stringHeader();
    const keyAt = at;
    at += keyLength;
    if (keyIs(keyAt, keyLength, KEY.lat)) {
      seen = once(seen, 1);
      r.latitude = numberIn(-90, 90);
    } else if (keyIs(keyAt, keyLength, KEY.lon)) {
      seen = once(seen, 2);
      r.longitude = numberIn(-180, 180);
    } else if (keyIs(keyAt, keyLength, KEY.alt)) {
      seen = once(seen, 4);
      r.altitude = roundedInt4(number());
    } else if (keyIs(keyAt, keyLength, KEY.angle)) {
      seen = once(seen, 8);
      r.angle = Math.round(numberIn(0, 360));
    } else if (keyIs(keyAt, keyLength, KEY.satellites)) {
      seen = once(seen, 16);
      r.satellites = integer(0, 255);
    } else if (keyIs(keyAt, keyLength, KEY.speed)) {
      seen = once(seen, 32);
      speed = numberIn(0, Number.MAX_VALUE);
      r.speed = roundedInt4(speed);
    } else throw GIVE_UP;
  }
  if ((seen & 3) !== 3) throw GIVE_UP;
  return speed;
}

function once(seen: number, bit: number): number {
  if ((seen & bit) !== 0) throw GIVE_UP;
  return seen | bit;
}

function roundedInt4(value: number): number {
  const rounded = Math.round(value);
  if (rounded < -INT4_MAX - 1 || rounded > INT4_MAX) throw GIVE_UP;
  return rounded;
}

/**
 * `io` as JSON.stringify writes the decoded object: integer-like keys enumerate in ascending
 * numeric order, so only canonical ids ("0", "17", not "017") in ascending order are taken.
 */
function writeIoJson(w: CopyWriter, mapAt: number): void {
  at = mapAt;
  const entries = mapHeader();
  if (entries > MAX_IO_KEYS) throw GIVE_UP;
  w.byte(0x7b); // {
  let previous = -1;
  for (let k = 0; k < entries; k++) {
    if (k > 0) w.byte(0x2c); // ,
    const keyLength = stringHeader();
    const keyAt = at;
    const id = canonicalId(keyAt, keyLength);
    if (id <= previous) throw GIVE_UP;
    previous = id;
    w.byte(0x22);
    w.slice(bytes, keyAt, keyAt + keyLength);
    w.slice(QUOTE_COLON, 0, 2);
    at = keyAt + keyLength;
    const token = bytes[at]!;
    if (isStringToken(token)) writeStringJson(w, MAX_IO_STRING);
    else w.jsonNumber(number());
  }
  w.byte(0x7d); // }
}

const QUOTE_COLON = ascii('":');

function canonicalId(keyAt: number, length: number): number {
  if (length < 1 || length > 5 || (length > 1 && bytes[keyAt] === 0x30)) throw GIVE_UP;
  let id = 0;
  for (let i = keyAt; i < keyAt + length; i++) {
    const digit = bytes[i]! - 0x30;
    if (digit < 0 || digit > 9) throw GIVE_UP;
    id = id * 10 + digit;
  }
  return id;
}

/** `attributes` as JSON.stringify writes them (insertion order: names never look like integers). */
function writeAttributesJson(
  w: CopyWriter,
  mapAt: number,
  into: Record<string, string | number | boolean>,
): void {
  at = mapAt;
  const entries = mapHeader();
  if (entries > MAX_ATTRIBUTES) throw GIVE_UP;
  w.byte(0x7b);
  for (let k = 0; k < entries; k++) {
    if (k > 0) w.byte(0x2c);
    const keyLength = stringHeader();
    const keyAt = at;
    const name = attributeName(keyAt, keyLength);
    if (Object.hasOwn(into, name)) throw GIVE_UP;
    w.byte(0x22);
    w.slice(bytes, keyAt, keyAt + keyLength);
    w.slice(QUOTE_COLON, 0, 2);
    at = keyAt + keyLength;
    into[name] = writeScalarJson(w);
  }
  w.byte(0x7d);
}

function writeScalarJson(w: CopyWriter): string | number | boolean {
  const token = bytes[at]!;
  if (token === 0xc2 || token === 0xc3) {
    at++;
    w.utf8(token === 0xc3 ? 'true' : 'false');
    return token === 0xc3;
  }
  if (isStringToken(token)) return writeStringJson(w, MAX_ATTRIBUTE_STRING);
  const value = number();
  w.jsonNumber(value);
  return value;
}

/**
 * Names seen before, by a hash of their bytes: the same few dozen names recur in every record, and
 * building each one's string again (then hashing it as a property key) showed in the profile.
 */
const NAMES = new Array<{ bytes: Uint8Array; name: string } | undefined>(1024);

function attributeName(keyAt: number, length: number): string {
  let hash = length;
  for (let i = keyAt; i < keyAt + length; i++) hash = (Math.imul(hash, 31) + bytes[i]!) | 0;
  const slot = hash & (NAMES.length - 1);
  const known = NAMES[slot];
  if (known !== undefined && keyIs(keyAt, length, known.bytes)) return known.name;
  if (!isAttributeName(keyAt, length)) throw GIVE_UP;
  const name = latin1(keyAt, length);
  NAMES[slot] = { bytes: bytes.slice(keyAt, keyAt + length), name };
  return name;
}

/** NAME_PATTERN of payloads.ts: `^[A-Za-z][A-Za-z0-9_]{0,63}$`. */
function isAttributeName(keyAt: number, length: number): boolean {
  if (length < 1 || length > 64 || !isLetter(bytes[keyAt]!)) return false;
  for (let i = keyAt + 1; i < keyAt + length; i++) {
    const c = bytes[i]!;
    if (!isLetter(c) && !(c >= 0x30 && c <= 0x39) && c !== 0x5f) return false;
  }
  return true;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/**
 * Printable ASCII without `"` or `\` is its own JSON text; anything else is decoded (strictly, as
 * the generic reader does) and escaped by JSON.stringify itself.
 */
function writeStringJson(w: CopyWriter, maxLength: number): string {
  const length = stringHeader();
  const start = at;
  at = start + length;
  let plain = true;
  for (let i = start; i < start + length; i++) {
    const c = bytes[i]!;
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) {
    if (length > maxLength) throw GIVE_UP;
    w.byte(0x22);
    w.slice(bytes, start, start + length);
    w.byte(0x22);
    return latin1(start, length);
  }
  let text: string;
  try {
    text = utf8Strict.decode(bytes.subarray(start, start + length));
  } catch {
    throw GIVE_UP;
  }
  if (text.length > maxLength) throw GIVE_UP;
  w.utf8(JSON.stringify(text));
  return text;
}

// --- msgpack tokens ----------------------------------------------------------------------------

function mapHeader(): number {
  const token = bytes[at]!;
  if (token >= 0x80 && token <= 0x8f) {
    at++;
    return token & 0x0f;
  }
  if (token === 0xde) return lengthAfter(2);
  if (token === 0xdf) return lengthAfter(4);
  throw GIVE_UP;
}

function arrayHeader(): number {
  const token = bytes[at]!;
  if (token >= 0x90 && token <= 0x9f) {
    at++;
    return token & 0x0f;
  }
  if (token === 0xdc) return lengthAfter(2);
  if (token === 0xdd) return lengthAfter(4);
  throw GIVE_UP;
}

function binHeader(): number {
  const token = bytes[at]!;
  if (token === 0xc4) return lengthAfter(1);
  if (token === 0xc5) return lengthAfter(2);
  if (token === 0xc6) return lengthAfter(4);
  throw GIVE_UP;
}

/** Skips a map of scalars (what `io` and `attributes` hold), returning where it starts. */
function skipMap(): number {
  const start = at;
  const entries = mapHeader();
  for (let k = 0; k < entries; k++) {
    skipString();
    const token = bytes[at]!;
    if (isStringToken(token)) skipString();
    else if (token === 0xc2 || token === 0xc3) at++;
    else number();
  }
  return start;
}

function skipString(): void {
  const length = stringHeader(); // moves `at` past the header: add the length after
  at += length;
}

function isStringToken(token: number): boolean {
  return (token >= 0xa0 && token <= 0xbf) || token === 0xd9 || token === 0xda || token === 0xdb;
}

/** Consumes a string header and returns the length of its bytes, which start at `at`. */
function stringHeader(): number {
  const token = bytes[at]!;
  let length: number;
  if (token >= 0xa0 && token <= 0xbf) {
    at++;
    length = token & 0x1f;
  } else if (token === 0xd9) length = lengthAfter(1);
  else if (token === 0xda) length = lengthAfter(2);
  else if (token === 0xdb) length = lengthAfter(4);
  else throw GIVE_UP;
  if (at + length > bytes.length) throw GIVE_UP;
  return length;
}

function lengthAfter(width: 1 | 2 | 4): number {
  const offset = at + 1;
  const n =
    width === 1 ? view.getUint8(offset) : width === 2 ? view.getUint16(offset) : view.getUint32(offset);
  at = offset + width;
  return n;
}

function keyIs(keyAt: number, length: number, key: Uint8Array): boolean {
  if (length !== key.length) return false;
  for (let i = 0; i < length; i++) if (bytes[keyAt + i] !== key[i]) return false;
  return true;
}

function expectKey(key: Uint8Array): void {
  const length = stringHeader();
  const keyAt = at;
  if (!keyIs(keyAt, length, key)) throw GIVE_UP;
  at += length;
}

/** A short ASCII string (ids); anything else is for the reference path. */
function token(): string {
  const length = stringHeader();
  const start = at;
  at = start + length;
  for (let i = start; i < start + length; i++) if (bytes[i]! >= 0x80) throw GIVE_UP;
  return latin1(start, length);
}

function latin1(start: number, length: number): string {
  let text = '';
  for (let i = start; i < start + length; i++) text += String.fromCharCode(bytes[i]!);
  return text;
}

function sourceName(): string {
  const length = stringHeader();
  const start = at;
  at = start + length;
  for (const source of SOURCES) if (keyIs(start, length, source.bytes)) return source.name;
  throw GIVE_UP;
}

/** Any msgpack number, finite; 64-bit integers only within ±(2^53-1), as the generic reader. */
function number(): number {
  const token = bytes[at]!;
  if (token <= 0x7f) {
    at++;
    return token;
  }
  if (token >= 0xe0) {
    at++;
    return token - 0x100;
  }
  const offset = at + 1;
  let value: number;
  let width: number;
  switch (token) {
    case 0xca:
      value = view.getFloat32(offset);
      width = 4;
      break;
    case 0xcb:
      value = view.getFloat64(offset);
      width = 8;
      break;
    case 0xcc:
      value = view.getUint8(offset);
      width = 1;
      break;
    case 0xcd:
      value = view.getUint16(offset);
      width = 2;
      break;
    case 0xce:
      value = view.getUint32(offset);
      width = 4;
      break;
    case 0xcf:
      value = view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4);
      width = 8;
      break;
    case 0xd0:
      value = view.getInt8(offset);
      width = 1;
      break;
    case 0xd1:
      value = view.getInt16(offset);
      width = 2;
      break;
    case 0xd2:
      value = view.getInt32(offset);
      width = 4;
      break;
    case 0xd3:
      value = view.getInt32(offset) * 2 ** 32 + view.getUint32(offset + 4);
      width = 8;
      break;
    default:
      throw GIVE_UP;
  }
  if (!Number.isFinite(value) || (width === 8 && token !== 0xcb && !Number.isSafeInteger(value)))
    throw GIVE_UP;
  at = offset + width;
  return value;
}

function numberIn(min: number, max: number): number {
  const value = number();
  if (value < min || value > max) throw GIVE_UP;
  return value;
}

function integer(min: number, max: number): number {
  const value = numberIn(min, max);
  if (!Number.isInteger(value)) throw GIVE_UP;
  return value;
}
