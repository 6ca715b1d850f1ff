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
import {
  type DownlinkCallback,
  type DownlinkReceiver,
  type DownlinkSubscription,
  subscribeLean,
} from './lean-subscription.ts';
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

export interface Claim {
  epoch: number;
  /** The connection's subscription on `down.<device>`; unsubscribe it when the connection ends. */
  downlink: DownlinkSubscription;
}

/**
 * `takeOver` without its two round trips (a flush and a presence read), for edges that can hold
 * close orders until their epoch is known. The subscription goes out first, on the same NATS
 * connection as the presence write, so the server has it before the write gets its revision: any
 * newer connection of the device, which publishes its close order only once its own (later)
 * revision is stored, reaches this one. Both older and newer holders therefore hear each other,
 * and no final check is needed.
 *
 * `onDownlink` may see close orders before this resolves, including this connection's own (same
 * epoch, so it closes nothing): keep the newest and apply `mustClose` once the epoch is known.
 */
export async function claimDevice(
  deps: TakeoverDeps,
  tenant: TenantId,
  deviceId: DeviceId,
  onDownlink: DownlinkReceiver | DownlinkCallback,
): Promise<Claim> {
  const { nc, subjects, presence } = deps;
  const down = subjects.down(tenant, deviceId);
  // An edge holds one of these per connected device: the lean form costs a fraction of nc.subscribe's.
  const downlink = subscribeLean(nc, down, onDownlink);
  let epoch: number;
  try {
    epoch = await presence.online(tenant, deviceId);
  } catch (err) {
    downlink.unsubscribe();
    throw err;
  }
  announceClaim(nc, subjects, tenant, deviceId, epoch);
  return { epoch, downlink };
}

/**
 * Publishes the close order of the connection holding `epoch` on the device's down subject: every
 * older holder closes. `claimDevice` does it once online; an edge repeats it a second or so later,
 * which covers a NATS cluster where an older holder's subscription had not reached this server yet.
 */
export function announceClaim(
  nc: NatsConnection,
  subjects: Subjects,
  tenant: TenantId,
  deviceId: DeviceId,
  epoch: number,
): void {
  nc.publish(subjects.down(tenant, deviceId), encodeCloseOrder({ epoch, reason: TAKEOVER_REASON }));
}
