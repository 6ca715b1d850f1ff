/**
 * A load-generator process for the WebSocket benchmarks: gateways connected to edge-ws, at most
 * `inFlight` connecting at a time, then kept idle with heartbeats until told to stop. The gateways
 * are the simulator's own SimulatedWsDevice (answering commands) or, with `client: 'lean'`, the
 * lean client of bench/src/lean-gateway.ts (same bytes, far less CPU; heartbeats only). A process
 * holds at most ~19,900 sockets (RLIMIT_NOFILE 20,000), which is why the parent may start several.
 * Driven over IPC by bench/src/ws-gateways.ts.
 */

import http from 'node:http';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { createLogger, type LogLevel } from '@fleetwire/runtime';
import {
  CredentialStore,
  FleetStats,
  fleetIdentity,
  SimulatedWsDevice,
  type StatsSnapshot,
  wsDeviceId,
} from '@fleetwire/simulator';
import { type LeanFleet, LeanGateway, RandomPool, SessionClient } from './lean-gateway.ts';
import type { GcPauses, LoopFigures } from './ws-gateways.ts';

export interface LoadConfig {
  url: string;
  stateDir: string;
  seed: string;
  /** Gateways `from` … `to - 1` of the fleet. */
  from: number;
  to: number;
  sourceAddresses: number;
  inFlight: number;
  logLevel: LogLevel;
  /** Which gateways: the simulator's (default) or the lean client. */
  client?: LoadClient;
}

export type LoadClient = 'lean' | 'simulator';

export type ToLoad =
  | { type: 'start'; config: LoadConfig }
  | { type: 'stats' }
  | { type: 'loop' }
  | { type: 'stop' };

export interface ConnectReport {
  /** Wall-clock ms (shared by every process on the machine). */
  firstStartAt: number;
  lastAcceptAt: number;
  /** Session start → control/accept of each gateway's first connection, ms. */
  totalMs: number[];
  /** The session start (HTTP) part of it, ms. */
  sessionMs: number[];
  /** Attempts that failed before control/accept (each retried later). */
  failures: number;
  failureSamples: string[];
}

/** Memory after a full garbage collection (the process runs with --expose-gc). */
export interface MemoryFigures {
  rss: number;
  heapUsed: number;
}

export type FromLoad =
  | { type: 'progress'; connected: number }
  | { type: 'connected'; report: ConnectReport; baseline: MemoryFigures }
  | { type: 'stats'; stats: StatsSnapshot; memory: MemoryFigures }
  | { type: 'loop'; loop: LoopFigures }
  | { type: 'stopped'; stats: StatsSnapshot };

const send = (message: FromLoad) => process.send?.(message);

/** This process's GC pauses so far (a stalled simulator delays the commands it answers). */
const gc: GcPauses = { count: 0, totalMs: 0, over10ms: 0, over100ms: 0, maxMs: 0 };
/** Kept referenced for the life of the process. */
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gc.count++;
    gc.totalMs += entry.duration;
    if (entry.duration > 10) gc.over10ms++;
    if (entry.duration > 100) gc.over100ms++;
    gc.maxMs = Math.max(gc.maxMs, entry.duration);
  }
});
gcObserver.observe({ entryTypes: ['gc'] });
/** How late this process's event loop ran (10 ms resolution), reset at each reading. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function memoryAfterGc(): MemoryFigures {
  (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

/** A gateway as the connect bookkeeping sees it (SimulatedWsDevice, LeanGateway). */
interface Gateway {
  readonly id: string;
  readonly connections: number;
  start(): void;
  stop(): Promise<void>;
}

interface Running {
  gateways: Gateway[];
  stats: FleetStats;
  credentials: CredentialStore;
}

/** What either client reports back, per attempt. */
interface Observer {
  accepted(gateway: Gateway, timing: { sessionMs: number; totalMs: number }): void;
  connectFailed(gateway: Gateway, reason: string): void;
}

interface Fleet {
  stats: FleetStats;
  credentials: CredentialStore;
  /** Gateway `i` of the fleet, reporting to `observer`. */
  make(i: number, observer: Observer): Gateway;
  /** Every gateway's first connection is accepted: drop what only connecting needed. */
  connected(): void;
}

async function run(config: LoadConfig): Promise<Running> {
  const baseline = memoryAfterGc();
  const fleet = config.client === 'lean' ? leanFleet(config) : simulatorFleet(config);
  const report: ConnectReport = {
    firstStartAt: Date.now(),
    lastAcceptAt: 0,
    totalMs: [],
    sessionMs: [],
    failures: 0,
    failureSamples: [],
  };
  const gateways: Gateway[] = [];
  let next = config.from;
  let firstConnections = 0;
  const count = config.to - config.from;
  // A gateway frees its connecting slot once: at its first accept or its first failure.
  const released = new WeakSet<Gateway>();
  const release = (gateway: Gateway) => {
    if (released.has(gateway)) return;
    released.add(gateway);
    startNext();
  };
  const observer: Observer = {
    accepted: (g, timing) => {
      if (g.connections !== 1) return;
      report.totalMs.push(timing.totalMs);
      report.sessionMs.push(timing.sessionMs);
      report.lastAcceptAt = Date.now();
      firstConnections++;
      if (firstConnections === count) {
        fleet.connected();
        send({ type: 'connected', report, baseline });
      }
      release(g);
    },
    connectFailed: (g, reason) => {
      report.failures++;
      if (report.failureSamples.length < 5) report.failureSamples.push(`${g.id}: ${reason}`);
      // The gateway retries with backoff; its slot goes to the next one meanwhile.
      release(g);
    },
  };
  const startNext = () => {
    if (next >= config.to) return;
    const gateway = fleet.make(next++, observer);
    gateways.push(gateway);
    gateway.start();
  };
  for (let k = 0; k < Math.min(config.inFlight, count); k++) startNext();
  const progress = setInterval(() => send({ type: 'progress', connected: fleet.stats.wsConnected }), 1_000);
  progress.unref();
  return { gateways, stats: fleet.stats, credentials: fleet.credentials };
}

function localAddressOf(config: LoadConfig, i: number): string | undefined {
  return config.sourceAddresses > 1 ? `127.0.0.${1 + (i % config.sourceAddresses)}` : undefined;
}

/** The simulator's own gateways (what bench/ws-commands needs: they answer commands). */
function simulatorFleet(config: LoadConfig): Fleet {
  const stats = new FleetStats();
  const log = createLogger('bench-load', `load-${process.pid}`, config.logLevel);
  const credentials = CredentialStore.open(config.stateDir);
  const make = (i: number, observer: Observer): Gateway => {
    const localAddress = localAddressOf(config, i);
    return new SimulatedWsDevice({
      id: wsDeviceId(config.seed, i),
      identity: fleetIdentity(config.seed, i),
      settings: {
        url: config.url,
        ...(localAddress ? { localAddress } : {}),
        // Idle gateways: heartbeats only, as the benchmarks measure connections, not traffic.
        telemetryIntervalMs: 0,
        reportState: false,
        heartbeatMs: HEARTBEAT_MS,
        ackTimeoutMs: 10_000,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        backoff: BACKOFF,
        rebootDelayMs: 1_000,
        maxPendingMessages: 20,
      },
      credentials,
      logDir: `${config.stateDir}/ws-logs`,
      random: Math.random,
      stats,
      log,
      observer,
    });
  };
  // Devices do not keep their session-start connection: close the shared agent's idle keep-alive
  // sockets, so that the edge's memory counts only the device connections.
  return { stats, credentials, make, connected: () => http.globalAgent.destroy() };
}

/** Lean gateways (bench/src/lean-gateway.ts): the same bytes on the wire at a fraction of the CPU. */
function leanFleet(config: LoadConfig): Fleet {
  const stats = new FleetStats();
  const credentials = CredentialStore.open(config.stateDir);
  const addresses = Array.from({ length: Math.max(1, config.sourceAddresses) }, (_, i) =>
    localAddressOf(config, i),
  );
  const url = new URL(config.url);
  const sessions = new SessionClient(url, SESSION_SOCKETS, addresses, CONNECT_TIMEOUT_MS);
  const shared: Omit<LeanFleet, 'observer'> = {
    url,
    sessions,
    credentials,
    stats,
    random: new RandomPool(),
    heartbeatMs: HEARTBEAT_MS,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    backoff: BACKOFF,
  };
  // One object for the whole fleet (the observer is the same for every gateway).
  let fleet: LeanFleet | undefined;
  const make = (i: number, observer: Observer): Gateway => {
    fleet ??= { ...shared, observer };
    return new LeanGateway(
      wsDeviceId(config.seed, i),
      fleetIdentity(config.seed, i),
      localAddressOf(config, i),
      fleet,
    );
  };
  return { stats, credentials, make, connected: () => sessions.close() };
}

const HEARTBEAT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 30_000;
const BACKOFF = { baseMs: 1_000, capMs: 20_000 };
/** Keep-alive connections of the lean client's session starts (requests pipelined on them). */
const SESSION_SOCKETS = 8;

let running: Promise<Running> | undefined;
process.on('message', (message: ToLoad) => {
  if (message.type === 'start') running = run(message.config);
  else if (message.type === 'stats')
    void running?.then(({ stats }) =>
      send({ type: 'stats', stats: stats.snapshot(), memory: memoryAfterGc() }),
    );
  else if (message.type === 'loop') {
    send({
      type: 'loop',
      loop: { gc: { ...gc }, lagMaxMs: loopDelay.max / 1e6, lagP99Ms: loopDelay.percentile(99) / 1e6 },
    });
    // The longest pause and the loop delay are per reading.
    gc.maxMs = 0;
    loopDelay.reset();
  } else if (message.type === 'stop') {
    void running?.then(async ({ gateways, stats, credentials }) => {
      const snapshot = stats.snapshot();
      await Promise.all(gateways.map((g) => g.stop()));
      credentials.flush();
      send({ type: 'stopped', stats: snapshot });
      process.disconnect();
    });
  }
});
// The parent went away (Ctrl-C, a crash): nothing to do without it.
process.on('disconnect', () => process.exit(0));
// Loaded (~1 s of CPU compiling the workspace's TypeScript): the parent may start its CPU window.
send({ type: 'progress', connected: 0 });
