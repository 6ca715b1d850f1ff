/**
 * Base error for fleetwire packages: a stable machine-readable `code`, a human message and an
 * optional `cause`. Services map `code` to HTTP statuses and NATS service-error headers, so codes
 * are part of the public contract and must never be renamed.
 */
export class FwError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export const PROTOCOL_ERROR = {
  /** Not valid msgpack: truncated, reserved byte 0xc1, invalid UTF-8, count larger than the data. */
  MALFORMED: 'MALFORMED',
  /** A complete value was read but bytes remain after it. */
  TRAILING_BYTES: 'TRAILING_BYTES',
  /** A value that must be a map is something else. */
  NOT_A_MAP: 'NOT_A_MAP',
  MISSING_FIELD: 'MISSING_FIELD',
  WRONG_TYPE: 'WRONG_TYPE',
  UNKNOWN_FIELD: 'UNKNOWN_FIELD',
  DUPLICATE_KEY: 'DUPLICATE_KEY',
  /** Right type, forbidden value (e.g. proto 0, proto above 0xFFFF). */
  INVALID_VALUE: 'INVALID_VALUE',
  /** Frame or body over its limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** Nesting deeper than the limit. */
  TOO_DEEP: 'TOO_DEEP',
  /** Valid msgpack the protocol does not carry: extension types, integers beyond ±(2^53-1), `__proto__` keys. */
  UNSUPPORTED: 'UNSUPPORTED',
  /** A body that fails its TypeBox schema. */
  INVALID_PAYLOAD: 'INVALID_PAYLOAD',
  /** No schema is registered for this proto/typ pair. */
  UNKNOWN_MESSAGE_TYPE: 'UNKNOWN_MESSAGE_TYPE',
  INVALID_ID: 'INVALID_ID',
  INVALID_SUBJECT: 'INVALID_SUBJECT',
  /** A stream/consumer/KV definition that NATS would reject. */
  INVALID_CONFIG: 'INVALID_CONFIG',
} as const;

export type ProtocolErrorCode = (typeof PROTOCOL_ERROR)[keyof typeof PROTOCOL_ERROR];

export interface ProtocolErrorOptions extends ErrorOptions {
  /** Dotted location of the offending value, e.g. `hdr.proto` or `body.records.3.deviceTime`. */
  path?: string;
}

/** Every failure of this package, including anything thrown while decoding untrusted bytes. */
export class ProtocolError extends FwError<ProtocolErrorCode> {
  readonly path: string | undefined;

  constructor(code: ProtocolErrorCode, message: string, options?: ProtocolErrorOptions) {
    const where = options?.path ? `${options.path}: ` : '';
    super(code, `${where}${message}`, options);
    this.path = options?.path;
  }
}

export function isProtocolError(error: unknown, code?: ProtocolErrorCode): error is ProtocolError {
  return error instanceof ProtocolError && (code === undefined || error.code === code);
}
