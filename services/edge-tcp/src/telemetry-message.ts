/**
 * TELEMETRY/record bus messages from decoded AVL packets.
 *
 * `encodeTelemetryMessage` writes the msgpack bytes straight from the AvlPacket. The reference path
 * (build a TelemetryMessage object, validate it, walk it with the generic writer) cost ≈ 10 µs per
 * record, the largest item of the edge's profile. The direct writer produces exactly the bytes of the
 * reference path (a property test holds it to that) and hands anything it does not vouch for (a
 * repeated IO id, an oversized value, an odd field) to the reference path, which validates and may
 * refuse. The payload contract is therefore unchanged, byte for byte.
 */
import {
  BUS_MAX_MESSAGE_BYTES,
  type DeviceId,
  encodeBusMessage,
  encodeMsgpack,
  encodeProtoMsg,
  isDeviceId,
  isTenantId,
  MAX_RECORDS_PER_MESSAGE,
  MSG_TYPE,
  MsgpackWriter,
  PROTO,
  TELEMETRY_SOURCE,
  type TelemetryMessage,
  type TelemetryRecord,
  type TenantId,
} from '@fleetwire/protocol';
import {
  type AvlPacket,
  type AvlRecord,
  bytesToHex,
  IO_ELEMENTS,
  type IoElementSpec,
  type IoReading,
  type IoValue,
  namedAttributes,
  rawIoById,
} from '@fleetwire/teltonika';

/** Longest raw IO string the bus schema takes; longer NX values are left out of `io`. */
const MAX_IO_STRING = 1024;
/** Schema limits the direct writer must respect (payloads.ts); beyond them it defers. */
const MAX_IO_KEYS = 512;
const MAX_ATTRIBUTE_STRING = 4096;
const MAX_EPOCH_MS = 8_640_000_000_000_000;

/**
 * `idsChecked`: the caller has already checked `tenant` and `deviceId` against the schema's pattern
 * (edge-tcp does, once per connection), so the direct writer does not test them again per packet.
 */
export function encodeTelemetryMessage(
  tenant: TenantId,
  deviceId: DeviceId,
  packet: AvlPacket,
  receivedAt: number,
  idsChecked = false,
): Uint8Array {
  return (
    encodeDirect(tenant, deviceId, packet, receivedAt, idsChecked) ??
    encodeBusMessage(
      PROTO.TELEMETRY,
      MSG_TYPE.TELEMETRY.RECORD,
      toTelemetryMessage(tenant, deviceId, packet, receivedAt),
    )
  );
}

/** The reference mapping: what the bus message means. */
export function toTelemetryMessage(
  tenant: TenantId,
  deviceId: DeviceId,
  packet: AvlPacket,
  receivedAt: number,
): TelemetryMessage {
  return {
    tenant,
    deviceId,
    source: TELEMETRY_SOURCE.TELTONIKA,
    codec: packet.codec,
    records: packet.records.map((r) => toTelemetryRecord(r, receivedAt)),
  };
}

function toTelemetryRecord(r: AvlRecord, receivedAt: number): TelemetryRecord {
  const attributes: Record<string, number | boolean | string> = namedAttributes(r.io);
  if (r.generationType !== undefined) attributes.generationType = r.generationType;
  const record: TelemetryRecord = {
    deviceTime: r.timestamp,
    receivedAt,
    priority: r.priority,
    eventIoId: r.eventIoId,
    io: boundedIo(r.io),
    attributes,
  };
  // Garbage coordinates are dropped rather than refused: refusing would make the tracker resend forever.
  if (hasPosition(r)) {
    record.position = {
      lat: r.latitude,
      lon: r.longitude,
      alt: r.altitude,
      angle: r.angle,
      satellites: r.satellites,
      speed: r.speed,
    };
  } else {
    attributes.invalidPosition = true;
  }
  return record;
}

function hasPosition(r: AvlRecord): boolean {
  return Math.abs(r.latitude) <= 90 && Math.abs(r.longitude) <= 180 && r.angle <= 360;
}

/** Raw IO by id; a variable-length value too large for the bus schema is left out rather than refused. */
function boundedIo(io: AvlRecord['io']): Record<string, number | string> {
  const raw = rawIoById(io);
  for (const [id, value] of Object.entries(raw)) {
    if (typeof value === 'string' && value.length > MAX_IO_STRING) delete raw[id];
  }
  return raw;
}

// --- direct writer -------------------------------------------------------------------------------

/** The envelope up to the body's bin header: `{hdr: {proto, typ}, body: ` — taken from the encoder. */
const ENVELOPE_PREFIX = (() => {
  const probe = encodeProtoMsg({
    hdr: { proto: PROTO.TELEMETRY, typ: MSG_TYPE.TELEMETRY.RECORD },
    body: Uint8Array.of(0xc0),
  });
  return probe.slice(0, probe.length - 3); // minus bin8 header (c4 01) and the one body byte
})();

/** Map keys encoded once: a key is then a copy of a few bytes instead of a UTF-8 encode. */
const KEY = {
  tenant: encodeMsgpack('tenant'),
  deviceId: encodeMsgpack('deviceId'),
  source: encodeMsgpack('source'),
  codec: encodeMsgpack('codec'),
  records: encodeMsgpack('records'),
  deviceTime: encodeMsgpack('deviceTime'),
  receivedAt: encodeMsgpack('receivedAt'),
  priority: encodeMsgpack('priority'),
  eventIoId: encodeMsgpack('eventIoId'),
  io: encodeMsgpack('io'),
  attributes: encodeMsgpack('attributes'),
  position: encodeMsgpack('position'),
  lat: encodeMsgpack('lat'),
  lon: encodeMsgpack('lon'),
  alt: encodeMsgpack('alt'),
  angle: encodeMsgpack('angle'),
  satellites: encodeMsgpack('satellites'),
  speed: encodeMsgpack('speed'),
  generationType: encodeMsgpack('generationType'),
  invalidPosition: encodeMsgpack('invalidPosition'),
} as const;

/** One writer for every message: the body is copied into its envelope before the next encode. */
const scratch = new MsgpackWriter(16 * 1024);
const MAX_SCRATCH_KEPT = 256 * 1024;

/** Two ids with one name would make the reference keep one key where the writer writes two. */
const NAMES_UNIQUE = (() => {
  const all = [...Object.values(IO_ELEMENTS).map((spec) => spec.name), 'generationType', 'invalidPosition'];
  return new Set(all).size === all.length;
})();

/** Returns undefined when the reference path must decide (it validates, and may refuse). Exported for tests. */
export function encodeDirect(
  tenant: TenantId,
  deviceId: DeviceId,
  packet: AvlPacket,
  receivedAt: number,
  idsChecked = false,
): Uint8Array | undefined {
  const { records } = packet;
  if (!NAMES_UNIQUE || records.length < 1 || records.length > MAX_RECORDS_PER_MESSAGE) return undefined;
  if (!idsChecked && (!isTenantId(tenant) || !isDeviceId(deviceId))) return undefined;
  if (!intIn(receivedAt, 0, MAX_EPOCH_MS)) return undefined;
  scratch.reset(MAX_SCRATCH_KEPT);
  const w = scratch;
  w.mapHeader(5);
  w.raw(KEY.tenant);
  w.string(tenant);
  w.raw(KEY.deviceId);
  w.string(deviceId);
  w.raw(KEY.source);
  w.string(TELEMETRY_SOURCE.TELTONIKA);
  w.raw(KEY.codec);
  w.number(packet.codec);
  w.raw(KEY.records);
  w.arrayHeader(records.length);
  for (const record of records) if (!writeRecord(w, record, receivedAt)) return undefined;
  return wrapInEnvelope(w.written());
}

function wrapInEnvelope(body: Uint8Array): Uint8Array | undefined {
  const length = body.length;
  const binHeader = length <= 0xff ? 2 : length <= 0xffff ? 3 : 5;
  const total = ENVELOPE_PREFIX.length + binHeader + length;
  if (total > BUS_MAX_MESSAGE_BYTES) return undefined;
  // From Node's shared pool (messages are small): a fresh ArrayBuffer each showed in the profile.
  // Every byte is written below.
  const out = Buffer.allocUnsafe(total);
  out.set(ENVELOPE_PREFIX);
  let at = ENVELOPE_PREFIX.length;
  if (binHeader === 2) {
    out[at++] = 0xc4;
    out[at++] = length;
  } else if (binHeader === 3) {
    out[at++] = 0xc5;
    out[at++] = length >>> 8;
    out[at++] = length & 0xff;
  } else {
    out[at++] = 0xc6;
    out.writeUInt32BE(length, at);
    at += 4;
  }
  out.set(body, at);
  return new Uint8Array(out.buffer, out.byteOffset, total);
}

/** Key order and presence as toTelemetryRecord builds the object (the writer keeps insertion order). */
function writeRecord(w: MsgpackWriter, r: AvlRecord, receivedAt: number): boolean {
  if (!intIn(r.timestamp, 0, MAX_EPOCH_MS) || !intIn(r.priority, 0, 255) || !intIn(r.eventIoId, 0, 65535))
    return false;
  const position = hasPosition(r);
  if (position && !positionFits(r)) return false;
  w.mapHeader(position ? 7 : 6);
  w.raw(KEY.deviceTime);
  w.number(r.timestamp);
  w.raw(KEY.receivedAt);
  w.number(receivedAt);
  w.raw(KEY.priority);
  w.number(r.priority);
  w.raw(KEY.eventIoId);
  w.number(r.eventIoId);
  w.raw(KEY.io);
  if (!writeIo(w, r.io)) return false;
  w.raw(KEY.attributes);
  if (!writeAttributes(w, r, position)) return false;
  if (position) writePosition(w, r);
  return true;
}

/** What the Position schema asks beyond hasPosition (always true for decoded packets). */
function positionFits(r: AvlRecord): boolean {
  return (
    Number.isFinite(r.latitude) &&
    Number.isFinite(r.longitude) &&
    Number.isFinite(r.altitude) &&
    r.angle >= 0 &&
    intIn(r.satellites, 0, 255) &&
    r.speed >= 0 &&
    Number.isFinite(r.speed)
  );
}

function writePosition(w: MsgpackWriter, r: AvlRecord): void {
  w.raw(KEY.position);
  w.mapHeader(6);
  w.raw(KEY.lat);
  w.number(r.latitude);
  w.raw(KEY.lon);
  w.number(r.longitude);
  w.raw(KEY.alt);
  w.number(r.altitude);
  w.raw(KEY.angle);
  w.number(r.angle);
  w.raw(KEY.satellites);
  w.number(r.satellites);
  w.raw(KEY.speed);
  w.number(r.speed);
}

/** Reused between records: the IO indexes in ascending id order (only the first n of a record count). */
const order: number[] = [];
/** The encoded `io` key of every id seen (at most 65,536 small arrays). */
const ID_KEYS: Uint8Array[] = [];

/**
 * An object's integer-like keys enumerate in ascending numeric order, so the reference `io` map is
 * sorted by id; repeated ids (last one wins there) are left to the reference path.
 */
function writeIo(w: MsgpackWriter, io: readonly IoValue[]): boolean {
  const n = io.length;
  if (n > MAX_IO_KEYS || !sortById(io, n)) return false;
  w.mapHeader(n);
  for (let k = 0; k < n; k++) {
    const element = io[order[k]!]!;
    w.raw(ID_KEYS[element.id] ?? idKey(element.id));
    if (element.width === 'x') {
      if (element.value.length * 2 > MAX_IO_STRING) return false;
      w.string(bytesToHex(element.value));
    } else if (element.width === 8) w.string(element.value.toString());
    else w.number(element.value);
  }
  return true;
}

function idKey(id: number): Uint8Array {
  const key = encodeMsgpack(String(id));
  ID_KEYS[id] = key;
  return key;
}

/** Insertion sort of indexes (a record has a handful of IO elements); false on a repeated id. */
function sortById(io: readonly IoValue[], n: number): boolean {
  // Not truncated to n: setting an array's length is a runtime call, and only [0, n) is read.
  for (let i = 0; i < n; i++) {
    const id = io[i]!.id;
    if (!intIn(id, 0, 65535)) return false;
    let j = i - 1;
    while (j >= 0 && io[order[j]!]!.id > id) {
      order[j + 1] = order[j]!;
      j--;
    }
    if (j >= 0 && io[order[j]!]!.id === id) return false;
    order[j + 1] = i;
  }
  return true;
}

/** IO_ELEMENTS as an array by id (an object with integer keys is a slower lookup), and the encoded names. */
const SPECS: Array<IoElementSpec | undefined> = [];
const NAME_KEYS: Uint8Array[] = [];
for (const [id, spec] of Object.entries(IO_ELEMENTS)) {
  SPECS[Number(id)] = spec;
  NAME_KEYS[Number(id)] = encodeMsgpack(spec.name);
}

/** Reused between records: the named readings in wire order (encoded names); the first `count` are this record's. */
const names: Uint8Array[] = [];
const readings: IoReading[] = [];

function writeAttributes(w: MsgpackWriter, r: AvlRecord, position: boolean): boolean {
  let count = 0;
  for (const element of r.io) {
    const spec = SPECS[element.id];
    if (spec === undefined || (spec.widths !== undefined && !spec.widths.includes(element.width))) continue;
    const reading = spec.read(element);
    if (reading === undefined) continue;
    if (!scalarFits(reading)) return false;
    names[count] = NAME_KEYS[element.id]!;
    readings[count++] = reading;
  }
  if (r.generationType !== undefined) {
    if (!scalarFits(r.generationType)) return false;
    names[count] = KEY.generationType;
    readings[count++] = r.generationType;
  }
  w.mapHeader(count + (position ? 0 : 1));
  for (let i = 0; i < count; i++) {
    w.raw(names[i]!);
    w.value(readings[i]!);
  }
  if (!position) {
    w.raw(KEY.invalidPosition);
    w.value(true);
  }
  return true;
}

function scalarFits(value: IoReading): boolean {
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value === 'string') return value.length <= MAX_ATTRIBUTE_STRING;
  return typeof value === 'boolean';
}

function intIn(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}
