/**
 * The frames a gateway exchanges with edge-ws (docs/websocket-channel.md): one ProtoMsg per binary
 * WebSocket message. Pure: bytes in, bytes out.
 */
import {
  type CommandId,
  CommandRequestBody,
  ControlCloseBody,
  ControlErrorBody,
  type DeviceTelemetryRecord,
  decodeBody,
  decodeProtoMsg,
  encodeDeviceMessage,
  encodeProtoMsg,
  MSG_TYPE,
  msgIdOf,
  PROP,
  PROTO,
  type ProtoMsg,
} from '@fleetwire/protocol';
import type { CommandOutcome } from './commands.ts';

export const SUBPROTOCOL = 'protomsg/msgpack';
export const CHANNEL_VERSION = 1;

const { CONTROL, COMMAND } = MSG_TYPE;

/** The same bytes for every ping of every gateway: encoded once. */
export const PING_FRAME: Uint8Array = encodeProtoMsg({ hdr: { proto: PROTO.CONTROL, typ: CONTROL.PING } });
export const OPEN_FRAME: Uint8Array = encodeDeviceMessage(PROTO.CONTROL, CONTROL.OPEN, {
  versions: [CHANNEL_VERSION],
});

export function closeFrame(reason: string): Uint8Array {
  return encodeDeviceMessage(PROTO.CONTROL, CONTROL.CLOSE, { reason });
}

export function telemetryFrame(records: DeviceTelemetryRecord[], msgid: string): Uint8Array {
  return encodeDeviceMessage(PROTO.TELEMETRY, MSG_TYPE.TELEMETRY.RECORD, { records }, { props: { msgid } });
}

export function stateFrame(attributes: Record<string, string | number | boolean>, at: number): Uint8Array {
  return encodeDeviceMessage(PROTO.STATUS, MSG_TYPE.STATUS.STATE, { at, attributes });
}

export function commandAckFrame(commandId: CommandId): Uint8Array {
  return encodeDeviceMessage(PROTO.COMMAND, COMMAND.ACK, { commandId });
}

export function commandResultFrame(commandId: CommandId, outcome: CommandOutcome, msgid: string): Uint8Array {
  return encodeDeviceMessage(
    PROTO.COMMAND,
    COMMAND.RESULT,
    { commandId, ...outcome },
    { props: { [PROP.MSGID]: msgid } },
  );
}

/** What the edge says, as the gateway acts on it. */
export type EdgeMessage =
  | { kind: 'accept'; heartbeatMs?: number; epoch?: number }
  | { kind: 'pong' }
  | { kind: 'ack'; msgid: string }
  | { kind: 'error'; code?: number; err: string; close: boolean; msgid?: string }
  | { kind: 'close'; reason?: string }
  | { kind: 'command'; request: CommandRequestBody }
  | { kind: 'other'; proto: number; typ?: string };

/** Decodes one frame from the edge; throws a ProtocolError on bytes that are not a valid ProtoMsg. */
export function readEdgeMessage(bytes: Uint8Array): EdgeMessage {
  const msg = decodeProtoMsg(bytes);
  const { proto, typ } = msg.hdr;
  if (proto === PROTO.CONTROL) return readControl(msg);
  if (proto === PROTO.COMMAND && typ === COMMAND.REQUEST) {
    return { kind: 'command', request: decodeBody(msg, CommandRequestBody) };
  }
  return { kind: 'other', proto, ...(typ ? { typ } : {}) };
}

function readControl(msg: ProtoMsg): EdgeMessage {
  switch (msg.hdr.typ) {
    case CONTROL.ACCEPT: {
      const props = msg.hdr.props ?? {};
      return {
        kind: 'accept',
        ...optionalInteger('heartbeatMs', props.heartbeatMs),
        ...optionalInteger('epoch', props.epoch),
      };
    }
    case CONTROL.PONG:
      return { kind: 'pong' };
    case CONTROL.ACK: {
      const msgid = msgIdOf(msg);
      return msgid === undefined
        ? { kind: 'other', proto: PROTO.CONTROL, typ: CONTROL.ACK }
        : { kind: 'ack', msgid };
    }
    case CONTROL.ERROR: {
      const body = decodeBody(msg, ControlErrorBody);
      return {
        kind: 'error',
        err: body.err,
        close: body.close,
        ...(body.code === undefined ? {} : { code: body.code }),
        ...(body.msgid === undefined ? {} : { msgid: body.msgid }),
      };
    }
    case CONTROL.CLOSE: {
      const body = decodeBody(msg, ControlCloseBody);
      return { kind: 'close', ...(body.reason === undefined ? {} : { reason: body.reason }) };
    }
    default:
      return { kind: 'other', proto: PROTO.CONTROL, ...(msg.hdr.typ ? { typ: msg.hdr.typ } : {}) };
  }
}

function optionalInteger<K extends string>(key: K, value: unknown): Partial<Record<K, number>> {
  return Number.isSafeInteger(value) ? ({ [key]: value as number } as Record<K, number>) : {};
}
