import {
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
  parseDeviceId,
  parseTenantId,
  type Subjects,
} from '@fleetwire/protocol';
import type { NatsHandle } from '@fleetwire/runtime';

type NatsConnection = NatsHandle['nc'];

/**
 * The epoch of a revocation's close order: above every connection's epoch, so whichever edge holds
 * the device closes it (a takeover uses the new connection's own epoch instead).
 */
export const REVOCATION_EPOCH = Number.MAX_SAFE_INTEGER;
export const REVOCATION_REASON = 'session revoked';
export const CLOSE_REASON = {
  SESSION_REVOKED: REVOCATION_REASON,
  CREDENTIAL_REPLACED: 'credential replaced',
  DEPROVISIONED: 'device deprovisioned',
} as const;
const FLUSH_TIMEOUT_MS = 5000;

/** The order may not have reached the server (NATS unreachable); sending it again is harmless. */
export class CloseOrderUnconfirmedError extends Error {
  constructor(subject: string) {
    super(`close order on ${subject} not confirmed by the NATS server`);
    this.name = 'CloseOrderUnconfirmedError';
  }
}

/** Orders for the edge holding a device, on its core-NATS `down.<device>` subject. */
export class DeviceChannel {
  readonly #nc: NatsConnection;
  readonly #subjects: Subjects;

  constructor(nc: NatsConnection, subjects: Subjects) {
    this.#nc = nc;
    this.#subjects = subjects;
  }

  /**
   * CONTROL/close {epoch: REVOCATION_EPOCH, reason}: the edge sends the device control/close and
   * drops the connection. Fire and forget (no edge may hold the device), but flushed: when the call
   * returns the server has the order; CloseOrderUnconfirmedError when it could not tell in time.
   */
  async closeConnection(tenant: string, deviceId: string, reason: string = REVOCATION_REASON): Promise<void> {
    const subject = this.#subjects.down(parseTenantId(tenant), parseDeviceId(deviceId));
    const order = encodeProtoMsg({
      hdr: {
        proto: PROTO.CONTROL,
        typ: MSG_TYPE.CONTROL.CLOSE,
        props: { epoch: REVOCATION_EPOCH, reason },
      },
    });
    this.#nc.publish(subject, order);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CloseOrderUnconfirmedError(subject)), FLUSH_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.#nc.flush(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
