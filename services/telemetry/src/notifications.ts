import type { DeviceId, TelemetrySummary, TenantId } from '@fleetwire/protocol';
import type { StoredRecord } from './adapters/telemetry-store.ts';

/** What a summary reads from a record. */
export interface Sample {
  deviceTime: number;
  position?: { lat: number; lon: number; speed?: number | undefined } | undefined;
  attributes?: Record<string, number | boolean | string>;
}

/**
 * Coalesces per device: however chatty a tracker is, the host gets one summary per device per
 * interval, carrying the count of records since the last one and the newest values.
 */
export class TelemetryCoalescer {
  /**
   * By tenant, then device: the ids of a decoded message are one string each, whose hash V8 keeps,
   * while a concatenated key is a new string to build and hash for every message.
   */
  readonly #pending = new Map<string, Map<string, TelemetrySummary>>();
  #size = 0;

  add(tenant: TenantId, deviceId: DeviceId, records: readonly Sample[]): void {
    const summary = this.#summary(tenant, deviceId);
    for (const r of records) {
      const p = r.position;
      note(summary, r.deviceTime, p?.lat ?? null, p?.lon ?? null, p?.speed, r.attributes);
    }
  }

  /**
   * The same as `add`, from the direct path's light records (position as columns, speeds as sent),
   * without building a Sample per record.
   */
  addStored(
    tenant: TenantId,
    deviceId: DeviceId,
    records: readonly StoredRecord[],
    speeds: ReadonlyArray<number | undefined>,
  ): void {
    const summary = this.#summary(tenant, deviceId);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      note(summary, r.deviceTime, r.latitude, r.longitude, speeds[i], r.attributes);
    }
  }

  #summary(tenant: TenantId, deviceId: DeviceId): TelemetrySummary {
    let devices = this.#pending.get(tenant);
    if (!devices) {
      devices = new Map();
      this.#pending.set(tenant, devices);
    }
    let summary = devices.get(deviceId);
    if (!summary) {
      summary = { tenant, deviceId, recordCount: 0, latestTimestamp: 0, latestAttributes: {} };
      devices.set(deviceId, summary);
      this.#size++;
    }
    return summary;
  }

  /** Takes everything accumulated since the last call. */
  take(): TelemetrySummary[] {
    const out: TelemetrySummary[] = [];
    for (const devices of this.#pending.values()) for (const summary of devices.values()) out.push(summary);
    this.#pending.clear();
    this.#size = 0;
    return out;
  }

  get size(): number {
    return this.#size;
  }
}

/** One record into its device's summary: counted; the newest (by device time) gives position and wins attributes. */
function note(
  summary: TelemetrySummary,
  deviceTime: number,
  lat: number | null,
  lon: number | null,
  speed: number | undefined,
  attributes: Record<string, number | boolean | string> | undefined,
): void {
  summary.recordCount++;
  if (deviceTime < summary.latestTimestamp) return;
  summary.latestTimestamp = deviceTime;
  if (lat !== null && lon !== null) {
    summary.latestGps = { latitude: lat, longitude: lon };
    if (speed !== undefined) summary.latestGps.speed = speed;
  }
  Object.assign(summary.latestAttributes, attributes);
}
