/**
 * Bodies of fleetwire protos: a msgpack map validated by a TypeBox schema. Validators are
 * compiled once per schema and cached, so passing the schema object on the hot path is cheap.
 */
import type { Static, TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import type { TLocalizedValidationError } from 'typebox/error';
import { type EncodeOptions, encodeProtoMsg, type ProtoMsg } from './envelope.ts';
import { PROTOCOL_ERROR, ProtocolError } from './errors.ts';
import { FAST_ACCEPT } from './fast-check.ts';
import { DEFAULT_MAX_DEPTH, giveBack, MsgpackWriter, takeReader } from './msgpack.ts';
import {
  type DeviceBody,
  type DeviceBodyMessage,
  type DeviceProto,
  type DeviceTyp,
  deviceBodySchema,
} from './registry.ts';

const validators = new WeakMap<TSchema, Validator>();

function validatorFor(schema: TSchema): Validator {
  let validator = validators.get(schema);
  if (validator === undefined) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  return validator;
}

/** Throws INVALID_PAYLOAD naming the most specific offending path, e.g. `body.records.0.deviceTime`. */
export function validatePayload<S extends TSchema>(schema: S, value: unknown, path = 'body'): Static<S> {
  if (FAST_ACCEPT.get(schema)?.(value)) return value as Static<S>;
  const validator = validatorFor(schema);
  if (validator.Check(value)) return value as Static<S>;
  const worst = mostSpecific(validator.Errors(value));
  if (worst === undefined)
    throw new ProtocolError(PROTOCOL_ERROR.INVALID_PAYLOAD, 'does not match its schema', { path });
  const { segments, message } = explain(worst);
  throw new ProtocolError(PROTOCOL_ERROR.INVALID_PAYLOAD, message, { path: [path, ...segments].join('.') });
}

function mostSpecific(errors: TLocalizedValidationError[]): TLocalizedValidationError | undefined {
  const depth = (error: TLocalizedValidationError) => pointerSegments(error.instancePath).length;
  return errors.reduce<TLocalizedValidationError | undefined>(
    (best, error) => (best === undefined || depth(error) > depth(best) ? error : best),
    undefined,
  );
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .split('/')
    .slice(1)
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function explain(error: TLocalizedValidationError): { segments: string[]; message: string } {
  const segments = pointerSegments(error.instancePath);
  if (error.keyword === 'required') {
    return { segments: [...segments, error.params.requiredProperties[0] ?? ''], message: 'missing property' };
  }
  // TypeBox reports an unexpected key as the `false` schema of additionalProperties.
  if (error.keyword === 'boolean' && error.schemaPath.endsWith('additionalProperties')) {
    return { segments, message: 'unexpected property' };
  }
  return { segments, message: error.message };
}

/** Validates then encodes a payload as a msgpack map; an empty object gives an empty body. */
export function encodePayload<S extends TSchema>(schema: S, payload: Static<S>): Uint8Array {
  return encodePayloadScratch(schema, payload).slice();
}

/** One writer for every payload: a message is encoded, copied into its envelope, then forgotten. */
const scratch = new MsgpackWriter(64 * 1024);

/**
 * `encodePayload` into a shared buffer: the result is a view that the next encode overwrites, so
 * it must be copied (e.g. into an envelope by encodeProtoMsg) before anything else is encoded.
 */
export function encodePayloadScratch<S extends TSchema>(schema: S, payload: Static<S>): Uint8Array {
  validatePayload(schema, payload);
  // A huge earlier message grew the buffer: do not keep that much memory for every later one.
  scratch.reset(MAX_SCRATCH_KEPT);
  scratch.map(payload as object, 0);
  return scratch.length === 1 ? new Uint8Array(0) : scratch.written();
}

const MAX_SCRATCH_KEPT = 1024 * 1024;

export interface DecodeBodyOptions {
  maxDepth?: number;
  /** Prefix of error paths; default `body`. */
  path?: string;
}

/** Decodes a body that must be a msgpack map (an absent body counts as `{}`) and validates it. */
export function decodePayload<S extends TSchema>(
  bytes: Uint8Array | undefined,
  schema: S,
  options: DecodeBodyOptions = {},
): Static<S> {
  const path = options.path ?? 'body';
  return validatePayload(schema, readMap(bytes, path, options.maxDepth ?? DEFAULT_MAX_DEPTH), path);
}

function readMap(bytes: Uint8Array | undefined, path: string, maxDepth: number): unknown {
  if (bytes === undefined || bytes.length === 0) return {};
  const reader = takeReader(bytes, maxDepth, path);
  try {
    if (!reader.atMap()) reader.mismatch(PROTOCOL_ERROR.NOT_A_MAP, 'body must be a msgpack map');
    const value = reader.readValue(0);
    if (reader.remaining > 0)
      reader.fail(PROTOCOL_ERROR.TRAILING_BYTES, `${reader.remaining} bytes after the body`);
    return value;
  } finally {
    giveBack(reader);
  }
}

/** `decodePayload` for the body of a decoded ProtoMsg. */
export function decodeBody<S extends TSchema>(
  msg: ProtoMsg,
  schema: S,
  options?: DecodeBodyOptions,
): Static<S> {
  return decodePayload(msg.body, schema, options);
}

/** Decodes the body of a device frame with the schema registered for its proto/typ. */
export function decodeDeviceBody(msg: ProtoMsg, options?: DecodeBodyOptions): DeviceBodyMessage {
  const { proto, typ } = msg.hdr;
  const schema = deviceBodySchema(proto, typ);
  if (schema === undefined) {
    throw new ProtocolError(
      PROTOCOL_ERROR.UNKNOWN_MESSAGE_TYPE,
      `no device body schema for ${describeType(proto, typ)}`,
      {
        path: 'hdr.typ',
      },
    );
  }
  return { proto, typ, body: decodePayload(msg.body, schema, options) } as DeviceBodyMessage;
}

export interface DeviceHeader {
  sid?: string;
  props?: Record<string, unknown>;
}

/** Builds and encodes a device frame, validating the body against the registry. */
export function encodeDeviceMessage<P extends DeviceProto, T extends DeviceTyp<P>>(
  proto: P,
  typ: T,
  body: DeviceBody<P, T>,
  header: DeviceHeader = {},
  options?: EncodeOptions,
): Uint8Array {
  const schema = deviceBodySchema(proto, typ);
  if (schema === undefined) {
    throw new ProtocolError(
      PROTOCOL_ERROR.UNKNOWN_MESSAGE_TYPE,
      `no device body schema for ${describeType(proto, typ)}`,
    );
  }
  return encodeProtoMsg(
    { hdr: { proto, typ, ...header }, body: encodePayloadScratch(schema, body) },
    options,
  );
}

export function describeType(proto: number, typ: string | undefined): string {
  return `proto 0x${proto.toString(16).padStart(4, '0')} typ ${JSON.stringify(typ ?? '')}`;
}
