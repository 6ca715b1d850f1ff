import {
  type DeviceId,
  type EdgeId,
  encodeBusMessage,
  MSG_TYPE,
  PRESENCE_STATE,
  PROTO,
  type PresenceState,
  presenceKey,
  type Subjects,
  type TenantId,
  type Transport,
} from '@fleetwire/protocol';
import type { JetStreamPublisher, Logger } from '@fleetwire/runtime';
import { Bucket, type KV } from '@nats-io/kv';

const ENCODER = new TextEncoder();

export interface PresenceRecorderDeps {
  kv: KV;
  publisher: JetStreamPublisher;
  subjects: Subjects;
  edgeId: EdgeId;
  /** Which kind of edge records it (TRANSPORT.TCP, TRANSPORT.WS): shown in the device's presence. */
  transport: Transport;
  log: Logger;
}

/**
 * Connection epochs shared by every edge. A connection going online writes the device's key in the
 * presence bucket and the key's revision becomes the connection's epoch; going offline only counts
 * if the key still holds that revision (compare-and-set), so a late "offline" from an old connection
 * never overrides a newer one, whichever edge or transport either connection is on.
 */
export class PresenceRecorder {
  readonly #kv: KV;
  readonly #publisher: JetStreamPublisher;
  readonly #subjects: Subjects;
  readonly #edgeId: EdgeId;
  readonly #transport: Transport;
  readonly #log: Logger;

  constructor(deps: PresenceRecorderDeps) {
    this.#kv = deps.kv;
    this.#publisher = deps.publisher;
    this.#subjects = deps.subjects;
    this.#edgeId = deps.edgeId;
    this.#transport = deps.transport;
    this.#log = deps.log;
  }

  /** Records the device online and returns the new connection's epoch. */
  async online(tenant: TenantId, deviceId: DeviceId): Promise<number> {
    const at = Date.now();
    const epoch = await this.#putOnline(
      presenceKey(tenant, deviceId),
      this.#entry(PRESENCE_STATE.ONLINE, at),
    );
    await this.#publish(tenant, deviceId, PRESENCE_STATE.ONLINE, epoch, at);
    return epoch;
  }

  /**
   * A KV put is a JetStream publish on the key's subject, and its PubAck sequence is the key's new
   * revision. Through the pipelined publisher it costs no request of its own (nats.js builds an
   * inbox, a timer and two Errors with stacks per request) and shares socket writes with the rest.
   */
  async #putOnline(key: string, entry: string): Promise<number> {
    if (!(this.#kv instanceof Bucket)) return this.#kv.put(key, entry);
    const ack = await this.#publisher.publish(this.#kv.subjectForKey(key, true), ENCODER.encode(entry));
    return ack.seq;
  }

  /** Returns false when a newer connection already took over (the offline is then not published). */
  async offline(tenant: TenantId, deviceId: DeviceId, epoch: number, reason: string): Promise<boolean> {
    const at = Date.now();
    try {
      await this.#kv.update(
        presenceKey(tenant, deviceId),
        this.#entry(PRESENCE_STATE.OFFLINE, at, reason),
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

  /** True while `epoch` is still the device's latest connection. */
  async isCurrent(tenant: TenantId, deviceId: DeviceId, epoch: number): Promise<boolean> {
    const entry = await this.#kv.get(presenceKey(tenant, deviceId));
    return entry?.revision === epoch;
  }

  #entry(state: PresenceState, at: number, reason?: string): string {
    const entry = { state, edgeId: this.#edgeId, transport: this.#transport, at };
    return JSON.stringify(reason === undefined ? entry : { ...entry, reason });
  }

  async #publish(
    tenant: TenantId,
    deviceId: DeviceId,
    state: PresenceState,
    epoch: number,
    at: number,
    reason?: string,
  ): Promise<void> {
    const payload = {
      tenant,
      deviceId,
      state,
      epoch,
      edgeId: this.#edgeId,
      transport: this.#transport,
      at,
    };
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
