/**
 * Codec 12 (GPRS command/response), Codec 13 (timestamped device message) and Codec 14 (command
 * addressed by IMEI). Layout inside the TCP envelope:
 * codec | quantity 1 | type | u32 size | payload(size) | quantity 2.
 * None of these is ever acknowledged with a record count.
 */

import { ByteReader, ByteWriter, bytesToHex, hexToBytes, isHexPairs } from './bytes.ts';
import { CodecId } from './codec-ids.ts';
import { TeltonikaError } from './errors.ts';
import { checkImeiDigits } from './login.ts';
import { readQuantity2, unwrapDataFrame, wrapDataFrame } from './packet.ts';

export const CommandType = { COMMAND: 0x05, RESPONSE: 0x06, NACK: 0x11 } as const;
export type CommandType = (typeof CommandType)[keyof typeof CommandType];

/** 'response' is 0x06, which Codec 14 calls the device ACK (command executed). */
export type CommandTypeName = 'command' | 'response' | 'nack';

const TYPE_BY_NAME: Readonly<Record<CommandTypeName, CommandType>> = {
  command: CommandType.COMMAND,
  response: CommandType.RESPONSE,
  nack: CommandType.NACK,
};

export interface Codec12Message {
  readonly kind: 'codec12';
  readonly type: 'command' | 'response';
  readonly bytes: Uint8Array;
  /** The payload as UTF-8 (device answers are ASCII); check `bytes` for binary payloads. */
  readonly text: string;
}

export interface Codec13Message {
  readonly kind: 'codec13';
  /** The wiki example uses 0x06 and Traccar's test data 0x05; both are accepted. */
  readonly type: 'command' | 'response';
  /** Milliseconds since the epoch; the wire carries whole seconds. */
  readonly timestamp: number;
  readonly bytes: Uint8Array;
  readonly text: string;
}

export interface Codec14Message {
  readonly kind: 'codec14';
  readonly type: CommandTypeName;
  readonly imei: string;
  readonly bytes: Uint8Array;
  readonly text: string;
}

export interface Codec12Options {
  /** Default 'command' (0x05, server → device); simulators answer with 'response' (0x06). */
  readonly type?: 'command' | 'response';
  /**
   * Send a command made only of hex pairs (e.g. "03030000000185E8") as those raw bytes, as
   * Traccar does. Off by default, so "getinfo"-style text is never reinterpreted by accident.
   */
  readonly hexAsBinary?: boolean;
}

export interface Codec13Options {
  /** Default 'response' (0x06), as in the wiki example. */
  readonly type?: 'command' | 'response';
}

export interface Codec14Options {
  /** Default 'command' (0x05); devices answer 'response' (0x06, ACK) or 'nack' (0x11). */
  readonly type?: CommandTypeName;
}

const TIMESTAMP_BYTES = 4;
const IMEI_BYTES = 8;
const IMEI_MAX_DIGITS = IMEI_BYTES * 2;

const utf8Encoder = new TextEncoder();
/** Lenient on purpose: a stray non-UTF-8 byte in a device answer should not lose the answer. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export function encodeCodec12(command: string | Uint8Array, options: Codec12Options = {}): Uint8Array {
  const payload = commandPayload(command, options.hexAsBinary ?? false);
  return encodeCommandFrame(CodecId.CODEC_12, options.type ?? 'command', payload);
}

export function encodeCodec13(
  message: string | Uint8Array,
  timestampMs: number,
  options: Codec13Options = {},
): Uint8Array {
  const seconds = Math.floor(timestampMs / 1000);
  const header = new ByteWriter().u32(seconds, 'timestamp (s)').finish();
  return encodeCommandFrame(
    CodecId.CODEC_13,
    options.type ?? 'response',
    concat(header, commandPayload(message)),
  );
}

export function encodeCodec14(
  imei: string,
  command: string | Uint8Array,
  options: Codec14Options = {},
): Uint8Array {
  checkImeiDigits(imei, IMEI_MAX_DIGITS);
  const imeiBytes = hexToBytes(imei.padStart(IMEI_MAX_DIGITS, '0'));
  return encodeCommandFrame(
    CodecId.CODEC_14,
    options.type ?? 'command',
    concat(imeiBytes, commandPayload(command)),
  );
}

export function decodeCodec12(frame: Uint8Array): Codec12Message {
  return decodeCodec12Body(unwrapDataFrame(frame));
}

export function decodeCodec13(frame: Uint8Array): Codec13Message {
  return decodeCodec13Body(unwrapDataFrame(frame));
}

export function decodeCodec14(frame: Uint8Array): Codec14Message {
  return decodeCodec14Body(unwrapDataFrame(frame));
}

export function decodeCodec12Body(body: Uint8Array): Codec12Message {
  const { type, payload } = readCommandBody(body, CodecId.CODEC_12, ['command', 'response']);
  return { kind: 'codec12', type, bytes: payload, text: utf8Decoder.decode(payload) };
}

export function decodeCodec13Body(body: Uint8Array): Codec13Message {
  const { type, payload } = readCommandBody(body, CodecId.CODEC_13, ['command', 'response']);
  checkPayloadPrefix(payload, TIMESTAMP_BYTES, 'timestamp');
  const seconds = new DataView(payload.buffer, payload.byteOffset).getUint32(0);
  const bytes = payload.subarray(TIMESTAMP_BYTES);
  return { kind: 'codec13', type, timestamp: seconds * 1000, bytes, text: utf8Decoder.decode(bytes) };
}

export function decodeCodec14Body(body: Uint8Array): Codec14Message {
  const { type, payload } = readCommandBody(body, CodecId.CODEC_14, ['command', 'response', 'nack']);
  checkPayloadPrefix(payload, IMEI_BYTES, 'imei');
  const imei = imeiFromNibbles(payload.subarray(0, IMEI_BYTES));
  const bytes = payload.subarray(IMEI_BYTES);
  return { kind: 'codec14', type, imei, bytes, text: utf8Decoder.decode(bytes) };
}

function commandPayload(command: string | Uint8Array, hexAsBinary = false): Uint8Array {
  if (typeof command !== 'string') return command;
  return hexAsBinary && isHexPairs(command) ? hexToBytes(command) : utf8Encoder.encode(command);
}

function encodeCommandFrame(codec: CodecId, typeName: CommandTypeName, payload: Uint8Array): Uint8Array {
  const type = TYPE_BY_NAME[typeName];
  if (type === undefined) {
    throw new TeltonikaError('NOT_ENCODABLE', `unknown command type ${String(typeName)}`, {
      field: 'type',
      actual: String(typeName),
    });
  }
  const body = new ByteWriter()
    .u8(codec, 'codec')
    .u8(1, 'quantity 1')
    .u8(type, 'type')
    .u32(payload.length, 'command size')
    .bytes(payload)
    .u8(1, 'quantity 2')
    .finish();
  return wrapDataFrame(body);
}

function readCommandBody<T extends CommandTypeName>(
  body: Uint8Array,
  codec: CodecId,
  allowedTypes: readonly T[],
): { type: T; payload: Uint8Array } {
  const reader = new ByteReader(body);
  const actualCodec = reader.u8();
  if (actualCodec !== codec) {
    throw new TeltonikaError('UNKNOWN_CODEC', `expected codec 0x${hex8(codec)}, got 0x${hex8(actualCodec)}`, {
      field: 'codec',
      expected: codec,
      actual: actualCodec,
      offset: 0,
    });
  }
  // Quantity 1 "is ignored when parsing" (wiki) but must still match quantity 2.
  const quantity1 = reader.u8();
  const type = readType(reader, codec, allowedTypes);
  const payload = reader.bytes(reader.u32());
  readQuantity2(reader, quantity1);
  return { type, payload };
}

function readType<T extends CommandTypeName>(reader: ByteReader, codec: CodecId, allowed: readonly T[]): T {
  const offset = reader.offset;
  const type = reader.u8();
  const name = allowed.find((candidate) => TYPE_BY_NAME[candidate] === type);
  if (name === undefined) {
    throw new TeltonikaError(
      'BAD_COMMAND_TYPE',
      `type 0x${hex8(type)} is not valid for codec 0x${hex8(codec)}`,
      {
        field: 'type',
        expected: allowed.map((candidate) => `0x${hex8(TYPE_BY_NAME[candidate])}`).join('|'),
        actual: type,
        offset,
      },
    );
  }
  return name;
}

function checkPayloadPrefix(payload: Uint8Array, length: number, field: string): void {
  if (payload.length < length) {
    throw new TeltonikaError(
      'BAD_FIELD',
      `command size ${payload.length} cannot hold the ${length}-byte ${field}`,
      {
        field: 'command size',
        expected: length,
        actual: payload.length,
      },
    );
  }
}

/** IMEI digits as hex nibbles, left-padded with 0 to 16 nibbles: 15-digit IMEIs lose the pad. */
function imeiFromNibbles(bytes: Uint8Array): string {
  const nibbles = bytesToHex(bytes);
  if (!/^[0-9]+$/.test(nibbles)) {
    throw new TeltonikaError('BAD_IMEI', `IMEI field ${nibbles} holds non-decimal nibbles`, {
      field: 'imei',
      actual: nibbles,
    });
  }
  return nibbles.startsWith('0') ? nibbles.slice(1) : nibbles;
}

function concat(head: Uint8Array, tail: Uint8Array): Uint8Array {
  const joined = new Uint8Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return joined;
}

function hex8(value: number): string {
  return value.toString(16).padStart(2, '0');
}
