import { createLogger, type Logger } from '@fleetwire/runtime';
import { registerTrackers } from './adapters/registry.ts';
import type { Device } from './device.ts';
import { imeiFor, MAX_FLEET_SIZE } from './imei.ts';
import { seededRandom } from './random.ts';
import { FleetStats } from './stats.ts';
import {
  DEFAULT_TRACKER_SETTINGS,
  SimulatedTracker,
  type TrackerSettings,
} from './tracker/simulated-tracker.ts';
import { DEFAULT_CENTRE, DEFAULT_RADIUS_KM, type GeoPoint, Vehicle } from './tracker/vehicle.ts';

export interface FleetOptions {
  trackers: number;
  host: string;
  port: number;
  /** Names the fleet: the same seed gives the same IMEIs and the same tracks. */
  seed: string;
  /** Spread connections over 127.0.0.1 … 127.0.0.N (loopback only): each address has its own ephemeral ports. */
  sourceAddresses: number;
  /** Stop after this long; undefined = until stop(). */
  durationMs?: number;
  /** Device starts are spread evenly over this window so their timers never fire in lockstep. */
  rampMs?: number;
  centre: GeoPoint;
  radiusKm: number;
  /** Insert the fleet's IMEIs into the registry first (edge-tcp refuses unknown IMEIs). */
  register?: { databaseUrl: string; tenant: string };
  log?: Logger;
  tracker: Omit<TrackerSettings, 'host' | 'port' | 'localAddress'>;
}

export const DEFAULT_FLEET_OPTIONS: FleetOptions = {
  trackers: 10,
  host: '127.0.0.1',
  port: 5027,
  seed: 'fleetwire',
  sourceAddresses: 1,
  centre: DEFAULT_CENTRE,
  radiusKm: DEFAULT_RADIUS_KM,
  tracker: DEFAULT_TRACKER_SETTINGS,
};

export type FleetInput = Partial<Omit<FleetOptions, 'tracker'>> & {
  tracker?: Partial<FleetOptions['tracker']>;
};

export interface Fleet {
  readonly devices: readonly Device[];
  readonly trackers: readonly SimulatedTracker[];
  readonly stats: FleetStats;
  /** Resolves once the fleet has stopped (stop() or the duration ran out). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** The IMEIs of a fleet, in device order. */
export function fleetImeis(seed: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => imeiFor(seed, i));
}

/**
 * Starts a simulated fleet against a running edge: registers it if asked, then starts every device
 * with its start spread over the ramp. Resolves as soon as the devices are scheduled.
 */
export async function runFleet(input: FleetInput = {}): Promise<Fleet> {
  const options: FleetOptions = {
    ...DEFAULT_FLEET_OPTIONS,
    ...input,
    tracker: { ...DEFAULT_FLEET_OPTIONS.tracker, ...input.tracker },
  };
  checkFleetOptions(options);
  const log = options.log ?? createLogger('simulator', `sim-${process.pid}`, 'silent');
  const imeis = fleetImeis(options.seed, options.trackers);
  if (options.register) {
    const { added } = await registerTrackers(options.register.databaseUrl, options.register.tenant, imeis);
    log.info({ added, fleet: imeis.length, tenant: options.register.tenant }, 'fleet registered');
  }
  const stats = new FleetStats();
  const trackers = imeis.map((imei, i) => createTracker(options, imei, i, stats, log));
  const ramp = options.rampMs ?? options.tracker.intervalMs;
  trackers.forEach((t, i) => {
    t.start(Math.floor((ramp * i) / trackers.length));
  });
  return fleetHandle(trackers, stats, options.durationMs);
}

function createTracker(
  options: FleetOptions,
  imei: string,
  index: number,
  stats: FleetStats,
  log: Logger,
): SimulatedTracker {
  const random = seededRandom(`${options.seed}:${index}`);
  const localAddress =
    options.sourceAddresses > 1 ? `127.0.0.${1 + (index % options.sourceAddresses)}` : undefined;
  return new SimulatedTracker({
    imei,
    settings: {
      ...options.tracker,
      host: options.host,
      port: options.port,
      ...(localAddress ? { localAddress } : {}),
    },
    vehicle: new Vehicle({ centre: options.centre, radiusKm: options.radiusKm, random }),
    random,
    stats,
    log,
  });
}

function fleetHandle(trackers: SimulatedTracker[], stats: FleetStats, durationMs: number | undefined): Fleet {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearTimeout(timer);
      await Promise.all(trackers.map((t) => t.stop()));
      finish();
    })();
    return stopping;
  };
  const timer = durationMs === undefined ? undefined : setTimeout(() => void stop(), durationMs);
  return { devices: trackers, trackers, stats, done, stop };
}

function checkFleetOptions(o: FleetOptions): void {
  const problems: string[] = [];
  if (!Number.isInteger(o.trackers) || o.trackers < 0 || o.trackers > MAX_FLEET_SIZE) {
    problems.push(`trackers must be an integer between 0 and ${MAX_FLEET_SIZE}`);
  }
  if (!Number.isInteger(o.sourceAddresses) || o.sourceAddresses < 1 || o.sourceAddresses > 254) {
    problems.push('source addresses must be an integer between 1 and 254');
  }
  if (o.sourceAddresses > 1 && !/^(127\.|localhost$)/.test(o.host)) {
    problems.push('several source addresses work only against a loopback host (127.x.x.x)');
  }
  const t = o.tracker;
  if (!Number.isInteger(t.recordsPerPacket) || t.recordsPerPacket < 1 || t.recordsPerPacket > 255) {
    problems.push('records per packet must be an integer between 1 and 255');
  }
  if (t.intervalMs < t.recordsPerPacket) problems.push('the interval must allow 1 ms per record');
  if (Math.abs(o.centre.lat) > 85 || Math.abs(o.centre.lon) > 180)
    problems.push('the centre is not a position');
  if (problems.length > 0) throw new RangeError(problems.join('; '));
}
