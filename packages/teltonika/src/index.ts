export { decodeAvlBody, decodeAvlPacket } from './avl-decode.ts';
export { encodeAvlBody, encodeAvlPacket, encodeRecordCountAck } from './avl-encode.ts';
export type { AvlPacket, AvlRecord, IoValue, IoWidth } from './avl-types.ts';
export { GenerationType, Priority } from './avl-types.ts';
export { bytesToHex, hexToBytes } from './bytes.ts';
export type { AvlCodecId } from './codec-ids.ts';
export { CodecId, isAvlCodec } from './codec-ids.ts';
export type {
  Codec12Message,
  Codec12Options,
  Codec13Message,
  Codec13Options,
  Codec14Message,
  Codec14Options,
  CommandTypeName,
} from './command.ts';
export {
  CommandType,
  decodeCodec12,
  decodeCodec13,
  decodeCodec14,
  encodeCodec12,
  encodeCodec13,
  encodeCodec14,
} from './command.ts';
export { crc16 } from './crc.ts';
export type { DataFrame } from './data-frame.ts';
export { decodeDataFrame } from './data-frame.ts';
export type { TeltonikaErrorDetails } from './errors.ts';
export { isTeltonikaError, TeltonikaError, TeltonikaErrorCode } from './errors.ts';
export type { Frame, FrameKind, FramerOptions } from './frame.ts';
export {
  DEFAULT_MAX_DATA_LENGTH,
  DEFAULT_MAX_LOGIN_LENGTH,
  HEARTBEAT_BYTE,
  TeltonikaFramer,
} from './frame.ts';
export type { IoElementSpec, IoReader, IoReading } from './io-elements.ts';
export { IO_ELEMENTS, namedAttributes, rawIoById } from './io-elements.ts';
export { decodeLogin, encodeLogin, encodeLoginReply, LOGIN_ACCEPTED, LOGIN_REJECTED } from './login.ts';
export { unwrapDataFrame, wrapDataFrame } from './packet.ts';
