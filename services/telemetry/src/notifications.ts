import type { DeviceId, TelemetrySummary, TenantId } from '@fleetwire/protocol';

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
  readonly #pending = new Map<string, TelemetrySummary>();

  add(tenant: TenantId, deviceId: DeviceId, records: readonly Sample[]): void {
    const key = `${tenant}/${deviceId}`;
    let summary = this.#pending.get(key);
    if (!summary) {
      summary = { tenant, deviceId, recordCount: 0, latestTimestamp: 0, latestAttributes: {} };
      this.#pending.set(key, summary);
    }
    for (const r of records) {
      summary.recordCount++;
      if (r.deviceTime < summary.latestTimestamp) continue;
      summary.latestTimestamp = r.deviceTime;
      if (r.position) {
        summary.latestGps = { latitude: r.position.lat, longitude: r.position.lon };
        if (r.position.speed !== undefined) summary.latestGps.speed = r.position.speed;
      }
      Object.assign(summary.latestAttributes, r.attributes);
    }
  }

  /** Takes everything accumulated since the last call. */
  take(): TelemetrySummary[] {
    const out = [...this.#pending.values()];
    this.#pending.clear();
    return out;
  }

  get size(): number {
    return this.#pending.size;
  }
}
