import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { startNats } from './nats.ts';
import { startPostgres } from './postgres.ts';
import { colourFor, prettyLine } from './pretty.ts';
import { type ManagedProcess, startProcess } from './process.ts';
import { discoverServices, type ServiceManifest } from './services.ts';

export interface StackPaths {
  root: string;
  state: string;
  logs: string;
  stackFile: string;
}

export function stackPaths(root: string): StackPaths {
  const state = path.join(process.env.FW_HOME ?? path.join(root, '.fleetwire'), 'state');
  return { root, state, logs: path.join(state, 'logs'), stackFile: path.join(state, 'stack.json') };
}

export interface StackInfo {
  /** The development API key (x-api-key) of the local stack. */
  apiKey: string;
  supervisorPid: number;
  ready: boolean;
  startedAt: string;
  nats: { pid: number; url: string; monitorUrl: string };
  postgres: { pid: number; url: string };
  services: Array<{ name: string; pid: number; opsUrl: string; endpoints: string[] }>;
  /** Size of the simulated tracker fleet `up` started, if any. */
  simulatedTrackers?: number;
  simulatorPid?: number;
}

export function readStack(paths: StackPaths): StackInfo | undefined {
  if (!fs.existsSync(paths.stackFile)) return undefined;
  return JSON.parse(fs.readFileSync(paths.stackFile, 'utf8')) as StackInfo;
}

function writeStack(paths: StackPaths, info: StackInfo): void {
  fs.writeFileSync(`${paths.stackFile}.tmp`, JSON.stringify(info, null, 2));
  fs.renameSync(`${paths.stackFile}.tmp`, paths.stackFile);
}

/** An integer setting of the local stack; a bad value stops `up` naming the variable. */
function env(name: string, fallback: number, min = 1, max = 65_535): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/**
 * The local stack's API key and webhook signing secret: taken from the environment when given
 * (IOT_API_KEY / FW_API_DEV_KEY, FW_WEBHOOK_SECRET), otherwise generated once and kept in the state folder.
 */
function localSecrets(paths: StackPaths): { apiKey: string; webhookSecret: string } {
  const file = path.join(paths.state, 'secrets.json');
  const stored = fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { apiKey: string; webhookSecret: string })
    : {
        apiKey: `fw_dev_${crypto.randomBytes(18).toString('base64url')}`,
        webhookSecret: crypto.randomBytes(24).toString('base64url'),
      };
  if (!fs.existsSync(file)) fs.writeFileSync(file, JSON.stringify(stored), { mode: 0o600 });
  return {
    apiKey: process.env.FW_API_DEV_KEY ?? process.env.IOT_API_KEY ?? stored.apiKey,
    webhookSecret: process.env.FW_WEBHOOK_SECRET ?? stored.webhookSecret,
  };
}

/** Runs infrastructure and every service in the foreground until SIGINT/SIGTERM. */
export async function runStack(
  paths: StackPaths,
  print: (line: string) => void,
  options: { simulate: boolean } = { simulate: true },
): Promise<void> {
  // Read every setting before starting anything, so a bad value stops `up` with nothing left running.
  const settings = {
    natsPort: env('FW_NATS_PORT', 4222),
    natsMonitorPort: env('FW_NATS_MONITOR_PORT', 8222),
    pgPort: env('FW_PG_PORT', 54320),
    simTrackers: env('FW_SIM_TRACKERS', 5, 0, 10_000),
  };
  fs.mkdirSync(paths.logs, { recursive: true });
  print(`starting nats-server and PostgreSQL (state in ${paths.state})`);
  const natsBinary = process.env.FW_NATS_SERVER ?? path.join(paths.root, '.fleetwire/tools/bin/nats-server');
  // Children get their own process group so Ctrl-C reaches only us and we stop them in order.
  const [nats, pg] = await Promise.all([
    startNats({
      binary: natsBinary,
      dir: path.join(paths.state, 'nats'),
      port: settings.natsPort,
      monitorPort: settings.natsMonitorPort,
      logFile: path.join(paths.logs, 'nats.log'),
      detached: true,
    }),
    startPostgres({
      dir: path.join(paths.state, 'pg'),
      port: settings.pgPort,
      logFile: path.join(paths.logs, 'postgres.log'),
      detached: true,
    }),
  ]);
  const secrets = localSecrets(paths);
  const info: StackInfo = {
    apiKey: secrets.apiKey,
    supervisorPid: process.pid,
    ready: false,
    startedAt: new Date().toISOString(),
    nats: { pid: nats.process.pid, url: nats.url, monitorUrl: `http://127.0.0.1:${nats.monitorPort}` },
    postgres: { pid: pg.process.pid, url: pg.url },
    services: [],
  };
  writeStack(paths, info);

  const baseEnv = {
    ...process.env,
    FW_NATS_URL: nats.url,
    FW_DATABASE_URL: pg.url,
    FW_LOG_LEVEL: process.env.FW_LOG_LEVEL ?? 'info',
    FW_API_DEV_KEY: secrets.apiKey,
    FW_WEBHOOK_SECRET: secrets.webhookSecret,
  };
  const supervised = discoverServices(paths.root).map((m, i) =>
    superviseService(m, i, baseEnv, paths, print),
  );
  info.services = supervised.map((s) => ({
    name: s.manifest.name,
    pid: s.pid(),
    opsUrl: `http://127.0.0.1:${s.manifest.httpPort}`,
    endpoints: s.manifest.endpoints,
  }));
  await waitUntilReady(
    info.services.map((svc) => `${svc.opsUrl}/readyz`),
    print,
  );
  const fleetSize = settings.simTrackers;
  if (options.simulate && fleetSize > 0) {
    // The simulated fleet is supervised like a service: its lines appear in the combined log.
    supervised.push(
      superviseService(
        simulatorManifest(paths.root, pg.url, fleetSize),
        supervised.length,
        baseEnv,
        paths,
        print,
      ),
    );
    info.simulatedTrackers = fleetSize;
    info.simulatorPid = supervised.at(-1)!.pid();
  }
  info.ready = true;
  writeStack(paths, info);
  print(summary(info));

  let stopping = false;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    for (const infra of [nats.process, pg.process]) {
      void infra.exited.then((code) => {
        if (stopping) return;
        print(`${infra.name} exited unexpectedly (${code}); stopping the stack`);
        resolve();
      });
    }
  });
  stopping = true;
  print('stopping services, then NATS and PostgreSQL');
  await Promise.all(supervised.map((s) => s.stop()));
  await Promise.all([nats.stop(), pg.stop()]);
  fs.rmSync(paths.stackFile, { force: true });
  print('stopped');
}

async function waitUntilReady(urls: string[], print: (line: string) => void): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (const url of urls) {
    for (;;) {
      const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) {
        print(`not ready after 90 s: ${url} (see ./fleetwire status)`);
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** A small tracker fleet, registered in the local database, so data flows from the first minute. */
function simulatorManifest(root: string, databaseUrl: string, trackers: number): ServiceManifest {
  return {
    name: 'sim',
    dir: path.join(root, 'packages/simulator'),
    entry: path.join(root, 'packages/simulator/src/main.ts'),
    args: [
      '--trackers',
      String(trackers),
      '--register',
      '--database-url',
      databaseUrl,
      '--log-level',
      'info',
    ],
    httpPort: 0,
    order: 1000,
    env: {},
    endpoints: [],
  };
}

interface Supervised {
  manifest: ServiceManifest;
  pid(): number;
  stop(): Promise<void>;
}

/** Runs one service, restarting it with backoff if it dies, and prints its logs prefixed. */
function superviseService(
  manifest: ServiceManifest,
  index: number,
  baseEnv: NodeJS.ProcessEnv,
  paths: StackPaths,
  print: (line: string) => void,
): Supervised {
  const label = colourFor(index)(manifest.name.padEnd(10));
  const logFile = fs.createWriteStream(path.join(paths.logs, `${manifest.name}.log`), { flags: 'a' });
  let current: ManagedProcess;
  let stopping = false;
  let restarts = 0;
  const launch = () => {
    current = startProcess({
      name: manifest.name,
      command: process.execPath,
      args: ['--disable-warning=ExperimentalWarning', manifest.entry, ...(manifest.args ?? [])],
      env: { ...baseEnv, FW_HTTP_PORT: String(manifest.httpPort), ...manifest.env },
      pipe: true,
      detached: true,
    });
    for (const stream of [current.child.stdout, current.child.stderr]) {
      if (!stream) continue;
      readline.createInterface({ input: stream }).on('line', (line) => {
        logFile.write(`${line}\n`);
        print(prettyLine(label, line));
      });
    }
    const started = Date.now();
    void current.exited.then((code) => {
      if (stopping) return;
      if (Date.now() - started > 60_000) restarts = 0;
      const delay = Math.min(30_000, 1000 * 2 ** restarts++);
      print(prettyLine(label, `exited (${code}); restarting in ${delay} ms`));
      setTimeout(() => !stopping && launch(), delay);
    });
  };
  launch();
  return {
    manifest,
    pid: () => current.pid,
    stop: async () => {
      stopping = true;
      await current.stop('SIGTERM', 20_000);
      logFile.end();
    },
  };
}

export function summary(info: StackInfo): string {
  const lines = [
    '',
    '\x1b[1mfleetwire is up\x1b[0m',
    `  NATS (JetStream)   ${info.nats.url}   monitoring ${info.nats.monitorUrl}`,
    `  PostgreSQL         ${info.postgres.url}`,
  ];
  for (const s of info.services) {
    lines.push(`  ${s.name.padEnd(18)} health ${s.opsUrl}/readyz   metrics ${s.opsUrl}/metrics`);
    for (const e of s.endpoints) lines.push(`  ${''.padEnd(18)} ${e}`);
  }
  if (info.services.length === 0) lines.push('  (no services yet)');
  if (info.simulatedTrackers) {
    lines.push(
      `  simulated fleet    ${info.simulatedTrackers} Teltonika trackers (FW_SIM_TRACKERS; up --no-sim for none)`,
    );
  }
  lines.push(`  API key (x-api-key, development only): ${info.apiKey}`);
  lines.push('  ./fleetwire status · ./fleetwire down', '');
  return lines.join('\n');
}
