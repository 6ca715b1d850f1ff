/**
 * Which schema describes which proto/typ, per leg. Routers, fuzzers and the typed
 * encode/decode helpers all look bodies up here, so a new message type is one line in one table.
 */
import type { Static, TSchema } from 'typebox';
import { MSG_TYPE, PROTO } from './envelope.ts';
import {
  CommandAckBody,
  CommandDispatch,
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
  DeviceLogMessage,
  DeviceStateMessage,
  EmptyBody,
  HeartbeatBody,
  LogEntryBody,
  LogUploadReadyBody,
  LogUploadReadyMessage,
  PresenceEvent,
  StateBody,
  TelemetryMessage,
  TelemetryRecordBody,
  TelemetrySummary,
  WebhookDelivery,
} from './payloads.ts';
import { UP_KIND, type UpKind } from './subjects.ts';

const { CONTROL, TELEMETRY, EVENT, STATUS, COMMAND, LOG } = MSG_TYPE;

/** Bodies inside ProtoMsg frames exchanged with WebSocket devices. */
export const DEVICE_BODY_SCHEMAS = {
  [PROTO.CONTROL]: {
    [CONTROL.PING]: EmptyBody,
    [CONTROL.PONG]: EmptyBody,
    [CONTROL.OPEN]: ControlOpenBody,
    [CONTROL.ACCEPT]: ControlAcceptBody,
    [CONTROL.CLOSE]: ControlCloseBody,
    [CONTROL.ERROR]: ControlErrorBody,
    [CONTROL.ACK]: EmptyBody,
  },
  [PROTO.TELEMETRY]: { [TELEMETRY.RECORD]: TelemetryRecordBody },
  [PROTO.EVENT]: { [EVENT.EVENT]: DeviceEventBody, [EVENT.ALERT]: DeviceEventBody },
  [PROTO.STATUS]: { [STATUS.HEARTBEAT]: HeartbeatBody, [STATUS.STATE]: StateBody },
  [PROTO.COMMAND]: {
    [COMMAND.REQUEST]: CommandRequestBody,
    [COMMAND.ACK]: CommandAckBody,
    [COMMAND.RESULT]: CommandResultBody,
  },
  [PROTO.LOG]: { [LOG.ENTRY]: LogEntryBody, [LOG.UPLOAD_READY]: LogUploadReadyBody },
} as const;

/** Payloads published on JetStream subjects. */
export const BUS_PAYLOAD_SCHEMAS = {
  [PROTO.TELEMETRY]: { [TELEMETRY.RECORD]: TelemetryMessage, [TELEMETRY.SUMMARY]: TelemetrySummary },
  [PROTO.EVENT]: {
    [EVENT.EVENT]: DeviceEventMessage,
    [EVENT.ALERT]: DeviceEventMessage,
    [EVENT.WEBHOOK]: WebhookDelivery,
  },
  [PROTO.STATUS]: {
    [STATUS.HEARTBEAT]: DeviceHeartbeatMessage,
    [STATUS.STATE]: DeviceStateMessage,
    [STATUS.PRESENCE]: PresenceEvent,
  },
  [PROTO.COMMAND]: {
    [COMMAND.ACK]: CommandReply,
    [COMMAND.RESULT]: CommandReply,
    [COMMAND.REPLY]: CommandReply,
    [COMMAND.STATE]: CommandStateChange,
    [COMMAND.DISPATCH]: CommandDispatch,
  },
  [PROTO.LOG]: { [LOG.ENTRY]: DeviceLogMessage, [LOG.UPLOAD_READY]: LogUploadReadyMessage },
} as const;

/** The proto of the bus messages carried on each `up.<device>.<kind>` subject. */
export const UP_KIND_PROTO = {
  [UP_KIND.TELEMETRY]: PROTO.TELEMETRY,
  [UP_KIND.EVENT]: PROTO.EVENT,
  [UP_KIND.STATUS]: PROTO.STATUS,
  [UP_KIND.REPLY]: PROTO.COMMAND,
  [UP_KIND.LOG]: PROTO.LOG,
} as const satisfies Record<UpKind, number>;

type SchemaTable = Readonly<Record<number, Readonly<Record<string, TSchema>>>>;
type StaticOf<S> = S extends TSchema ? Static<S> : never;

type DeviceTable = typeof DEVICE_BODY_SCHEMAS;
export type DeviceProto = keyof DeviceTable;
export type DeviceTyp<P extends DeviceProto> = keyof DeviceTable[P] & string;
export type DeviceBody<P extends DeviceProto, T extends DeviceTyp<P>> = StaticOf<DeviceTable[P][T]>;
/** A decoded device body, discriminated by proto and typ. */
export type DeviceBodyMessage = {
  [P in DeviceProto]: { [T in DeviceTyp<P>]: { proto: P; typ: T; body: DeviceBody<P, T> } }[DeviceTyp<P>];
}[DeviceProto];

type BusTable = typeof BUS_PAYLOAD_SCHEMAS;
export type BusProto = keyof BusTable;
export type BusTyp<P extends BusProto> = keyof BusTable[P] & string;
export type BusPayload<P extends BusProto, T extends BusTyp<P>> = StaticOf<BusTable[P][T]>;
/** A decoded bus message, discriminated by proto and typ. */
export type AnyBusMessage = {
  [P in BusProto]: {
    [T in BusTyp<P>]: { proto: P; typ: T; props?: Record<string, unknown>; payload: BusPayload<P, T> };
  }[BusTyp<P>];
}[BusProto];

export function lookupSchema(
  table: SchemaTable,
  proto: number,
  typ: string | undefined,
): TSchema | undefined {
  const byType = Object.hasOwn(table, proto) ? table[proto] : undefined;
  return byType && typ !== undefined && Object.hasOwn(byType, typ) ? byType[typ] : undefined;
}

export function deviceBodySchema(proto: number, typ: string | undefined): TSchema | undefined {
  return lookupSchema(DEVICE_BODY_SCHEMAS, proto, typ);
}

export function busPayloadSchema(proto: number, typ: string | undefined): TSchema | undefined {
  return lookupSchema(BUS_PAYLOAD_SCHEMAS, proto, typ);
}
