/**
 * Every failure this package reports is a TeltonikaError with a stable `code`, so a gateway can
 * branch on the code (close the connection, skip the ACK, count a metric) without parsing messages.
 */

export const TeltonikaErrorCode = {
  /** CRC field does not match CRC-16/IBM of codec … quantity 2 (or its top two bytes are not zero). */
  BAD_CRC: 'BAD_CRC',
  /** Number of Data 1 differs from Number of Data 2. */
  COUNT_MISMATCH: 'COUNT_MISMATCH',
  /** Bytes left over: the content does not end where a length field says it ends. */
  LENGTH_MISMATCH: 'LENGTH_MISMATCH',
  /** A read ran past the end of the bytes available. */
  TRUNCATED: 'TRUNCATED',
  /** Codec id is not one this package decodes (or not the one the caller asked for). */
  UNKNOWN_CODEC: 'UNKNOWN_CODEC',
  /** Codec 12/13/14 type byte is not one this package understands (e.g. the 0x0D camera sub-protocol). */
  BAD_COMMAND_TYPE: 'BAD_COMMAND_TYPE',
  /** A field holds a value the protocol does not allow (priority 3, timestamp beyond 2^53 ms, …). */
  BAD_FIELD: 'BAD_FIELD',
  /** A length prefix exceeds the framer's cap; nothing of that frame was buffered. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** A data frame does not start with 00000000 (or a login arrived after the first frame). */
  BAD_PREAMBLE: 'BAD_PREAMBLE',
  /** IMEI is empty or holds something other than decimal digits. */
  BAD_IMEI: 'BAD_IMEI',
  /** Encoder input cannot be represented in the chosen codec (id > 255 in Codec 8, value too wide, …). */
  NOT_ENCODABLE: 'NOT_ENCODABLE',
} as const;

export type TeltonikaErrorCode = (typeof TeltonikaErrorCode)[keyof typeof TeltonikaErrorCode];

export interface TeltonikaErrorDetails {
  /** Which field was wrong, when one field is to blame. */
  readonly field?: string;
  readonly expected?: number | string;
  readonly actual?: number | string;
  /** Byte offset where the problem was found, relative to the buffer being decoded. */
  readonly offset?: number;
}

export class TeltonikaError extends Error {
  readonly code: TeltonikaErrorCode;
  readonly field: string | undefined;
  readonly expected: number | string | undefined;
  readonly actual: number | string | undefined;
  readonly offset: number | undefined;

  constructor(
    code: TeltonikaErrorCode,
    message: string,
    details: TeltonikaErrorDetails = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TeltonikaError';
    this.code = code;
    this.field = details.field;
    this.expected = details.expected;
    this.actual = details.actual;
    this.offset = details.offset;
  }
}

export function isTeltonikaError(err: unknown, code?: TeltonikaErrorCode): err is TeltonikaError {
  return err instanceof TeltonikaError && (code === undefined || err.code === code);
}
