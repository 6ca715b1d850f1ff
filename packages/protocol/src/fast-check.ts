/**
 * Hand-written accept paths for the schemas on the telemetry hot path. TypeBox's compiled checks test
 * every key of every IO map against a regex through `Object.entries`, which made validation the
 * largest single cost of a telemetry message (≈ 12 µs per record). These functions say "valid" only
 * when the TypeBox schema would (a differential property test holds them to it); whenever they say
 * "not sure", the schema decides and produces the error. The schemas in payloads.ts stay the contract.
 */
import type { TSchema } from 'typebox';
import { SAFE_TOKEN_PATTERN } from './ids.ts';
import {
  CommandAckBody,
  CommandReply,
  CommandRequestBody,
  CommandResultBody,
  MAX_RECORDS_PER_MESSAGE,
  TelemetryMessage,
  TelemetryRecordBody,
} from './payloads.ts';

const SAFE_TOKEN = new RegExp(SAFE_TOKEN_PATTERN);
const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const MAX_EPOCH_MS = 8_640_000_000_000_000;

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function intIn(value: unknown, min: number, max: number): boolean {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
}

function absentOr(fields: Fields, key: string, check: (value: unknown) => boolean): boolean {
  const value = fields[key];
  return value === undefined || check(value);
}

/** Every own key is one of `allowed` (additionalProperties: false). */
function onlyKeys(fields: Fields, allowed: ReadonlySet<string>): boolean {
  for (const key of Object.getOwnPropertyNames(fields)) if (!allowed.has(key)) return false;
  return true;
}

/** Short strings only: longer ones (where TypeBox counts code points) are left to the schema. */
function shortString(value: unknown, max: number): boolean {
  return typeof value === 'string' && value.length <= max;
}

function isIoKey(key: string): boolean {
  if (key.length === 0 || key.length > 5) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function checkIo(value: unknown): boolean {
  if (!isObject(value)) return false;
  const keys = Object.getOwnPropertyNames(value);
  if (keys.length > 512) return false;
  for (const key of keys) {
    const v = value[key];
    if (!isIoKey(key) || !(Number.isFinite(v) || shortString(v, 1024))) return false;
  }
  return true;
}

function checkAttributes(value: unknown): boolean {
  if (!isObject(value)) return false;
  const keys = Object.getOwnPropertyNames(value);
  if (keys.length > 256) return false;
  for (const key of keys) {
    const v = value[key];
    if (!ATTRIBUTE_NAME.test(key)) return false;
    if (!(Number.isFinite(v) || typeof v === 'boolean' || shortString(v, 4096))) return false;
  }
  return true;
}

const POSITION_KEYS: ReadonlySet<string> = new Set(['lat', 'lon', 'alt', 'angle', 'satellites', 'speed']);

function finiteIn(value: unknown, min: number, max: number): boolean {
  return Number.isFinite(value) && (value as number) >= min && (value as number) <= max;
}

function checkPosition(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, POSITION_KEYS) &&
    finiteIn(value.lat, -90, 90) &&
    finiteIn(value.lon, -180, 180) &&
    absentOr(value, 'alt', Number.isFinite) &&
    absentOr(value, 'angle', (v) => finiteIn(v, 0, 360)) &&
    absentOr(value, 'satellites', (v) => intIn(v, 0, 255)) &&
    absentOr(value, 'speed', (v) => finiteIn(v, 0, Number.POSITIVE_INFINITY))
  );
}

const DEVICE_RECORD_KEYS: ReadonlySet<string> = new Set([
  'deviceTime',
  'priority',
  'position',
  'eventIoId',
  'io',
  'attributes',
]);
const BUS_RECORD_KEYS: ReadonlySet<string> = new Set([...DEVICE_RECORD_KEYS, 'receivedAt']);

function checkRecordFields(record: Fields): boolean {
  return (
    intIn(record.deviceTime, 0, MAX_EPOCH_MS) &&
    absentOr(record, 'priority', (v) => intIn(v, 0, 255)) &&
    absentOr(record, 'position', checkPosition) &&
    absentOr(record, 'eventIoId', (v) => intIn(v, 0, 65535)) &&
    absentOr(record, 'io', checkIo) &&
    absentOr(record, 'attributes', checkAttributes)
  );
}

function checkRecords(value: unknown, keys: ReadonlySet<string>, withReceivedAt: boolean): boolean {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_RECORDS_PER_MESSAGE) return false;
  for (const record of value) {
    if (!isObject(record) || !onlyKeys(record, keys) || !checkRecordFields(record)) return false;
    if (withReceivedAt && !intIn(record.receivedAt, 0, MAX_EPOCH_MS)) return false;
  }
  return true;
}

const MESSAGE_KEYS: ReadonlySet<string> = new Set(['tenant', 'deviceId', 'source', 'codec', 'records']);

/** Sound for TelemetryMessage: true only if the schema accepts `value`. */
export function acceptsTelemetryMessage(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, MESSAGE_KEYS) &&
    typeof value.tenant === 'string' &&
    SAFE_TOKEN.test(value.tenant) &&
    typeof value.deviceId === 'string' &&
    SAFE_TOKEN.test(value.deviceId) &&
    (value.source === 'teltonika' || value.source === 'ws') &&
    absentOr(value, 'codec', (v) => intIn(v, 0, 255)) &&
    checkRecords(value.records, BUS_RECORD_KEYS, true)
  );
}

const RECORD_BODY_KEYS: ReadonlySet<string> = new Set(['records']);

/** Sound for TelemetryRecordBody (the device leg). */
export function acceptsTelemetryRecordBody(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, RECORD_BODY_KEYS) &&
    checkRecords(value.records, DEVICE_RECORD_KEYS, false)
  );
}

// The command round trip of a WebSocket device: edge-ws checks the request, the device's ack and
// result, and two CommandReply bus messages per command (TypeBox's compiled checks cost several
// objects per check).

const COMMAND_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_OUTPUT = 65536;
const MAX_ERROR = 4096;

function isSafeToken(value: unknown): boolean {
  return typeof value === 'string' && SAFE_TOKEN.test(value);
}

// Made once: an arrow function written inside a check is a new closure per call.
const isEpochMs = (v: unknown) => intIn(v, 0, MAX_EPOCH_MS);
const isOutput = (v: unknown) => shortString(v, MAX_OUTPUT);
const isError = (v: unknown) => shortString(v, MAX_ERROR);
const isBoolean = (v: unknown) => typeof v === 'boolean';

const COMMAND_REQUEST_KEYS: ReadonlySet<string> = new Set(['commandId', 'name', 'expiresAt']);

/** Sound for CommandRequestBody without `args` (a request with args goes to the schema). */
export function acceptsCommandRequestBody(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, COMMAND_REQUEST_KEYS) &&
    isSafeToken(value.commandId) &&
    typeof value.name === 'string' &&
    COMMAND_NAME.test(value.name) &&
    absentOr(value, 'expiresAt', isEpochMs)
  );
}

const COMMAND_ACK_KEYS: ReadonlySet<string> = new Set(['commandId']);

/** Sound for CommandAckBody. */
export function acceptsCommandAckBody(value: unknown): boolean {
  return isObject(value) && onlyKeys(value, COMMAND_ACK_KEYS) && isSafeToken(value.commandId);
}

const COMMAND_RESULT_KEYS: ReadonlySet<string> = new Set(['commandId', 'ok', 'output', 'error']);

/** Sound for CommandResultBody. */
export function acceptsCommandResultBody(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, COMMAND_RESULT_KEYS) &&
    isSafeToken(value.commandId) &&
    typeof value.ok === 'boolean' &&
    absentOr(value, 'output', isOutput) &&
    absentOr(value, 'error', isError)
  );
}

const COMMAND_REPLY_KEYS: ReadonlySet<string> = new Set([
  'tenant',
  'deviceId',
  'commandId',
  'text',
  'ok',
  'output',
  'error',
  'receivedAt',
]);

/** Sound for CommandReply. */
export function acceptsCommandReply(value: unknown): boolean {
  return (
    isObject(value) &&
    onlyKeys(value, COMMAND_REPLY_KEYS) &&
    isSafeToken(value.tenant) &&
    isSafeToken(value.deviceId) &&
    absentOr(value, 'commandId', isSafeToken) &&
    absentOr(value, 'text', isOutput) &&
    absentOr(value, 'ok', isBoolean) &&
    absentOr(value, 'output', isOutput) &&
    absentOr(value, 'error', isError) &&
    intIn(value.receivedAt, 0, MAX_EPOCH_MS)
  );
}

/** Schemas with a fast accept path; validatePayload consults this before TypeBox. */
export const FAST_ACCEPT: ReadonlyMap<TSchema, (value: unknown) => boolean> = new Map<
  TSchema,
  (value: unknown) => boolean
>([
  [TelemetryMessage, acceptsTelemetryMessage],
  [TelemetryRecordBody, acceptsTelemetryRecordBody],
  [CommandRequestBody, acceptsCommandRequestBody],
  [CommandAckBody, acceptsCommandAckBody],
  [CommandResultBody, acceptsCommandResultBody],
  [CommandReply, acceptsCommandReply],
]);
