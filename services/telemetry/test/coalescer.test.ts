import type { DeviceId, TenantId } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import type { StoredRecord } from '../src/adapters/telemetry-store.ts';
import { TelemetryCoalescer } from '../src/notifications.ts';

const t = 'default' as TenantId;
const a = '356307042441013' as DeviceId;
const b = '352093081452251' as DeviceId;

describe('TelemetryCoalescer', () => {
  it('sends one summary per device per interval with the count and the newest values', () => {
    const c = new TelemetryCoalescer();
    c.add(t, a, [
      { deviceTime: 2000, position: { lat: 1, lon: 2, speed: 30 }, attributes: { ignition: true } },
      { deviceTime: 1000, position: { lat: 9, lon: 9 }, attributes: { ignition: false, batteryLevel: 50 } },
    ]);
    c.add(t, a, [{ deviceTime: 3000, attributes: { batteryLevel: 80 } }]);
    c.add(t, b, [{ deviceTime: 5, position: { lat: 3, lon: 4 } }]);
    expect(c.take()).toEqual([
      {
        tenant: t,
        deviceId: a,
        recordCount: 3,
        latestTimestamp: 3000,
        latestGps: { latitude: 1, longitude: 2, speed: 30 },
        latestAttributes: { ignition: true, batteryLevel: 80 },
      },
      {
        tenant: t,
        deviceId: b,
        recordCount: 1,
        latestTimestamp: 5,
        latestGps: { latitude: 3, longitude: 4 },
        latestAttributes: {},
      },
    ]);
    expect(c.take()).toEqual([]);
    expect(c.size).toBe(0);
  });

  it("summarises the direct path's light records exactly as the samples they stand for", () => {
    const light = (
      deviceTime: number,
      latitude: number | null,
      longitude: number | null,
      attributes: StoredRecord['attributes'],
    ): StoredRecord => ({
      tenantId: t,
      deviceId: a,
      deviceTime,
      eventIo: 0,
      receivedAt: deviceTime,
      priority: null,
      latitude,
      longitude,
      altitude: null,
      angle: null,
      satellites: null,
      speed: null,
      io: {},
      attributes,
      source: 'teltonika',
    });
    const viaSamples = new TelemetryCoalescer();
    viaSamples.add(t, a, [
      { deviceTime: 2000, position: { lat: 1, lon: 2, speed: 30.5 }, attributes: { ignition: true } },
      { deviceTime: 1000, position: { lat: 9, lon: 9 }, attributes: { ignition: false, batteryLevel: 50 } },
      { deviceTime: 3000, attributes: { batteryLevel: 80 } },
    ]);
    const viaRecords = new TelemetryCoalescer();
    viaRecords.addStored(
      t,
      a,
      [
        light(2000, 1, 2, { ignition: true }),
        light(1000, 9, 9, { ignition: false, batteryLevel: 50 }),
        light(3000, null, null, { batteryLevel: 80 }),
      ],
      [30.5, undefined, undefined],
    );
    const summary = viaRecords.take();
    expect(summary).toEqual(viaSamples.take());
    expect(summary[0]).toMatchObject({
      recordCount: 3,
      latestGps: { latitude: 1, longitude: 2, speed: 30.5 },
    });
  });
});
