import { decodeDataFrame, encodeAvlPacket, namedAttributes } from '@fleetwire/teltonika';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/random.ts';
import { DEFAULT_CENTRE, distanceM, Vehicle } from '../src/tracker/vehicle.ts';

const HOURS = 3_600_000;

function drive(seed: string, radiusKm: number, totalMs: number, stepMs: number) {
  const vehicle = new Vehicle({ centre: DEFAULT_CENTRE, radiusKm, random: seededRandom(seed) });
  const records = [];
  for (let t = 0; t < totalMs; t += stepMs) {
    vehicle.step(stepMs);
    records.push(vehicle.record(1_700_000_000_000 + t));
  }
  return records;
}

describe('the simulated vehicle', () => {
  it('stays inside its circle however long it drives, with plausible readings', () => {
    for (const seed of ['a', 'b', 'c', 'd', 'e', 'f']) {
      // A small circle makes the edge matter many times in six hours.
      const records = drive(seed, 1, 6 * HOURS, 1_000);
      const problems = new Set<string>();
      let odometer = 0;
      let farthest = 0;
      for (const r of records) {
        farthest = Math.max(farthest, distanceM(DEFAULT_CENTRE, { lat: r.latitude, lon: r.longitude }));
        if (r.speed < 0 || r.speed > 90) problems.add(`speed ${r.speed}`);
        if (r.satellites < 6 || r.satellites > 14) problems.add(`satellites ${r.satellites}`);
        if (r.angle < 0 || r.angle >= 360) problems.add(`angle ${r.angle}`);
        const io = namedAttributes(r.io);
        if ((io.totalOdometer as number) < odometer) problems.add('odometer went back');
        odometer = io.totalOdometer as number;
        if (io.movement !== r.speed > 0) problems.add('movement disagrees with speed');
        if (!io.ignition && r.speed > 0) problems.add('moving with the ignition off');
      }
      expect([...problems]).toEqual([]);
      expect(farthest).toBeLessThanOrEqual(1_000);
      expect(farthest).toBeGreaterThan(900);
    }
  }, 30_000);

  it('drives and stops: speeds across the range, stops, and ignition events with event IO 239', () => {
    const records = drive('mixed', 10, 12 * HOURS, 5_000);
    const speeds = records.map((r) => r.speed);
    expect(Math.max(...speeds)).toBeGreaterThan(60);
    expect(speeds.filter((s) => s === 0).length).toBeGreaterThan(10);
    const events = records.filter((r) => r.eventIoId === 239);
    expect(events.length).toBeGreaterThan(2);
    for (const e of events) expect(e.priority).toBe(1);
    // Ignition really changed at each event record.
    const ignition = records.map((r) => namedAttributes(r.io).ignition);
    const changes = ignition.filter((v, i) => i > 0 && v !== ignition[i - 1]).length;
    expect(events.length).toBe(changes);
  });

  it('turns smoothly: consecutive headings one second apart differ by at most the turn rate', () => {
    const records = drive('smooth', 10, 1 * HOURS, 1_000);
    for (let i = 1; i < records.length; i++) {
      const a = records[i - 1]!;
      const b = records[i]!;
      if (a.speed === 0 || b.speed === 0) continue;
      const turn = Math.abs(((b.angle - a.angle + 540) % 360) - 180);
      // 20°/s plus rounding, except when the hard edge turns the vehicle round.
      if (distanceM(DEFAULT_CENTRE, { lat: b.latitude, lon: b.longitude }) < 9_900)
        expect(turn).toBeLessThanOrEqual(21);
    }
  });

  it('is reproducible from its seed and its records survive the Codec 8E round trip', () => {
    const a = drive('same', 10, 10 * 60_000, 5_000);
    const b = drive('same', 10, 10 * 60_000, 5_000);
    expect(a).toEqual(b);
    const decoded = decodeDataFrame(encodeAvlPacket(0x8e, a.slice(0, 5)));
    expect(decoded.kind).toBe('avl');
    if (decoded.kind !== 'avl') return;
    expect(decoded.records[0]).toMatchObject({ latitude: a[0]!.latitude, longitude: a[0]!.longitude });
    expect(Object.keys(namedAttributes(decoded.records[0]!.io))).toEqual(
      expect.arrayContaining([
        'ignition',
        'movement',
        'gsmSignal',
        'externalVoltage',
        'batteryVoltage',
        'batteryLevel',
        'totalOdometer',
        'speed',
        'gnssStatus',
        'pdop',
        'hdop',
        'sleepMode',
      ]),
    );
  });
});
