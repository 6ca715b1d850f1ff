import type { Logger } from '@fleetwire/runtime';
import type { StoredRecord } from './adapters/telemetry-store.ts';

/**
 * A map keyed by tenant, then device. Not one concatenated key: the ids of a decoded message are
 * one string each, whose hash V8 computes once, while a concatenation is a new string to flatten
 * and hash at every lookup (several per record on the hot path).
 */
class DeviceMap<V> {
  readonly #tenants = new Map<string, Map<string, V>>();
  #size = 0;

  get(r: StoredRecord): V | undefined {
    return this.#tenants.get(r.tenantId)?.get(r.deviceId);
  }

  set(r: StoredRecord, value: V): void {
    let devices = this.#tenants.get(r.tenantId);
    if (!devices) {
      devices = new Map();
      this.#tenants.set(r.tenantId, devices);
    }
    const before = devices.size;
    devices.set(r.deviceId, value);
    this.#size += devices.size - before;
  }

  /** Keeps only the entries `keep` says yes to. */
  retain(keep: (value: V) => boolean): void {
    for (const devices of this.#tenants.values())
      for (const [device, value] of devices) if (!keep(value)) devices.delete(device);
    this.#size = 0;
    for (const devices of this.#tenants.values()) this.#size += devices.size;
  }

  /** Every value, sorted by tenant then device (the lock order every writer follows); empties the map. */
  take(): V[] {
    const out: V[] = [];
    for (const tenant of [...this.#tenants.keys()].sort()) {
      const devices = this.#tenants.get(tenant)!;
      for (const device of [...devices.keys()].sort()) out.push(devices.get(device)!);
    }
    this.#tenants.clear();
    this.#size = 0;
    return out;
  }

  get size(): number {
    return this.#size;
  }
}

/**
 * The latest state of each device seen since the last flush, merged the way `device_state` merges
 * it: the newest record (by device time) gives the position and its attributes win, older records
 * only add attributes not known yet, `receivedAt` only grows. So neither state put back after a
 * failed flush nor a late record can move a device back.
 */
export class LatestStates {
  readonly #pending = new DeviceMap<StoredRecord>();

  add(records: readonly StoredRecord[]): void {
    for (const r of records) {
      const seen = this.#pending.get(r);
      if (seen) merge(seen, r);
      else this.#pending.set(r, { ...r, attributes: { ...r.attributes } });
    }
  }

  /** Takes every pending state, sorted by device (the lock order every writer follows). */
  take(): StoredRecord[] {
    return this.#pending.take();
  }

  /** Whether a state is pending for the device of `r`. */
  has(r: StoredRecord): boolean {
    return this.#pending.get(r) !== undefined;
  }

  get size(): number {
    return this.#pending.size;
  }
}

function merge(into: StoredRecord, r: StoredRecord): void {
  into.receivedAt = Math.max(into.receivedAt, r.receivedAt);
  if (r.deviceTime < into.deviceTime) {
    // Older: it may only add attributes the newer records did not carry.
    for (const [k, v] of Object.entries(r.attributes)) if (!(k in into.attributes)) into.attributes[k] = v;
    return;
  }
  into.deviceTime = r.deviceTime;
  into.eventIo = r.eventIo;
  into.priority = r.priority;
  into.latitude = r.latitude;
  into.longitude = r.longitude;
  into.altitude = r.altitude;
  into.angle = r.angle;
  into.satellites = r.satellites;
  into.speed = r.speed;
  into.io = r.io;
  into.source = r.source;
  Object.assign(into.attributes, r.attributes);
}

/** Merged states of the given records, one per device, sorted by device (every writer's lock order). */
export function latestOf(records: readonly StoredRecord[]): StoredRecord[] {
  const states = new LatestStates();
  states.add(records);
  return states.take();
}

/**
 * Decides when `device_state` is written. A device not written for `intervalMs` gets its state in
 * the transaction of the batch that carries it (so a quiet device's state is current as soon as its
 * rows are); a device written more recently waits, merged in memory, for the next flush, at most
 * `intervalMs` later. With a thousand chatty trackers nearly every batch used to touch nearly every
 * `device_state` row, and that upsert cost PostgreSQL more than the telemetry rows themselves; now
 * each device costs one upsert per interval. States wait only after their rows are committed, so
 * `device_state` never runs ahead of `telemetry`, and the upsert is guarded by device time, so it
 * never goes back either. A failed flush puts its states back for the next one; state still
 * pending when the process dies is replaced by the device's next record.
 */
export class LatestStateWriter {
  readonly #pending = new LatestStates();
  /** When each device's state was last written by this process. */
  readonly #writtenAt = new DeviceMap<number>();
  readonly #store: { writeLatest(rows: readonly StoredRecord[]): Promise<void> };
  readonly #intervalMs: number;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> | undefined;

  constructor(deps: {
    store: { writeLatest(rows: readonly StoredRecord[]): Promise<void> };
    intervalMs: number;
    log: Logger;
  }) {
    this.#store = deps.store;
    this.#intervalMs = deps.intervalMs;
    this.#log = deps.log;
    this.#timer = setInterval(() => void this.flush(), deps.intervalMs);
  }

  /**
   * States to write together with these records: those of quiet devices, i.e. not written for the
   * interval and with nothing pending (a device with pending state is chatty: the next flush,
   * due within the interval anyway, takes its newer state too).
   */
  due(records: readonly StoredRecord[]): StoredRecord[] {
    const now = Date.now();
    const due = records.filter(
      (r) => !this.#pending.has(r) && now - (this.#writtenAt.get(r) ?? 0) >= this.#intervalMs,
    );
    return latestOf(due);
  }

  /** Records whose rows are committed, together with the states (`due`) committed with them. */
  committed(records: readonly StoredRecord[], written: readonly StoredRecord[]): void {
    if (written.length === 0) {
      this.#pending.add(records);
      return;
    }
    const now = Date.now();
    const withBatch = new DeviceMap<true>();
    for (const s of written) {
      this.#writtenAt.set(s, now);
      withBatch.set(s, true);
    }
    this.#pending.add(records.filter((r) => withBatch.get(r) === undefined));
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Writes what is pending (waits for a flush already running, then writes what came since). */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#forgetQuiet();
    if (this.#pending.size === 0) return;
    this.#flushing = this.#write(this.#pending.take()).finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
  }

  async #write(rows: StoredRecord[]): Promise<void> {
    try {
      await this.#store.writeLatest(rows);
      const now = Date.now();
      for (const r of rows) this.#writtenAt.set(r, now);
    } catch (err) {
      this.#pending.add(rows);
      this.#log.warn({ err, devices: rows.length }, 'latest device state not written; will retry');
    }
  }

  /** Devices quiet for the interval are due anyway: their entries only cost memory. */
  #forgetQuiet(): void {
    const cutoff = Date.now() - this.#intervalMs;
    this.#writtenAt.retain((at) => at >= cutoff);
  }

  /** Stops the timer and writes what is pending (once: PostgreSQL may be gone at shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
