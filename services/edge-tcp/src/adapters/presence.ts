import {
  type DeviceId,
  type EdgeId,
  encodeBusMessage,
  MSG_TYPE,
  PRESENCE_STATE,
  PROTO,
  presenceKey,
  type Subjects,
  type TenantId,
  TRANSPORT,
} from '@fleetwire/protocol';
import type { JetStreamPublisher, Logger } from '@fleetwire/runtime';
import type { KV } from '@nats-io/kv';

/**
 * Connection epochs shared by every edge. A login writes the device's key in the presence bucket and
 * the key's revision becomes the connection's epoch; a logout only counts if the key still holds that
 * revision (compare-and-set), so a late "offline" from an old connection never overrides a newer one.
 */
export class PresenceRecorder {
  readonly #kv: KV;
  readonly #publisher: JetStreamPublisher;
  readonly #subjects: Subjects;
  readonly #edgeId: EdgeId;
  readonly #log: Logger;

  constructor(deps: {
    kv: KV;
    publisher: JetStreamPublisher;
    subjects: Subjects;
    edgeId: EdgeId;
    log: Logger;
  }) {
    this.#kv = deps.kv;
    this.#publisher = deps.publisher;
    this.#subjects = deps.subjects;
    this.#edgeId = deps.edgeId;
    this.#log = deps.log;
  }

  async online(tenant: TenantId, deviceId: DeviceId): Promise<number> {
    const at = Date.now();
    const epoch = await this.#kv.put(
      presenceKey(tenant, deviceId),
      JSON.stringify({ state: 'online', edgeId: this.#edgeId, transport: TRANSPORT.TCP, at }),
    );
    await this.#publish(tenant, deviceId, PRESENCE_STATE.ONLINE, epoch, at);
    return epoch;
  }

  /** Returns false when a newer connection already took over (the offline is then not published). */
  async offline(tenant: TenantId, deviceId: DeviceId, epoch: number, reason: string): Promise<boolean> {
    const at = Date.now();
    try {
      await this.#kv.update(
        presenceKey(tenant, deviceId),
        JSON.stringify({ state: 'offline', edgeId: this.#edgeId, transport: TRANSPORT.TCP, at, reason }),
        epoch,
      );
    } catch (err) {
      this.#log.debug(
        { deviceId, epoch, err: String(err) },
        'stale offline ignored: a newer connection exists',
      );
      return false;
    }
    await this.#publish(tenant, deviceId, PRESENCE_STATE.OFFLINE, epoch, at, reason);
    return true;
  }

  async #publish(
    tenant: TenantId,
    deviceId: DeviceId,
    state: 'online' | 'offline',
    epoch: number,
    at: number,
    reason?: string,
  ): Promise<void> {
    const payload = { tenant, deviceId, state, epoch, edgeId: this.#edgeId, transport: TRANSPORT.TCP, at };
    const bytes = encodeBusMessage(
      PROTO.STATUS,
      MSG_TYPE.STATUS.PRESENCE,
      reason === undefined ? payload : { ...payload, reason },
    );
    await this.#publisher.publish(this.#subjects.presence(tenant, deviceId), bytes, {
      msgId: `${tenant}:${deviceId}:${epoch}:${state}`,
    });
  }
}
