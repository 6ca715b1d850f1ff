/**
 * A load-generator process for the WebSocket benchmarks: simulated gateways (the simulator's own
 * SimulatedWsDevice) connected to edge-ws, at most `inFlight` connecting at a time, then kept idle
 * with heartbeats (answering commands) until told to stop. A process holds at most ~19,900 sockets
 * (RLIMIT_NOFILE 20,000), which is why the parent may start several. Driven over IPC by
 * bench/src/ws-gateways.ts.
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
}

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

async function run(config: LoadConfig): Promise<{ devices: SimulatedWsDevice[]; stats: FleetStats }> {
  const baseline = memoryAfterGc();
  const stats = new FleetStats();
  const log = createLogger('bench-load', `load-${process.pid}`, config.logLevel);
  const credentials = CredentialStore.open(config.stateDir);
  const report: ConnectReport = {
    firstStartAt: Date.now(),
    lastAcceptAt: 0,
    totalMs: [],
    sessionMs: [],
    failures: 0,
    failureSamples: [],
  };
  const devices: SimulatedWsDevice[] = [];
  let next = config.from;
  let firstConnections = 0;
  const count = config.to - config.from;
  // A gateway frees its connecting slot once: at its first accept or its first failure.
  const released = new WeakSet<SimulatedWsDevice>();
  const release = (device: SimulatedWsDevice) => {
    if (released.has(device)) return;
    released.add(device);
    startNext();
  };
  const startNext = () => {
    if (next >= config.to) return;
    const i = next++;
    const device = new SimulatedWsDevice({
      id: wsDeviceId(config.seed, i),
      identity: fleetIdentity(config.seed, i),
      settings: {
        url: config.url,
        ...(config.sourceAddresses > 1
          ? { localAddress: `127.0.0.${1 + (i % config.sourceAddresses)}` }
          : {}),
        // Idle gateways: heartbeats only, as the benchmarks measure connections, not traffic.
        telemetryIntervalMs: 0,
        reportState: false,
        heartbeatMs: 5_000,
        ackTimeoutMs: 10_000,
        connectTimeoutMs: 30_000,
        backoff: { baseMs: 1_000, capMs: 20_000 },
        rebootDelayMs: 1_000,
        maxPendingMessages: 20,
      },
      credentials,
      logDir: `${config.stateDir}/ws-logs`,
      random: Math.random,
      stats,
      log,
      observer: {
        accepted: (d, timing) => {
          if (d.connections !== 1) return;
          report.totalMs.push(timing.totalMs);
          report.sessionMs.push(timing.sessionMs);
          report.lastAcceptAt = Date.now();
          firstConnections++;
          if (firstConnections === count) {
            // Devices do not keep their session-start connection: close the shared agent's idle
            // keep-alive sockets, so that the edge's memory counts only the device connections.
            http.globalAgent.destroy();
            send({ type: 'connected', report, baseline });
          }
          release(d);
        },
        connectFailed: (d, reason) => {
          report.failures++;
          if (report.failureSamples.length < 5) report.failureSamples.push(`${d.id}: ${reason}`);
          // The gateway retries with backoff; its slot goes to the next one meanwhile.
          release(d);
        },
      },
    });
    devices.push(device);
    device.start(0);
  };
  for (let k = 0; k < Math.min(config.inFlight, count); k++) startNext();
  const progress = setInterval(() => send({ type: 'progress', connected: stats.wsConnected }), 1_000);
  progress.unref();
  return { devices, stats };
}

let running: Promise<{ devices: SimulatedWsDevice[]; stats: FleetStats }> | undefined;
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
    void running?.then(async ({ devices, stats }) => {
      const snapshot = stats.snapshot();
      await Promise.all(devices.map((d) => d.stop()));
      send({ type: 'stopped', stats: snapshot });
      process.disconnect();
    });
  }
});
// The parent went away (Ctrl-C, a crash): nothing to do without it.
process.on('disconnect', () => process.exit(0));
