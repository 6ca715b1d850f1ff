import { decodeAvlBody } from './avl-decode.ts';
import type { AvlPacket } from './avl-types.ts';
import { CodecId, isAvlCodec } from './codec-ids.ts';
import {
  type Codec12Message,
  type Codec13Message,
  type Codec14Message,
  decodeCodec12Body,
  decodeCodec13Body,
  decodeCodec14Body,
} from './command.ts';
import { TeltonikaError } from './errors.ts';
import { unwrapDataFrame } from './packet.ts';

/**
 * Everything a device can send after login. Only `avl` is acknowledged (with `ack` as a
 * 4-byte count); a count sent after a Codec 12/13 message breaks the device's parser.
 */
export type DataFrame = AvlPacket | Codec12Message | Codec13Message | Codec14Message;

/** Validates the envelope (preamble, length, CRC) and dispatches on the codec id. */
export function decodeDataFrame(frame: Uint8Array): DataFrame {
  const body = unwrapDataFrame(frame);
  const codec = body[0];
  if (codec !== undefined && isAvlCodec(codec)) return decodeAvlBody(body);
  switch (codec) {
    case CodecId.CODEC_12:
      return decodeCodec12Body(body);
    case CodecId.CODEC_13:
      return decodeCodec13Body(body);
    case CodecId.CODEC_14:
      return decodeCodec14Body(body);
    case undefined:
      throw new TeltonikaError('TRUNCATED', 'data frame has an empty body', { expected: 1, actual: 0 });
    default:
      throw new TeltonikaError('UNKNOWN_CODEC', `codec 0x${codec.toString(16)} is not supported`, {
        field: 'codec',
        actual: codec,
        offset: 8,
      });
  }
}
