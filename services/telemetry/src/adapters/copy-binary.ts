import type { StoredRecord } from './telemetry-store.ts';

/** The columns, in order, that `encodeTelemetryCopy` writes for every row. */
export const TELEMETRY_COPY_COLUMNS =
  'tenant_id, device_id, device_time, event_io, received_at, priority, latitude, longitude, altitude, angle, satellites, speed, io, attributes, source';
const FIELDS = 15;

/** PostgreSQL timestamps count microseconds from 2000-01-01 UTC. */
const PG_EPOCH_MS = 946_684_800_000;
const MAX_TIMESTAMP_MS = 8_640_000_000_000_000;
const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const JSONB_VERSION = 1;

/**
 * A value PostgreSQL would refuse. It carries SQLSTATE 22003 (numeric value out of range) so the
 * writer treats it like a data error from the database: the offending message becomes poison.
 */
export class CopyDataError extends Error {
  readonly code = '22003';
}

/**
 * Encodes records as a binary COPY stream (`copy telemetry (…) from stdin (format binary)`).
 * PostgreSQL then parses no text at all except the two jsonb columns: numbers and timestamps
 * arrive in their storage format. That is what makes COPY several times cheaper for the server
 * than `jsonb_to_recordset` over one JSON document (bench: ≈ 20 vs ≈ 45 CPU ms per 1,000 rows).
 */
export function encodeTelemetryCopy(records: readonly StoredRecord[]): Buffer {
  const w = new CopyWriter(records.length * 512 + 64);
  w.header();
  for (const r of records) w.row(r);
  w.trailer();
  return w.done();
}

/**
 * Fields are `int32 length` + bytes in network order; length -1 is NULL. One writer takes a whole
 * batch: rows of decoded records (`row`) and rows written straight from bus messages (direct-copy.ts,
 * which uses the byte-level methods and `rewind` when it must hand a message back).
 */
export class CopyWriter {
  #buf: Buffer;
  #at = 0;
  constructor(size: number) {
    this.#buf = Buffer.allocUnsafe(size);
  }

  header(): void {
    this.raw(SIGNATURE);
    this.int32(0); // flags
    this.int32(0); // header extension length
  }

  trailer(): void {
    this.int16(-1);
  }

  row(r: StoredRecord): void {
    this.rowUpToSpeed(r);
    this.jsonb(r.io);
    this.jsonb(r.attributes);
    this.text(r.source);
  }

  /**
   * The tuple header and every column before `io`, in TELEMETRY_COPY_COLUMNS order; the rest of the
   * row is `io`, `attributes` (jsonb) and `source` (text), written by `row` or by the direct path.
   */
  rowUpToSpeed(r: StoredRecord): void {
    this.int16(FIELDS);
    this.text(r.tenantId);
    this.text(r.deviceId);
    this.timestamp(r.deviceTime);
    this.int4(r.eventIo);
    this.timestamp(r.receivedAt);
    this.int2(r.priority);
    this.float8(r.latitude);
    this.float8(r.longitude);
    this.int4(r.altitude);
    this.int4(r.angle);
    this.int2(r.satellites);
    this.int4(r.speed);
  }

  get position(): number {
    return this.#at;
  }

  /** Forgets everything written after `position` (a row that turned out not to be writable). */
  rewind(position: number): void {
    this.#at = position;
  }

  /** Copies `bytes[start, end)`; short ones byte by byte (a subarray per call cost more). */
  slice(bytes: Uint8Array, start: number, end: number): void {
    this.#room(end - start);
    if (end - start > 32) {
      this.#buf.set(bytes.subarray(start, end), this.#at);
      this.#at += end - start;
      return;
    }
    const buf = this.#buf;
    let at = this.#at;
    for (let i = start; i < end; i++) buf[at++] = bytes[i]!;
    this.#at = at;
  }

  /** A number as JSON.stringify writes it; small integers digit by digit (no string). */
  jsonNumber(v: number): void {
    if (!(Number.isInteger(v) && v >= 0 && v < 1e15) || Object.is(v, -0)) {
      this.utf8(String(v));
      return;
    }
    this.#room(16);
    const buf = this.#buf;
    let digits = 1;
    for (let x = v; x >= 10; x = Math.floor(x / 10)) digits++;
    let at = this.#at + digits;
    this.#at = at;
    let x = v;
    do {
      buf[--at] = 0x30 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
  }

  byte(b: number): void {
    this.#room(1);
    this.#buf[this.#at++] = b;
  }

  /** Text with no length prefix (inside a jsonb field). */
  utf8(s: string): void {
    this.#room(s.length * 3);
    this.#at += this.#buf.write(s, this.#at, 'utf8');
  }

  /** Starts a jsonb field whose text follows; `endJsonb(start)` fills in its length. */
  startJsonb(): number {
    const start = this.#at;
    this.#room(5);
    this.#buf[this.#at + 4] = JSONB_VERSION;
    this.#at += 5;
    return start;
  }

  endJsonb(start: number): void {
    this.#buf.writeInt32BE(this.#at - start - 4, start);
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(bigger, 0, 0, this.#at);
    this.#buf = bigger;
  }

  raw(bytes: Buffer): void {
    this.#room(bytes.length);
    this.#at += bytes.copy(this.#buf, this.#at);
  }

  int16(v: number): void {
    this.#room(2);
    this.#at = this.#buf.writeInt16BE(v, this.#at);
  }

  int32(v: number): void {
    this.#room(4);
    this.#at = this.#buf.writeInt32BE(v, this.#at);
  }

  #null(): void {
    this.int32(-1);
  }

  int2(v: number | null): void {
    if (v === null) {
      this.#null();
      return;
    }
    integerIn(v, -32_768, 32_767);
    this.int32(2);
    this.int16(v);
  }

  int4(v: number | null): void {
    if (v === null) {
      this.#null();
      return;
    }
    integerIn(v, -2_147_483_648, 2_147_483_647);
    this.int32(4);
    this.int32(v);
  }

  float8(v: number | null): void {
    if (v === null) {
      this.#null();
      return;
    }
    this.#room(12);
    this.#at = this.#buf.writeInt32BE(8, this.#at);
    this.#at = this.#buf.writeDoubleBE(v, this.#at);
  }

  timestamp(ms: number): void {
    // Date's range; what PostgreSQL refuses beyond it fails the COPY and then the exact path.
    if (!Number.isFinite(ms) || Math.abs(ms) > MAX_TIMESTAMP_MS)
      throw new CopyDataError(`timestamp out of range: ${ms}`);
    this.#room(12);
    this.#at = this.#buf.writeInt32BE(8, this.#at);
    // Two 32-bit halves rather than a BigInt per field; exact up to year 2255 (safe integers).
    const micros = Math.round((ms - PG_EPOCH_MS) * 1000);
    const high = Math.floor(micros / 2 ** 32);
    this.#at = this.#buf.writeInt32BE(high, this.#at);
    this.#at = this.#buf.writeUInt32BE(micros - high * 2 ** 32, this.#at);
  }

  text(s: string): void {
    this.#room(4 + s.length * 3);
    const n = this.#buf.write(s, this.#at + 4, 'utf8');
    this.#buf.writeInt32BE(n, this.#at);
    this.#at += 4 + n;
  }

  /** jsonb's binary input is a version byte followed by the JSON text. */
  jsonb(value: unknown): void {
    const s = JSON.stringify(value);
    this.#room(5 + s.length * 3);
    const n = this.#buf.write(s, this.#at + 5, 'utf8');
    this.#buf.writeInt32BE(n + 1, this.#at);
    this.#buf[this.#at + 4] = JSONB_VERSION;
    this.#at += 5 + n;
  }

  done(): Buffer {
    return this.#buf.subarray(0, this.#at);
  }
}

function integerIn(v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) throw new CopyDataError(`integer out of range: ${v}`);
}
