/**
 * ProtoMsg: the msgpack envelope of Mender device-connect, byte-compatible with Go's
 * `github.com/mendersoftware/go-lib-micro/ws.ProtoMsg` encoded by vmihailenco/msgpack v5:
 *
 *   { "hdr": { "proto": uint16, "typ"?: str, "sid"?: str, "props"?: map }, "body"?: bin }
 *
 * Go's `omitempty` drops an empty typ/sid, an empty or nil props map and an empty body, and writes
 * the `uint16` proto in its fixed 3-byte form (0xcd hi lo). The encoder here does the same, so the
 * same message produces the same bytes on both sides. The decoder accepts any integer encoding of
 * proto and any key order, but nothing else outside that shape.
 */
import { PROTOCOL_ERROR, ProtocolError } from './errors.ts';
import { DEFAULT_MAX_DEPTH, giveBack, type MsgpackReader, MsgpackWriter, takeReader } from './msgpack.ts';

/**
 * Protocol numbers. Mender assigns 1, 2, 3, 4 (counting up) and reserves 0xFFFF for control.
 * fleetwire's own protocols live in 0x0100–0x01FF: far from Mender's counter (room for 5–255)
 * and from 0xFFFF, and the Go encoder writes every proto as 3 bytes anyway, so there is no cost.
 */
export const PROTO = {
  INVALID: 0,
  SHELL: 1,
  FILE_TRANSFER: 2,
  PORT_FORWARD: 3,
  MENDER_CLIENT: 4,
  TELEMETRY: 0x0100,
  /** Device events and alerts. */
  EVENT: 0x0101,
  STATUS: 0x0102,
  COMMAND: 0x0103,
  LOG: 0x0104,
  /** Reserved for firmware/software updates; no payload schemas yet. */
  UPDATE: 0x0105,
  CONTROL: 0xffff,
} as const;

export type Proto = (typeof PROTO)[keyof typeof PROTO];

export const FLEETWIRE_PROTO_RANGE = { min: 0x0100, max: 0x01ff } as const;

export function isFleetwireProto(proto: number): boolean {
  return proto >= FLEETWIRE_PROTO_RANGE.min && proto <= FLEETWIRE_PROTO_RANGE.max;
}

/** Message types (`hdr.typ`) per protocol. Mender's are listed for routing and compatibility. */
export const MSG_TYPE = {
  /**
   * Mender's control types, plus fleetwire's `ack`: the edge's answer to a device message that carried
   * `props.msgid`, sent once the message is durable (echoing the msgid). Mender devices never ask for it.
   */
  CONTROL: {
    PING: 'ping',
    PONG: 'pong',
    OPEN: 'open',
    ACCEPT: 'accept',
    CLOSE: 'close',
    ERROR: 'error',
    ACK: 'ack',
  },
  SHELL: { NEW: 'new', STOP: 'stop', SHELL: 'shell', RESIZE: 'resize', PING: 'ping', PONG: 'pong' },
  FILE_TRANSFER: {
    GET_FILE: 'get_file',
    PUT_FILE: 'put_file',
    STAT: 'stat',
    FILE_INFO: 'file_info',
    FILE_CHUNK: 'file_chunk',
    ACK: 'ack',
    ERROR: 'error',
  },
  PORT_FORWARD: { NEW: 'new', STOP: 'stop', FORWARD: 'forward', ACK: 'ack', ERROR: 'error' },
  MENDER_CLIENT: { CHECK_UPDATE: 'check-update', SEND_INVENTORY: 'send-inventory' },
  /** Device → edge: a batch of records. On the bus: the normalised TelemetryMessage. */
  TELEMETRY: { RECORD: 'record', SUMMARY: 'summary' },
  /** `webhook` exists only on the bus: a notifier delivery. */
  EVENT: { EVENT: 'event', ALERT: 'alert', WEBHOOK: 'webhook' },
  /** `presence` exists only on the bus (published by edges, not devices). */
  STATUS: { HEARTBEAT: 'heartbeat', STATE: 'state', PRESENCE: 'presence' },
  /**
   * Device leg: `request` (cloud → device), `ack` (device received it), `result` (device finished).
   * Bus: `ack`/`result`/`reply` on `up.<device>.reply`, `state` on `cmd.<device>.<state>`.
   */
  COMMAND: {
    REQUEST: 'request',
    ACK: 'ack',
    RESULT: 'result',
    REPLY: 'reply',
    STATE: 'state',
    DISPATCH: 'dispatch',
  },
  LOG: { ENTRY: 'entry', UPLOAD_READY: 'upload-ready' },
  UPDATE: { OFFER: 'offer', PROGRESS: 'progress' },
} as const;

/** Property keys used in `hdr.props`. `msgid` is Mender's only request/response correlation. */
export const PROP = {
  MSGID: 'msgid',
  STATUS: 'status',
  USER_ID: 'user_id',
  TERMINAL_WIDTH: 'terminal_width',
  TERMINAL_HEIGHT: 'terminal_height',
  TIMEOUT: 'timeout',
  OFFSET: 'offset',
  CONNECTION_ID: 'connection_id',
} as const;

/** Values of `props.status` (shell and mender-client protocols). */
export const PROP_STATUS = { NORMAL: 1, ERROR: 2, CONTROL: 3 } as const;

/** deviceconnect's WebSocket read limit for device → server frames. */
export const MENDER_SERVER_MAX_FRAME_BYTES = 8 * 1024 * 1024;
/** mender-connect's read limit: a server → device frame must not exceed 8 KiB. */
export const MENDER_DEVICE_MAX_FRAME_BYTES = 8192;

/** `props.msgid` when it is a string: the id a Mender error body echoes back as `msgid`. */
export function msgIdOf(msg: ProtoMsg): string | undefined {
  const id = msg.hdr.props?.[PROP.MSGID];
  return typeof id === 'string' ? id : undefined;
}

export interface ProtoHeader {
  proto: number;
  typ?: string;
  sid?: string;
  props?: Record<string, unknown>;
}

export interface ProtoMsg {
  hdr: ProtoHeader;
  /** On decode: a view into the input bytes, not a copy. */
  body?: Uint8Array;
}

export interface DecodeLimits {
  /** Checked before any parsing. Default 8 MiB. */
  maxFrameBytes?: number;
  /** Checked against the declared bin length before it is read. Default: maxFrameBytes. */
  maxBodyBytes?: number;
  /** Maximum container nesting, counted from the top-level map. Default 32. */
  maxDepth?: number;
}

export interface EncodeOptions {
  /** Refuse to produce a larger frame (e.g. MENDER_DEVICE_MAX_FRAME_BYTES for mender-connect). */
  maxFrameBytes?: number;
}

export function encodeProtoMsg(msg: ProtoMsg, options: EncodeOptions = {}): Uint8Array {
  const writer = takeWriter();
  try {
    writeProtoMsg(writer, msg, options);
    return writer.finish();
  } finally {
    giveBackWriter(writer);
  }
}

/**
 * `encodeProtoMsg` into a shared buffer: the result is a view that the next encode overwrites, so
 * it must be used (e.g. copied into a WebSocket frame) before anything else is encoded. Spares the
 * copy where the bytes are copied anyway.
 */
export function encodeProtoMsgScratch(msg: ProtoMsg, options: EncodeOptions = {}): Uint8Array {
  // Inside an encode (a getter that encodes) the scratch writer is busy: an owned copy then.
  if (scratchLent) return encodeProtoMsg(msg, options);
  const writer = takeWriter();
  try {
    writeProtoMsg(writer, msg, options);
    // Given back, yet the view stays valid until the next encode takes the writer again.
    return writer.written();
  } finally {
    giveBackWriter(writer);
  }
}

function writeProtoMsg(writer: MsgpackWriter, msg: ProtoMsg, options: EncodeOptions): void {
  const { hdr, body } = checkEncodable(msg);
  const hasBody = body !== undefined && body.length > 0;
  writer.mapHeader(hasBody ? 2 : 1);
  writer.raw(KEY_HDR);
  writeHeader(writer, hdr);
  if (hasBody) {
    writer.raw(KEY_BODY);
    writer.bin(body);
  }
  if (options.maxFrameBytes !== undefined && writer.length > options.maxFrameBytes) {
    throw new ProtocolError(
      PROTOCOL_ERROR.TOO_LARGE,
      `frame of ${writer.length} bytes exceeds ${options.maxFrameBytes}`,
    );
  }
}

/** The envelope's keys, encoded once (fixstr): written per message as they are. */
const KEY_HDR = msgpackKey('hdr');
const KEY_BODY = msgpackKey('body');
const KEY_PROTO = msgpackKey('proto');
const KEY_TYP = msgpackKey('typ');
const KEY_SID = msgpackKey('sid');
const KEY_PROPS = msgpackKey('props');

function msgpackKey(key: string): Uint8Array {
  const writer = new MsgpackWriter(16);
  writer.string(key);
  return writer.finish();
}

/** One writer for every envelope (a frame is written, copied out, then forgotten). */
const scratchWriter = new MsgpackWriter(4 * 1024);
let scratchLent = false;
/** A huge earlier frame grew the buffer: do not keep that much memory for every later one. */
const MAX_SCRATCH_KEPT = 1024 * 1024;

/** The scratch writer when free, else (an encode inside an encode, e.g. from a getter) a new one. */
function takeWriter(): MsgpackWriter {
  if (scratchLent) return new MsgpackWriter(256);
  scratchLent = true;
  scratchWriter.reset(MAX_SCRATCH_KEPT);
  return scratchWriter;
}

function giveBackWriter(writer: MsgpackWriter): void {
  if (writer === scratchWriter) scratchLent = false;
}

function writeHeader(writer: MsgpackWriter, hdr: ProtoHeader): void {
  const hasTyp = Boolean(hdr.typ);
  const hasSid = Boolean(hdr.sid);
  const hasProps = definedEntries(hdr.props) > 0;
  writer.mapHeader(1 + (hasTyp ? 1 : 0) + (hasSid ? 1 : 0) + (hasProps ? 1 : 0));
  writer.raw(KEY_PROTO);
  writer.uint16Fixed(hdr.proto);
  if (hasTyp) {
    writer.raw(KEY_TYP);
    writer.string(hdr.typ!);
  }
  if (hasSid) {
    writer.raw(KEY_SID);
    writer.string(hdr.sid!);
  }
  if (hasProps) {
    writer.raw(KEY_PROPS);
    writer.enter('hdr');
    writer.enter('props');
    writer.map(hdr.props!, 2);
    writer.leave();
    writer.leave();
  }
}

function definedEntries(record: Record<string, unknown> | undefined): number {
  if (record === undefined) return 0;
  let defined = 0;
  for (const key in record) if (Object.hasOwn(record, key) && record[key] !== undefined) defined++;
  return defined;
}

function checkEncodable(msg: ProtoMsg): ProtoMsg {
  const invalid = (path: string | undefined, message: string): never => {
    throw new ProtocolError(PROTOCOL_ERROR.INVALID_VALUE, message, { path });
  };
  if (typeof msg !== 'object' || msg === null) invalid(undefined, 'message must be an object');
  const { hdr, body } = msg;
  if (typeof hdr !== 'object' || hdr === null) invalid('hdr', 'header must be an object');
  if (!isUint16(hdr.proto) || hdr.proto === PROTO.INVALID)
    invalid('hdr.proto', 'proto must be an integer 1–65535');
  if (hdr.typ !== undefined && typeof hdr.typ !== 'string') invalid('hdr.typ', 'typ must be a string');
  if (hdr.sid !== undefined && typeof hdr.sid !== 'string') invalid('hdr.sid', 'sid must be a string');
  if (hdr.props !== undefined && !isRecord(hdr.props)) invalid('hdr.props', 'props must be a plain object');
  if (body !== undefined && !(body instanceof Uint8Array)) invalid('body', 'body must be a Uint8Array');
  return msg;
}

function isUint16(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const DEFAULT_MAX_FRAME_BYTES = MENDER_SERVER_MAX_FRAME_BYTES;

/** Strict decode of one frame. Every failure is a ProtocolError; nothing else is thrown. */
export function decodeProtoMsg(bytes: Uint8Array, limits: DecodeLimits = {}): ProtoMsg {
  const maxFrameBytes = limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (!(bytes instanceof Uint8Array))
    throw new ProtocolError(PROTOCOL_ERROR.WRONG_TYPE, 'frame must be a Uint8Array');
  if (bytes.length > maxFrameBytes) {
    throw new ProtocolError(
      PROTOCOL_ERROR.TOO_LARGE,
      `frame of ${bytes.length} bytes exceeds ${maxFrameBytes}`,
    );
  }
  const reader = takeReader(bytes, limits.maxDepth ?? DEFAULT_MAX_DEPTH);
  try {
    const msg = readEnvelope(reader, limits.maxBodyBytes ?? maxFrameBytes);
    if (reader.remaining > 0) {
      reader.fail(PROTOCOL_ERROR.TRAILING_BYTES, `${reader.remaining} bytes after the message`);
    }
    return msg;
  } finally {
    giveBack(reader);
  }
}

/**
 * Which known keys a map had, one bit each. Every other key is refused as unknown, so a duplicate
 * can only be a known key: a bit per key finds them all without a Set per map.
 */
const SEEN = { hdr: 1, body: 2, proto: 1, typ: 2, sid: 4, props: 8 } as const;

function readEnvelope(reader: MsgpackReader, maxBodyBytes: number): ProtoMsg {
  const count = reader.tryMapHeader();
  if (count === undefined) reader.mismatch(PROTOCOL_ERROR.NOT_A_MAP, 'message must be a msgpack map');
  let hdr: ProtoHeader | undefined;
  let body: Uint8Array | undefined;
  let seen = 0;
  for (let i = 0; i < count; i++) {
    const key = reader.mapKey();
    reader.enter(key);
    if (key === 'hdr') {
      seen = markSeen(reader, seen, SEEN.hdr);
      hdr = readHeader(reader);
    } else if (key === 'body') {
      seen = markSeen(reader, seen, SEEN.body);
      body = readBody(reader, maxBodyBytes);
    } else reader.fail(PROTOCOL_ERROR.UNKNOWN_FIELD, 'unknown top-level key');
    reader.leave();
  }
  if (hdr === undefined) reader.fail(PROTOCOL_ERROR.MISSING_FIELD, 'missing hdr');
  return body === undefined ? { hdr } : { hdr, body };
}

function readHeader(reader: MsgpackReader): ProtoHeader {
  const count = reader.tryMapHeader();
  if (count === undefined) reader.mismatch(PROTOCOL_ERROR.NOT_A_MAP, 'hdr must be a map');
  const hdr: Partial<ProtoHeader> = {};
  let seen = 0;
  for (let i = 0; i < count; i++) {
    const key = reader.mapKey();
    reader.enter(key);
    seen = readHeaderField(reader, key, hdr, seen);
    reader.leave();
  }
  if (hdr.proto === undefined) {
    reader.enter('proto');
    reader.fail(PROTOCOL_ERROR.MISSING_FIELD, 'missing proto');
  }
  return hdr as ProtoHeader;
}

/** Reads one header field into `hdr`; returns the keys seen so far, this one included. */
function readHeaderField(
  reader: MsgpackReader,
  key: string,
  hdr: Partial<ProtoHeader>,
  seen: number,
): number {
  switch (key) {
    case 'proto':
      seen = markSeen(reader, seen, SEEN.proto);
      hdr.proto = readProto(reader);
      return seen;
    case 'typ':
    case 'sid': {
      seen = markSeen(reader, seen, SEEN[key]);
      const text = reader.tryString();
      if (text === undefined) reader.mismatch(PROTOCOL_ERROR.WRONG_TYPE, `${key} must be a string`);
      if (text !== '') hdr[key] = text;
      return seen;
    }
    case 'props': {
      seen = markSeen(reader, seen, SEEN.props);
      const props = readProps(reader);
      if (props !== undefined) hdr.props = props;
      return seen;
    }
    default:
      return reader.fail(PROTOCOL_ERROR.UNKNOWN_FIELD, 'unknown header key');
  }
}

function readProto(reader: MsgpackReader): number {
  const proto = reader.tryInteger();
  if (proto === undefined) reader.mismatch(PROTOCOL_ERROR.WRONG_TYPE, 'proto must be a uint16 integer');
  if (proto < 0 || proto > 0xffff) reader.fail(PROTOCOL_ERROR.WRONG_TYPE, `proto ${proto} is not a uint16`);
  if (proto === PROTO.INVALID) reader.fail(PROTOCOL_ERROR.INVALID_VALUE, 'proto 0 is INVALID');
  return proto;
}

/** A Go nil map decodes like an empty one; both are then omitted. */
function readProps(reader: MsgpackReader): Record<string, unknown> | undefined {
  if (reader.tryNil()) return undefined;
  if (!reader.atMap()) reader.mismatch(PROTOCOL_ERROR.NOT_A_MAP, 'props must be a map');
  // The top-level map and hdr are two containers already entered.
  const props = reader.readValue(2) as Record<string, unknown>;
  for (const _key in props) return props;
  return undefined;
}

/** Go encodes []byte as bin; a nil slice without omitempty arrives as nil. */
function readBody(reader: MsgpackReader, maxBodyBytes: number): Uint8Array | undefined {
  if (reader.tryNil()) return undefined;
  const length = reader.tryBinHeader();
  if (length === undefined) reader.mismatch(PROTOCOL_ERROR.WRONG_TYPE, 'body must be msgpack bin');
  if (length > maxBodyBytes)
    reader.fail(PROTOCOL_ERROR.TOO_LARGE, `body of ${length} bytes exceeds ${maxBodyBytes}`);
  const body = reader.bin(length);
  return body.length > 0 ? body : undefined;
}

function markSeen(reader: MsgpackReader, seen: number, bit: number): number {
  if ((seen & bit) !== 0) reader.fail(PROTOCOL_ERROR.DUPLICATE_KEY, 'duplicate key');
  return seen | bit;
}
