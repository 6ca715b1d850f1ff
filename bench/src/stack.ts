import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  freePort,
  type ManagedProcess,
  type RunningNats,
  type RunningPostgres,
  startNats,
  startPostgres,
  startProcess,
} from '@fleetwire/devstack';
import { natsBinary, REPO_ROOT } from '@fleetwire/testkit';
import postgres from 'postgres';
import { hostSpeedLine } from './host-speed.ts';

export { type CpuSnapshot, cpuBetween, cpuSnapshot, formatCpu } from './cpu.ts';

/** A service running as its own process, as `./fleetwire up` runs it. */
export interface BenchService {
  name: string;
  process: ManagedProcess;
  opsUrl: string;
  logFile: string;
}

/**
 * Everything one benchmark run starts: a temp folder, nats-server, PostgreSQL and service
 * processes. `close()` stops them all (services first, so they drain into live infrastructure)
 * and removes the folder; it runs on normal exit, on error and on Ctrl-C.
 */
export class BenchStack {
  readonly dir: string;
  readonly subjectRoot = 'bench';
  nats!: RunningNats;
  pg!: RunningPostgres;
  sql!: postgres.Sql;
  readonly services: BenchService[] = [];
  #closing: Promise<void> | undefined;
  readonly #keep: boolean;
  /** Where services write V8 CPU profiles when profiling is on. */
  profileDir: string | undefined;

  private constructor(dir: string, keep: boolean) {
    this.dir = dir;
    this.#keep = keep;
  }

  static async start(opts: StackOptions): Promise<BenchStack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-bench-'));
    // PostgreSQL runs as the postgres user when we are root: it must be able to enter the folder.
    fs.chmodSync(dir, 0o755);
    const stack = new BenchStack(dir, opts.keep ?? false);
    stack.profileDir = opts.cpuProf;
    installCleanup(stack);
    // Own process groups: a Ctrl-C reaches only the bench, which then stops everything in order.
    const [nats, pg] = await Promise.all([
      startNats({
        binary: natsBinary(),
        dir: path.join(dir, 'nats'),
        logFile: path.join(dir, 'nats.log'),
        detached: true,
      }),
      startPostgres({
        dir: path.join(dir, 'pg'),
        logFile: path.join(dir, 'postgres.log'),
        ephemeral: opts.ephemeralPg,
        detached: true,
        ...(opts.pgStats ? { settings: PG_STATS_SETTINGS } : {}),
      }),
    ]);
    stack.nats = nats;
    stack.pg = pg;
    stack.sql = postgres(pg.url, { max: 4, onnotice: () => {} });
    if (opts.pgStats) await stack.sql`create extension if not exists pg_stat_statements`;
    return stack;
  }

  /** Spawns `node services/<name>/src/main.ts` and waits for its /readyz. */
  async startService(name: string, env: Record<string, string> = {}): Promise<BenchService> {
    const httpPort = await freePort();
    const logFile = path.join(this.dir, `${name}.log`);
    const proc = startProcess({
      name,
      command: process.execPath,
      args: [
        '--disable-warning=ExperimentalWarning',
        // e.g. FW_BENCH_NODE_ARGS="--trace-gc": V8 flags for every service (NODE_OPTIONS refuses some).
        ...(process.env.FW_BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []),
        ...(this.profileDir
          ? ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`, `--cpu-prof-name=${name}.cpuprofile`]
          : []),
        path.join(REPO_ROOT, 'services', name, 'src/main.ts'),
      ],
      env: {
        ...process.env,
        FW_NATS_URL: this.nats.url,
        FW_DATABASE_URL: this.pg.url,
        FW_SUBJECT_ROOT: this.subjectRoot,
        FW_HTTP_PORT: String(httpPort),
        FW_LOG_LEVEL: process.env.FW_LOG_LEVEL ?? 'warn',
        ...env,
      },
      logFile,
      detached: true,
    });
    const service = { name, process: proc, opsUrl: `http://127.0.0.1:${httpPort}`, logFile };
    this.services.push(service);
    await waitReady(service);
    return service;
  }

  /** True once close() has begun: errors from connections it ends are expected then. */
  get closing(): boolean {
    return this.#closing !== undefined;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all(this.services.map((s) => s.process.stop('SIGTERM', 20_000)));
      await this.sql?.end({ timeout: 2 }).catch(() => {});
      await Promise.all([this.nats?.stop(), this.#keep ? this.pg?.stop() : this.pg?.destroy()]);
      if (!this.#keep) fs.rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.#closing;
  }

  /** Processes whose CPU time is worth reporting, PostgreSQL counted with all its backends. */
  processes(): Array<{ name: string; pid: number; withChildren?: boolean }> {
    return [
      { name: 'nats-server', pid: this.nats.process.pid },
      { name: 'postgres', pid: this.pg.process.pid, withChildren: true },
      ...this.services.map((s) => ({ name: s.name, pid: s.process.pid })),
      { name: 'bench (load)', pid: process.pid },
    ];
  }
}

async function waitReady(service: BenchService, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | string | undefined;
  void service.process.exited.then((code) => {
    exited = code;
  });
  while (Date.now() < deadline) {
    if (exited !== undefined) break;
    try {
      const res = await fetch(`${service.opsUrl}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const log = fs.existsSync(service.logFile) ? fs.readFileSync(service.logFile, 'utf8').slice(-4000) : '';
  throw new Error(`${service.name} not ready (${exited ?? 'timeout'}); its log:\n${log}`);
}

function installCleanup(stack: BenchStack): void {
  // While closing, queries and sockets still in flight fail by design; that must not abort the cleanup.
  process.on('unhandledRejection', (err) => {
    if (stack.closing) return;
    process.stderr.write(`unhandled rejection: ${(err as Error)?.stack ?? err}\n`);
    void stack.close().finally(() => process.exit(1));
  });
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping every process the benchmark started…\n`);
    void stack.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

const PG_STATS_SETTINGS = {
  shared_preload_libraries: 'pg_stat_statements',
  'pg_stat_statements.track': 'all',
} as const;

/** The statements PostgreSQL spent the most time on since `since` (a pg_stat_statements_reset), as table rows. */
export async function topStatements(sql: postgres.Sql, limit = 12): Promise<string[][]> {
  const rows = await sql<{ calls: string; total_ms: number; mean_ms: number; query: string }[]>`
    select calls::text, total_exec_time as total_ms, mean_exec_time as mean_ms, query
    from pg_stat_statements order by total_exec_time desc limit ${limit}`;
  return [
    ['calls', 'total ms', 'mean ms', 'statement'],
    ...rows.map((r) => [
      r.calls,
      r.total_ms.toFixed(0),
      r.mean_ms.toFixed(3),
      r.query.replace(/\s+/g, ' ').slice(0, 110),
    ]),
  ];
}

/** Runs `body` with a stack and always closes it, whatever happens. */
export interface StackOptions {
  ephemeralPg: boolean;
  /** Keep the temp folder (logs, data) afterwards. */
  keep?: boolean;
  /** Write a V8 CPU profile of every service into this folder. */
  cpuProf?: string;
  /** Load pg_stat_statements, so `topStatements()` can say where PostgreSQL spends its time. */
  pgStats?: boolean;
}

export async function withStack<T>(opts: StackOptions, body: (stack: BenchStack) => Promise<T>): Promise<T> {
  const stack = await BenchStack.start(opts);
  try {
    const result = await body(stack);
    // The stack is idle now: a figure unlike the one before means the host changed phase meanwhile.
    console.log(hostSpeedLine('after'));
    return result;
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** A growable list of latency samples in milliseconds. */
export class Samples {
  #data = new Float64Array(1024);
  #n = 0;
  add(ms: number): void {
    if (this.#n === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#n++] = ms;
  }
  /** Adds the same value `weight` times (e.g. once per record of a packet). */
  addWeighted(ms: number, weight: number): void {
    for (let i = 0; i < weight; i++) this.add(ms);
  }
  get count(): number {
    return this.#n;
  }
  percentile(p: number): number {
    return percentile(this.#data.slice(0, this.#n).sort(), p);
  }
  summary(): { p50: number; p99: number; max: number; n: number } {
    const sorted = this.#data.slice(0, this.#n).sort();
    return {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
      n: this.#n,
    };
  }
}

export const ms = (v: number) => (Number.isNaN(v) ? '—' : v < 10 ? v.toFixed(1) : v.toFixed(0));

/** A plain text table: first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function machineContext(): string {
  let natsVersion = '?';
  try {
    natsVersion = execFileSync(natsBinary(), ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as unknown
  }
  let load = '';
  try {
    load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    // not Linux
  }
  return [
    `machine: ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `node ${process.version} · ${natsVersion} · load average before start ${load}`,
    `date ${new Date().toISOString()}`,
    hostSpeedLine('before'),
  ].join('\n');
}

export function sleep(msDelay: number): Promise<void> {
  return new Promise((r) => setTimeout(r, msDelay));
}

/** Polls `check` until it returns true or the deadline passes; returns whether it did. */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number, everyMs = 200) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return check();
}

/** `--name value` and `--flag` options; unknown names are refused so a typo does not go unnoticed. */
export function parseArgs<T extends Record<string, string | number | boolean | undefined>>(
  argv: string[],
  defaults: T,
  usage: string,
): T {
  const out: Record<string, string | number | boolean | undefined> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    const key = m?.[1]?.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!m || !key || !(key in defaults)) throw new Error(`unknown option ${arg}\n${usage}`);
    const sample = defaults[key];
    if (typeof sample === 'boolean') {
      out[key] = m[2] === undefined ? true : m[2] !== 'false';
      continue;
    }
    const raw = m[2] ?? argv[++i];
    if (raw === undefined) throw new Error(`option --${m[1]} needs a value`);
    out[key] = typeof sample === 'number' ? parseNumber(raw, m[1]!) : raw;
  }
  return out as T;
}

/** Accepts 10000, 10k, 40k and durations such as 20s (as seconds). */
function parseNumber(raw: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|s|ms)?$/.exec(raw);
  if (!m) throw new Error(`--${name}: expected a number, got ${raw}`);
  const n = Number(m[1]);
  if (m[2] === 'k') return n * 1000;
  if (m[2] === 'ms') return n / 1000;
  return n;
}
