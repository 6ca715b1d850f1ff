import { type EdgeId, edgeLeaseKey, parseEdgeId, type Transport } from '@fleetwire/protocol';
import type { Logger } from '@fleetwire/runtime';
import type { KV } from '@nats-io/kv';

/**
 * The edge's id: `FW_EDGE_ID` when set, else the instance id (host name and pid) made a subject
 * token. Distinct per process by default, which the lease relies on.
 */
export function edgeIdOf(config: { edgeId?: string | undefined; instanceId: string }): EdgeId {
  return parseEdgeId(config.edgeId ?? config.instanceId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64));
}

/** JetStream's "wrong last sequence": the key is not at the revision the edge last wrote. */
const WRONG_LAST_SEQUENCE = 10071;

/** What an edge's key in the EDGES bucket holds. */
export interface EdgeLeaseEntry {
  edgeId: EdgeId;
  transport: Transport;
  /** When this process took the lease: connections recorded by this edge id before it are not its own. */
  startedAt: number;
  at: number;
}

export interface EdgeLeaseDeps {
  /** The EDGES bucket; its TTL is the lease's. */
  kv: KV;
  edgeId: EdgeId;
  transport: Transport;
  ttlMs: number;
  log: Logger;
  /**
   * The key expired before a refresh (the edge was cut off from NATS or stalled for a whole TTL):
   * the presence reaper may already have marked this edge's devices offline, so their connections
   * must be closed and the devices must reconnect to be online again.
   */
  onLost(): void;
}

/**
 * An edge's lease: one key per edge, refreshed every third of the bucket's TTL. While the key exists
 * the edge counts as alive. An edge that dies without stopping leaves its devices "online" in
 * presence; its key then expires and the presence reaper marks those devices offline.
 */
export class EdgeLease {
  readonly startedAt = Date.now();
  readonly #deps: EdgeLeaseDeps;
  readonly #key: string;
  #revision = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The refresh under way: a second one would find the revision the first just moved and call it lost. */
  #refreshing: Promise<void> | undefined;

  constructor(deps: EdgeLeaseDeps) {
    this.#deps = deps;
    this.#key = edgeLeaseKey(deps.edgeId);
  }

  /** Takes the lease; call before accepting connections, so none predates `startedAt`. */
  async start(): Promise<void> {
    this.#revision = await this.#deps.kv.put(this.#key, this.#entry());
    this.#timer = setInterval(() => void this.refresh(), Math.max(100, this.#deps.ttlMs / 3));
    this.#timer.unref();
  }

  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const { kv, log, edgeId } = this.#deps;
    try {
      this.#revision = await kv.update(this.#key, this.#entry(), this.#revision);
    } catch (err) {
      if ((err as { code?: unknown }).code !== WRONG_LAST_SEQUENCE) {
        log.warn({ edgeId, err: String(err) }, 'edge lease not refreshed; trying again');
        return;
      }
      log.error(
        { edgeId },
        'edge lease lost (expired, or another process uses this edge id): closing every connection',
      );
      await this.#retake();
      this.#deps.onLost();
    }
  }

  /** Gives the lease back: a drained edge holds no connection, so there is nothing to reap. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    // A refresh still under way would otherwise find the key deleted and take it again.
    await this.#refreshing;
    try {
      await this.#deps.kv.delete(this.#key);
    } catch (err) {
      this.#deps.log.warn({ edgeId: this.#deps.edgeId, err: String(err) }, 'edge lease not released');
    }
  }

  async #retake(): Promise<void> {
    try {
      this.#revision = await this.#deps.kv.put(this.#key, this.#entry());
    } catch (err) {
      this.#deps.log.warn({ edgeId: this.#deps.edgeId, err: String(err) }, 'edge lease not retaken');
    }
  }

  #entry(): string {
    const { edgeId, transport } = this.#deps;
    const entry: EdgeLeaseEntry = { edgeId, transport, startedAt: this.startedAt, at: Date.now() };
    return JSON.stringify(entry);
  }
}
