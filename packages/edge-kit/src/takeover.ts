import {
  type DeviceId,
  decodeProtoMsg,
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
  type ProtoMsg,
  type Subjects,
  type TenantId,
} from '@fleetwire/protocol';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { PresenceRecorder } from './presence.ts';

/** The epoch a revocation carries: larger than any connection's, so every holder closes. */
export const REVOCATION_EPOCH = Number.MAX_SAFE_INTEGER;
/** What a replaced connection is told (and the close reason when the order names none). */
export const TAKEOVER_REASON = 'replaced by a newer connection';

/**
 * "Close the connection of this device if it is older than `epoch`": a CONTROL/close published on
 * the device's down subject. A new connection sends one with its own epoch (takeover); the API sends
 * one with REVOCATION_EPOCH and a reason when it revokes the device's sessions.
 */
export interface CloseOrder {
  epoch: number;
  reason: string | undefined;
}

export function encodeCloseOrder(order: CloseOrder): Uint8Array {
  const props: Record<string, unknown> = { epoch: order.epoch };
  if (order.reason !== undefined) props.reason = order.reason;
  return encodeProtoMsg({ hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.CLOSE, props } });
}

/** The close order a down-subject message carries, or undefined when it is something else. */
export function closeOrderOf(msg: ProtoMsg): CloseOrder | undefined {
  if (msg.hdr.proto !== PROTO.CONTROL || msg.hdr.typ !== MSG_TYPE.CONTROL.CLOSE) return undefined;
  const epoch = msg.hdr.props?.epoch;
  const reason = msg.hdr.props?.reason;
  if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch)) return undefined;
  return { epoch, reason: typeof reason === 'string' && reason !== '' ? reason.slice(0, 256) : undefined };
}

/** Decodes a down-subject message and returns its close order, if it is one. */
export function closeOrderIn(bytes: Uint8Array): CloseOrder | undefined {
  try {
    return closeOrderOf(decodeProtoMsg(bytes, { maxFrameBytes: 4096 }));
  } catch {
    return undefined;
  }
}

/** Whether a connection holding `epoch` must close for this order. */
export function mustClose(order: CloseOrder, epoch: number): boolean {
  return order.epoch > epoch;
}

/** Whether the order is a revocation (the device's sessions end) rather than a takeover. */
export function isRevocation(order: CloseOrder): boolean {
  return order.epoch === REVOCATION_EPOCH;
}

export interface Takeover {
  epoch: number;
  /** The connection's subscription on `down.<device>`; unsubscribe it when the connection ends. */
  downlink: Subscription;
  /**
   * False when an even newer connection of the device appeared while this one was taking over
   * (both could miss each other's close order): the caller must close this one at once.
   */
  current: boolean;
}

export interface TakeoverDeps {
  nc: NatsConnection;
  subjects: Subjects;
  presence: PresenceRecorder;
}

/**
 * Brings a connection online and makes it the only holder of the device, on this edge or any other:
 * record presence (the epoch), tell whoever holds an older connection to close it, then take the
 * down subject. The final presence check catches two connections racing through these steps.
 */
export async function takeOver(
  deps: TakeoverDeps,
  tenant: TenantId,
  deviceId: DeviceId,
  onDownlink: (err: Error | null, msg: Msg) => void,
): Promise<Takeover> {
  const { nc, subjects, presence } = deps;
  const epoch = await presence.online(tenant, deviceId);
  const down = subjects.down(tenant, deviceId);
  // The server handles one connection's messages in order: the close order goes out before our
  // subscription exists, so only older holders receive it. One flush then covers both.
  nc.publish(down, encodeCloseOrder({ epoch, reason: TAKEOVER_REASON }));
  const downlink = nc.subscribe(down, { callback: onDownlink });
  await nc.flush();
  const current = await presence.isCurrent(tenant, deviceId, epoch);
  return { epoch, downlink, current };
}
