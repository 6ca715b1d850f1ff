export type { DecodeBodyOptions, DeviceHeader } from './body.ts';
export {
  decodeBody,
  decodeDeviceBody,
  decodePayload,
  encodeDeviceMessage,
  encodePayload,
  validatePayload,
} from './body.ts';
export type { BusMessage } from './bus.ts';
export { BUS_MAX_MESSAGE_BYTES, decodeAnyBusMessage, decodeBusMessage, encodeBusMessage } from './bus.ts';
export type { DecodeLimits, EncodeOptions, Proto, ProtoHeader, ProtoMsg } from './envelope.ts';
export {
  decodeProtoMsg,
  encodeProtoMsg,
  FLEETWIRE_PROTO_RANGE,
  isFleetwireProto,
  MENDER_DEVICE_MAX_FRAME_BYTES,
  MENDER_SERVER_MAX_FRAME_BYTES,
  MSG_TYPE,
  msgIdOf,
  PROP,
  PROP_STATUS,
  PROTO,
} from './envelope.ts';
export type { ProtocolErrorCode, ProtocolErrorOptions } from './errors.ts';
export { FwError, isProtocolError, PROTOCOL_ERROR, ProtocolError } from './errors.ts';
export type { CommandId, DeviceId, EdgeId, SessionId, TenantId } from './ids.ts';
export {
  DEFAULT_TENANT,
  isCommandId,
  isDeviceId,
  isSafeToken,
  isTenantId,
  parseCommandId,
  parseDeviceId,
  parseEdgeId,
  parseSessionId,
  parseTenantId,
  SAFE_TOKEN_PATTERN,
} from './ids.ts';
export type { DecodeMsgpackOptions, MsgpackMap, MsgpackValue } from './msgpack.ts';
export { DEFAULT_MAX_DEPTH, decodeMsgpack, encodeMsgpack, MAX_SUPPORTED_DEPTH } from './msgpack.ts';
// Schemas double as their static types (TypeBox idiom): `TelemetryMessage` is both.
export type { EventSeverity, LogLevel, PresenceState, TelemetrySource, Transport } from './payloads.ts';
export {
  Attributes,
  CommandAckBody,
  CommandIdSchema,
  CommandName,
  CommandReply,
  CommandRequestBody,
  CommandResultBody,
  CommandStateChange,
  ControlAcceptBody,
  ControlCloseBody,
  ControlErrorBody,
  ControlOpenBody,
  DeviceEventBody,
  DeviceEventMessage,
  DeviceHeartbeatMessage,
  DeviceIdSchema,
  DeviceLogMessage,
  DeviceStateMessage,
  DeviceTelemetryRecord,
  EdgeIdSchema,
  EmptyBody,
  EpochMs,
  EVENT_SEVERITY,
  HeartbeatBody,
  IoValues,
  LOG_LEVEL,
  LogEntry,
  LogEntryBody,
  LogUploadReadyBody,
  LogUploadReadyMessage,
  MAX_RECORDS_PER_MESSAGE,
  Position,
  PRESENCE_STATE,
  PresenceEvent,
  StateBody,
  TELEMETRY_SOURCE,
  TelemetryMessage,
  TelemetryRecord,
  TelemetryRecordBody,
  TenantIdSchema,
  TRANSPORT,
} from './payloads.ts';
export type {
  AnyBusMessage,
  BusPayload,
  BusProto,
  BusTyp,
  DeviceBody,
  DeviceBodyMessage,
  DeviceProto,
  DeviceTyp,
} from './registry.ts';
export {
  BUS_PAYLOAD_SCHEMAS,
  busPayloadSchema,
  DEVICE_BODY_SCHEMAS,
  deviceBodySchema,
  UP_KIND_PROTO,
} from './registry.ts';
export type {
  AckPolicy,
  ConsumerConfigWire,
  ConsumerInput,
  ConsumerSpec,
  DeliverPolicy,
  JetStreamTopology,
  KvBucketKey,
  KvBucketSpec,
  KvCreateOptions,
  Retention,
  Storage,
  StreamConfigWire,
  StreamKey,
  StreamSpec,
  TopologyOptions,
} from './streams.ts';
export {
  consumerSpec,
  DEFAULT_MAX_AGE_MS,
  DEFAULT_SESSION_TTL_MS,
  jetStreamTopology,
  KV_BUCKET,
  kvBucketName,
  msToNanos,
  PRESENCE_MAX_MSGS_PER_SUBJECT,
  presenceKey,
  STREAM,
  sessionKey,
  streamName,
  TELEMETRY_DUPLICATE_WINDOW_MS,
  toConsumerConfig,
  toKvOptions,
  toStreamConfig,
} from './streams.ts';
export type {
  CommandState,
  ParsedSubject,
  SessionDir,
  Subjects,
  SubjectsOptions,
  UpKind,
} from './subjects.ts';
export {
  COMMAND_STATE,
  DEFAULT_SUBJECT_ROOT,
  patternCovers,
  SESSION_DIR,
  subjectMatches,
  subjects,
  UP_KIND,
} from './subjects.ts';
