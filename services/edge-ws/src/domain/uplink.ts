/**
 * The uplink table of docs/websocket-channel.md: which device frame becomes which bus message on
 * which `up.<device>.<kind>` subject. Pure: a decoded frame in, a decision out.
 */
import {
  CommandAckBody,
  CommandResultBody,
  DeviceEventBody,
  type DeviceId,
  decodePayload,
  encodeBusMessage,
  HeartbeatBody,
  isProtocolError,
  LogEntryBody,
  LogUploadReadyBody,
  MSG_TYPE,
  PROP,
  PROTO,
  type ProtoMsg,
  StateBody,
  TELEMETRY_SOURCE,
  TelemetryRecordBody,
  type TenantId,
  UP_KIND,
  type UpKind,
} from '@fleetwire/protocol';

/** Who sent the frame and when it arrived: the attribution every bus message carries. */
export interface Attribution {
  tenant: TenantId;
  deviceId: DeviceId;
  receivedAt: number;
}

export type Uplink =
  /** Publish `bytes` (a bus message) on `up.<device>.<upKind>`. */
  | { kind: 'publish'; upKind: UpKind; bytes: Uint8Array; msgid: string | undefined; commandId?: string }
  /** Proof of life only; nothing is stored. */
  | { kind: 'liveness'; msgid: string | undefined }
  /** A bad frame: answer control/error 400 with `err` (which names the offending field). */
  | { kind: 'refused'; err: string; msgid: string | undefined };

type Route = (msg: ProtoMsg, who: Attribution, msgid: string | undefined) => Uplink;

const { TELEMETRY, EVENT, STATUS, COMMAND, LOG } = MSG_TYPE;
const source = TELEMETRY_SOURCE.WS;

function publish(upKind: UpKind, bytes: Uint8Array, msgid: string | undefined, commandId?: string): Uplink {
  return commandId === undefined
    ? { kind: 'publish', upKind, bytes, msgid }
    : { kind: 'publish', upKind, bytes, msgid, commandId };
}

const telemetryRecord: Route = (msg, who, msgid) => {
  const { records } = decodePayload(msg.body, TelemetryRecordBody);
  const payload = {
    tenant: who.tenant,
    deviceId: who.deviceId,
    source,
    records: records.map((record) => ({ ...record, receivedAt: who.receivedAt })),
  };
  return publish(UP_KIND.TELEMETRY, encodeBusMessage(PROTO.TELEMETRY, TELEMETRY.RECORD, payload), msgid);
};

const event =
  (typ: typeof EVENT.EVENT | typeof EVENT.ALERT): Route =>
  (msg, who, msgid) => {
    const body = decodePayload(msg.body, DeviceEventBody);
    const payload = {
      ...body,
      tenant: who.tenant,
      deviceId: who.deviceId,
      source,
      receivedAt: who.receivedAt,
    };
    return publish(UP_KIND.EVENT, encodeBusMessage(PROTO.EVENT, typ, payload), msgid);
  };

const state: Route = (msg, who, msgid) => {
  const body = decodePayload(msg.body, StateBody);
  const payload = { ...body, tenant: who.tenant, deviceId: who.deviceId, source, receivedAt: who.receivedAt };
  return publish(UP_KIND.STATUS, encodeBusMessage(PROTO.STATUS, STATUS.STATE, payload), msgid);
};

const heartbeat: Route = (msg, _who, msgid) => {
  decodePayload(msg.body, HeartbeatBody);
  return { kind: 'liveness', msgid };
};

const commandAck: Route = (msg, who, msgid) => {
  const { commandId } = decodePayload(msg.body, CommandAckBody);
  const reply = { tenant: who.tenant, deviceId: who.deviceId, commandId, receivedAt: who.receivedAt };
  return publish(UP_KIND.REPLY, encodeBusMessage(PROTO.COMMAND, COMMAND.ACK, reply), msgid, commandId);
};

const commandResult: Route = (msg, who, msgid) => {
  const body = decodePayload(msg.body, CommandResultBody);
  const reply = { ...body, tenant: who.tenant, deviceId: who.deviceId, receivedAt: who.receivedAt };
  return publish(
    UP_KIND.REPLY,
    encodeBusMessage(PROTO.COMMAND, COMMAND.RESULT, reply),
    msgid,
    body.commandId,
  );
};

const logEntry: Route = (msg, who, msgid) => {
  const body = decodePayload(msg.body, LogEntryBody);
  const payload = { ...body, tenant: who.tenant, deviceId: who.deviceId, source, receivedAt: who.receivedAt };
  return publish(UP_KIND.LOG, encodeBusMessage(PROTO.LOG, LOG.ENTRY, payload), msgid);
};

const logUploadReady: Route = (msg, who, msgid) => {
  const body = decodePayload(msg.body, LogUploadReadyBody);
  const payload = { ...body, tenant: who.tenant, deviceId: who.deviceId, source, receivedAt: who.receivedAt };
  return publish(UP_KIND.LOG, encodeBusMessage(PROTO.LOG, LOG.UPLOAD_READY, payload), msgid);
};

const ROUTES: Readonly<Record<number, Readonly<Record<string, Route>>>> = {
  [PROTO.TELEMETRY]: { [TELEMETRY.RECORD]: telemetryRecord },
  [PROTO.EVENT]: { [EVENT.EVENT]: event(EVENT.EVENT), [EVENT.ALERT]: event(EVENT.ALERT) },
  [PROTO.STATUS]: { [STATUS.STATE]: state, [STATUS.HEARTBEAT]: heartbeat },
  [PROTO.COMMAND]: { [COMMAND.ACK]: commandAck, [COMMAND.RESULT]: commandResult },
  [PROTO.LOG]: { [LOG.ENTRY]: logEntry, [LOG.UPLOAD_READY]: logUploadReady },
};

/** `props.msgid` must be printable ASCII: it travels in a Nats-Msg-Id header and back in control/ack. */
const MSGID = /^[\x21-\x7e]{1,128}$/;

function describe(msg: ProtoMsg): string {
  return `proto 0x${msg.hdr.proto.toString(16).padStart(4, '0')} typ ${JSON.stringify(msg.hdr.typ ?? '')}`;
}

/** Decides what a device frame (any proto but CONTROL) becomes. Never throws for bad input. */
export function routeUplink(msg: ProtoMsg, who: Attribution): Uplink {
  const raw = msg.hdr.props?.[PROP.MSGID];
  const msgid = typeof raw === 'string' && MSGID.test(raw) ? raw : undefined;
  if (raw !== undefined && msgid === undefined) {
    return { kind: 'refused', err: 'hdr.props.msgid: must be 1-128 printable ASCII characters', msgid };
  }
  const typ = msg.hdr.typ;
  const byType = Object.hasOwn(ROUTES, msg.hdr.proto) ? ROUTES[msg.hdr.proto] : undefined;
  const route = byType && typ !== undefined && Object.hasOwn(byType, typ) ? byType[typ] : undefined;
  if (!route) return { kind: 'refused', err: `no uplink route for ${describe(msg)}`, msgid };
  try {
    return route(msg, who, msgid);
  } catch (err) {
    if (isProtocolError(err)) return { kind: 'refused', err: err.message, msgid };
    throw err;
  }
}
