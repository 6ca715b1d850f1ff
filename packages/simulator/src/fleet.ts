import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { createLogger, type Logger } from '@fleetwire/runtime';
import { simulatorStateDir } from './adapters/local-stack.ts';
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
import { CredentialStore } from './ws/credentials.ts';
import { fleetIdentity, hostIdentity, wsDeviceIds } from './ws/identity.ts';
import {
  DEFAULT_WS_DEVICE_SETTINGS,
  SimulatedWsDevice,
  type WsDeviceObserver,
  type WsDeviceSettings,
} from './ws/simulated-ws-device.ts';

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
  /** WebSocket gateways in the fleet (ids `gw-<seed>-0000` …). */
  wsDevices: number;
  /** edge-ws: where gateways start sessions and connect. */
  wsUrl: string;
  /** Fleet provisioning key: gateways without a stored credential register themselves with it. */
  provisioningKey?: string;
  /** Where gateways keep their credentials and JSON logs; default `.fleetwire/state/simulator`. */
  stateDir?: string;
  ws: Omit<WsDeviceSettings, 'url' | 'localAddress' | 'provisioningKey'>;
  wsObserver?: WsDeviceObserver;
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
  wsDevices: 0,
  wsUrl: 'http://127.0.0.1:8090',
  ws: DEFAULT_WS_DEVICE_SETTINGS,
};

export type FleetInput = Partial<Omit<FleetOptions, 'tracker' | 'ws'>> & {
  tracker?: Partial<FleetOptions['tracker']>;
  ws?: Partial<FleetOptions['ws']>;
};

export interface Fleet {
  readonly devices: readonly Device[];
  readonly trackers: readonly SimulatedTracker[];
  readonly wsDevices: readonly SimulatedWsDevice[];
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
 * Starts a simulated fleet against running edges: registers the trackers if asked, then starts every
 * device (trackers, then gateways) with its start spread over the ramp. Resolves as soon as the
 * devices are scheduled.
 */
export async function runFleet(input: FleetInput = {}): Promise<Fleet> {
  const options: FleetOptions = {
    ...DEFAULT_FLEET_OPTIONS,
    ...input,
    tracker: { ...DEFAULT_FLEET_OPTIONS.tracker, ...input.tracker },
    ws: { ...DEFAULT_FLEET_OPTIONS.ws, ...input.ws },
  };
  checkFleetOptions(options);
  const log = options.log ?? createLogger('simulator', `sim-${process.pid}`, 'silent');
  const imeis = fleetImeis(options.seed, options.trackers);
  if (options.register && imeis.length > 0) {
    const { added } = await registerTrackers(options.register.databaseUrl, options.register.tenant, imeis);
    log.info({ added, fleet: imeis.length, tenant: options.register.tenant }, 'fleet registered');
  }
  const stats = new FleetStats();
  const trackers = imeis.map((imei, i) => createTracker(options, imei, i, stats, log));
  const gateways = createGateways(options, stats, log);
  const devices: Device[] = [...trackers, ...gateways.devices];
  const ramp = options.rampMs ?? options.tracker.intervalMs;
  devices.forEach((d, i) => {
    d.start(Math.floor((ramp * i) / devices.length));
  });
  return fleetHandle({ trackers, gateways, stats }, options.durationMs);
}

/** The source address of device `index` when connections are spread over several loopback addresses. */
function sourceAddress(options: FleetOptions, index: number): string | undefined {
  return options.sourceAddresses > 1 ? `127.0.0.${1 + (index % options.sourceAddresses)}` : undefined;
}

interface Gateways {
  devices: SimulatedWsDevice[];
  credentials: CredentialStore;
  agent: http.Agent;
}

/**
 * The fleet's WebSocket gateways. A fleet of one reports this machine's MAC and address, as the
 * seed device does; larger fleets get made-up, seed-derived identities.
 */
function createGateways(options: FleetOptions, stats: FleetStats, log: Logger): Gateways {
  const stateDir = options.stateDir ?? simulatorStateDir();
  const credentials = CredentialStore.open(options.wsDevices > 0 ? stateDir : undefined);
  const agent = new (options.wsUrl.startsWith('https:') ? https.Agent : http.Agent)({
    keepAlive: true,
    maxSockets: 64,
  });
  const devices = wsDeviceIds(options.seed, options.wsDevices).map((id, i) => {
    const localAddress = sourceAddress(options, i);
    return new SimulatedWsDevice({
      id,
      identity: options.wsDevices === 1 ? hostIdentity(options.seed) : fleetIdentity(options.seed, i),
      settings: {
        ...options.ws,
        url: options.wsUrl,
        ...(localAddress ? { localAddress } : {}),
        ...(options.provisioningKey ? { provisioningKey: options.provisioningKey } : {}),
      },
      credentials,
      logDir: path.join(stateDir, 'ws-logs'),
      random: seededRandom(`${options.seed}:ws:${i}`),
      stats,
      log,
      agent,
      ...(options.wsObserver ? { observer: options.wsObserver } : {}),
    });
  });
  return { devices, credentials, agent };
}

function createTracker(
  options: FleetOptions,
  imei: string,
  index: number,
  stats: FleetStats,
  log: Logger,
): SimulatedTracker {
  const random = seededRandom(`${options.seed}:${index}`);
  const localAddress = sourceAddress(options, index);
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

function fleetHandle(
  parts: { trackers: SimulatedTracker[]; gateways: Gateways; stats: FleetStats },
  durationMs: number | undefined,
): Fleet {
  const { trackers, gateways, stats } = parts;
  const devices: Device[] = [...trackers, ...gateways.devices];
  let finish!: () => void;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearTimeout(timer);
      await Promise.all(devices.map((d) => d.stop()));
      gateways.credentials.flush();
      gateways.agent.destroy();
      finish();
    })();
    return stopping;
  };
  const timer = durationMs === undefined ? undefined : setTimeout(() => void stop(), durationMs);
  return { devices, trackers, wsDevices: gateways.devices, stats, done, stop };
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
  problems.push(...wsProblems(o));
  const t = o.tracker;
  if (!Number.isInteger(t.recordsPerPacket) || t.recordsPerPacket < 1 || t.recordsPerPacket > 255) {
    problems.push('records per packet must be an integer between 1 and 255');
  }
  if (t.intervalMs < t.recordsPerPacket) problems.push('the interval must allow 1 ms per record');
  if (Math.abs(o.centre.lat) > 85 || Math.abs(o.centre.lon) > 180)
    problems.push('the centre is not a position');
  if (problems.length > 0) throw new RangeError(problems.join('; '));
}

function wsProblems(o: FleetOptions): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(o.wsDevices) || o.wsDevices < 0 || o.wsDevices > MAX_FLEET_SIZE) {
    problems.push(`ws devices must be an integer between 0 and ${MAX_FLEET_SIZE}`);
  }
  if (o.wsDevices === 0) return problems;
  let url: URL | undefined;
  try {
    url = new URL(o.wsUrl);
  } catch {
    // named below
  }
  if (!url || !['http:', 'https:'].includes(url.protocol)) {
    problems.push('the ws url must be an http:// or https:// URL of edge-ws');
  } else if (o.sourceAddresses > 1 && !/^(127\.|localhost$)/.test(url.hostname)) {
    problems.push('several source addresses work only against a loopback ws url (127.x.x.x)');
  }
  if (o.ws.telemetryIntervalMs < 0) problems.push('the ws telemetry interval must not be negative');
  if (o.ws.heartbeatMs < 100) problems.push('the ws heartbeat must be at least 100ms');
  return problems;
}
