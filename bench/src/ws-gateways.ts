/**
 * What both WebSocket benchmarks need: gateways registered with credentials (as the REST API would
 * issue them), load-generator processes holding their connections, and the edge's memory.
 */
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { hashSecret, type LogLevel, newSecret, SECRET_KIND } from '@fleetwire/runtime';
import { CredentialStore, type StatsSnapshot, wsDeviceIds } from '@fleetwire/simulator';
import type postgres from 'postgres';
import type {
  ConnectReport,
  FromLoad,
  LoadClient,
  LoadConfig,
  MemoryFigures,
  ToLoad,
} from './ws-load-process.ts';

export const GATEWAY_SEED = 'bench';

/**
 * Registers `count` ws devices with fresh credentials (hashes in `devices`, as the API stores them)
 * and writes the clear credentials where the simulator looks for them (`<stateDir>/ws-credentials.json`).
 */
export async function registerGateways(
  sql: postgres.Sql,
  stateDir: string,
  count: number,
): Promise<string[]> {
  const ids = wsDeviceIds(GATEWAY_SEED, count);
  const credentials = ids.map(() => newSecret(SECRET_KIND.DEVICE_CREDENTIAL));
  const store = CredentialStore.open(stateDir);
  for (const [i, id] of ids.entries()) store.set(id, credentials[i]!);
  store.flush();
  await sql`
    insert into devices (tenant_id, id, kind, credential_hash, credential_issued_at)
    select 'default', d.id, 'ws', d.hash, now()
    from unnest(${ids}::text[], ${credentials.map(hashSecret)}::text[]) as d(id, hash)
    on conflict do nothing`;
  return ids;
}

export interface LoadOptions {
  url: string;
  stateDir: string;
  count: number;
  processes: number;
  sourceAddresses: number;
  /** Connecting at once, per process. */
  inFlight: number;
  logLevel?: LogLevel;
  /** Write a V8 CPU profile of each load process into this folder. */
  cpuProf?: string | undefined;
  /** The simulator's gateways (default; they answer commands) or the lean client (bench/src/lean-gateway.ts). */
  client?: LoadClient;
  /**
   * Start the gateways only at each LoadProcess's begin(), so that a CPU window opened after
   * `loaded` leaves out the processes' start-up (compiling the workspace's TypeScript).
   */
  deferStart?: boolean;
}

/** One forked load-generator process (bench/src/ws-load-process.ts). */
export class LoadProcess {
  readonly child: ChildProcess;
  /** Every gateway's first connection accepted; with the process's memory before it started them. */
  readonly connected: Promise<{ report: ConnectReport; baseline: MemoryFigures }>;
  /** The process has loaded its modules (its first progress message) and can start at once. */
  readonly loaded: Promise<void>;
  progress = 0;
  #waiters: Array<{ type: FromLoad['type']; resolve: (m: FromLoad) => void }> = [];
  readonly #config: LoadConfig;

  /** `deferStart`: the gateways start at begin(), not as soon as the process has loaded. */
  constructor(config: LoadConfig, cpuProf?: string, deferStart = false) {
    this.#config = config;
    const profile = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`] : [];
    this.child = fork(path.join(import.meta.dirname, 'ws-load-process.ts'), [], {
      execArgv: ['--disable-warning=ExperimentalWarning', '--expose-gc', ...profile],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.connected = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`load process exited (${code}) before connecting`)));
      this.#wait('connected').then((m) => resolve(m as { report: ConnectReport; baseline: MemoryFigures }));
    });
    this.connected.catch(() => {});
    this.loaded = new Promise((resolve, reject) => {
      this.child.once('exit', (code) => reject(new Error(`load process exited (${code}) before loading`)));
      this.#wait('progress').then(() => resolve());
    });
    this.loaded.catch(() => {});
    this.child.on('message', (message: FromLoad) => {
      if (message.type === 'progress') this.progress = message.connected;
      const i = this.#waiters.findIndex((w) => w.type === message.type);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(message);
    });
    if (!deferStart) this.begin();
  }

  /** Starts the gateways (queued until the process has loaded). */
  begin(): void {
    this.#send({ type: 'start', config: this.#config });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The process's counters, and its memory after a full GC. */
  async stats(): Promise<{ stats: StatsSnapshot; memory: MemoryFigures }> {
    const answer = this.#wait('stats');
    this.#send({ type: 'stats' });
    return (await answer) as { stats: StatsSnapshot; memory: MemoryFigures };
  }

  /**
   * The process's GC pauses so far (cumulative; the longest since the previous call) and its
   * event-loop delay since the previous call.
   */
  async loop(): Promise<LoopFigures> {
    const answer = this.#wait('loop');
    this.#send({ type: 'loop' });
    return ((await answer) as { loop: LoopFigures }).loop;
  }

  /** Closes every connection of the process and waits for it to exit; resolves with its last counters. */
  async stop(): Promise<StatsSnapshot | undefined> {
    if (this.child.exitCode !== null || !this.child.connected) return undefined;
    const answer = this.#wait('stopped');
    const exited = new Promise((r) => this.child.once('exit', r));
    this.#send({ type: 'stop' });
    const stopped = (await Promise.race([answer, exited])) as { stats?: StatsSnapshot } | undefined;
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    return stopped?.stats;
  }

  #send(message: ToLoad): void {
    this.child.send(message);
  }

  #wait(type: FromLoad['type']): Promise<FromLoad> {
    return new Promise((resolve) => this.#waiters.push({ type, resolve }));
  }
}

/** Splits the fleet evenly over `processes` load processes. */
export function startLoad(opts: LoadOptions): LoadProcess[] {
  const per = Math.ceil(opts.count / opts.processes);
  const loads: LoadProcess[] = [];
  for (let p = 0; p < opts.processes; p++) {
    const from = p * per;
    const to = Math.min(opts.count, from + per);
    if (from >= to) break;
    loads.push(
      new LoadProcess(
        {
          url: opts.url,
          stateDir: opts.stateDir,
          seed: GATEWAY_SEED,
          from,
          to,
          sourceAddresses: opts.sourceAddresses,
          inFlight: opts.inFlight,
          logLevel: opts.logLevel ?? 'error',
          client: opts.client ?? 'simulator',
        },
        opts.cpuProf,
        opts.deferStart,
      ),
    );
  }
  return loads;
}

/** Resident memory of a process from /proc, in bytes. */
export function rssOf(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? Number.NaN : Number(kb) * 1024;
}

/** A service's memory: RSS from /proc; heap used, heap committed and external from its /metrics. */
export interface ServiceMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

export async function serviceMemoryOf(opsUrl: string, pid?: number): Promise<ServiceMemory> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const metric = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(' ').at(-1)) : Number.NaN;
  };
  return {
    rss: pid === undefined ? Number.NaN : rssOf(pid),
    heapUsed: metric('fleetwire_nodejs_heap_size_used_bytes'),
    heapTotal: metric('fleetwire_nodejs_heap_size_total_bytes'),
    external: metric('fleetwire_nodejs_external_memory_bytes'),
  };
}

/** How many session starts / upgrade checks the edge's batched statements carried, per statement. */
export async function statementBatchesOf(opsUrl: string): Promise<string> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const sum = (metric: string, statement: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${metric}{`) && l.includes(`statement="${statement}"`))
      .reduce((total, l) => total + Number(l.split(' ').at(-1)), 0);
  return ['open_session', 'find_session']
    .map((statement) => {
      const statements = sum('fleetwire_edge_ws_db_statements_total', statement);
      const requests = sum('fleetwire_edge_ws_db_requests_total', statement);
      return `${statement} ${requests} in ${statements} statements (${(requests / statements).toFixed(1)} each)`;
    })
    .join(' · ');
}

/**
 * A full garbage collection in a service started with `--inspect=<host:port>` (the bench's
 * NODE_OPTIONS), through the inspector (`HeapProfiler.collectGarbage`): memory figures then count
 * what the connections hold, not garbage a later GC would free. The service itself has no switch.
 */
export async function collectGarbage(inspectorPort: number): Promise<void> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as Array<{
    webSocketDebuggerUrl: string;
  }>;
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
      ws.onmessage = (event) => {
        if ((JSON.parse(String(event.data)) as { id?: number }).id === 1) resolve(undefined);
      };
      ws.onerror = () => reject(new Error('inspector connection failed'));
    });
  } finally {
    ws.close();
  }
  // Let V8 give the freed pages back before RSS is read.
  await new Promise((r) => setTimeout(r, 500));
}

/**
 * Writes a V8 heap snapshot of the process behind the inspector to `file` (after a full GC), for
 * grouping what the connections retain by constructor.
 */
export async function writeHeapSnapshot(inspectorPort: number, file: string): Promise<void> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json()) as Array<{
    webSocketDebuggerUrl: string;
  }>;
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  const out = fs.createWriteStream(file);
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.takeHeapSnapshot' }));
      ws.onmessage = (event) => {
        const msg = JSON.parse(String(event.data)) as {
          id?: number;
          method?: string;
          params?: { chunk: string };
        };
        if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') out.write(msg.params!.chunk);
        else if (msg.id === 1) resolve(undefined);
      };
      ws.onerror = () => reject(new Error('inspector connection failed'));
    });
  } finally {
    ws.close();
    await new Promise((r) => out.end(r));
  }
}

export const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
export const kib = (bytes: number) => `${(bytes / 1024).toFixed(2)} KiB`;

/**
 * Garbage-collection pauses of a process (all kinds), cumulative: count, total, and how many took
 * longer than 10 ms and 100 ms. A difference of two readings covers a window.
 */
export interface GcPauses {
  count: number;
  totalMs: number;
  over10ms: number;
  over100ms: number;
  maxMs: number;
}

/** A process's GC pauses (cumulative) and its event-loop delay since the previous reading. */
export interface LoopFigures {
  gc: GcPauses;
  lagMaxMs: number;
  lagP99Ms: number;
}

export function gcBetween(a: GcPauses, b: GcPauses): GcPauses {
  return {
    count: b.count - a.count,
    totalMs: b.totalMs - a.totalMs,
    over10ms: b.over10ms - a.over10ms,
    over100ms: b.over100ms - a.over100ms,
    maxMs: b.maxMs,
  };
}

export function formatGc(gc: GcPauses): string {
  const max = gc.maxMs > 0 ? `, longest ${gc.maxMs.toFixed(0)} ms` : '';
  return `${gc.count} pauses, ${gc.totalMs.toFixed(0)} ms in all, ${gc.over10ms} over 10 ms, ${gc.over100ms} over 100 ms${max}`;
}

/**
 * A service's GC pauses (prom-client's `nodejs_gc_duration_seconds` histogram, every kind) and its
 * event-loop delay since the previous scrape (`nodejs_eventloop_lag_max/p99_seconds`, which
 * prom-client resets at each scrape): read at the start of a window to reset, at its end to read.
 */
export async function serviceLoopOf(opsUrl: string): Promise<LoopFigures> {
  const lines = (await (await fetch(`${opsUrl}/metrics`)).text()).split('\n');
  const sum = (prefix: string, filter = '') =>
    lines
      .filter((l) => l.startsWith(prefix) && l.includes(filter))
      .reduce((total, l) => total + Number(l.split(' ').at(-1)), 0);
  const gcName = 'fleetwire_nodejs_gc_duration_seconds';
  const count = sum(`${gcName}_count`);
  const first = (name: string) =>
    Number(
      lines
        .find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
        ?.split(' ')
        .at(-1),
    );
  return {
    gc: {
      count,
      totalMs: sum(`${gcName}_sum`) * 1000,
      over10ms: count - sum(`${gcName}_bucket`, 'le="0.01"'),
      over100ms: count - sum(`${gcName}_bucket`, 'le="0.1"'),
      maxMs: 0,
    },
    lagMaxMs: first('fleetwire_nodejs_eventloop_lag_max_seconds') * 1000,
    lagP99Ms: first('fleetwire_nodejs_eventloop_lag_p99_seconds') * 1000,
  };
}
