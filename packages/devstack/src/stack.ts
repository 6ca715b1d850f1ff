import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { hashSecret, newSecret, SECRET_KIND } from '@fleetwire/runtime';
import postgres from 'postgres';
// The simulator's pure id scheme, so the banner names the gateways the simulator will run.
import { wsDeviceIds } from '../../simulator/src/ws/identity.ts';
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
  /** Ids of the simulated WebSocket gateways `up` started, if any. */
  simulatedWsDevices?: string[];
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

interface LocalSecrets {
  apiKey: string;
  webhookSecret: string;
  /** The default tenant's fleet provisioning key for the simulated gateways (stored hashed in the database). */
  provisioningKey: string;
}

/**
 * The local stack's API key, webhook signing secret and fleet provisioning key: the first two taken
 * from the environment when given (IOT_API_KEY / FW_API_DEV_KEY, FW_WEBHOOK_SECRET), otherwise each
 * generated once and kept in the state folder (a secrets file from before a secret existed gains it).
 */
function localSecrets(paths: StackPaths): LocalSecrets {
  const file = path.join(paths.state, 'secrets.json');
  const stored: Partial<LocalSecrets> = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  const complete: LocalSecrets = {
    apiKey: stored.apiKey ?? `fw_dev_${crypto.randomBytes(18).toString('base64url')}`,
    webhookSecret: stored.webhookSecret ?? crypto.randomBytes(24).toString('base64url'),
    provisioningKey: stored.provisioningKey ?? newSecret(SECRET_KIND.PROVISIONING_KEY),
  };
  if (Object.keys(stored).length !== Object.keys(complete).length) {
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(complete), { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
  }
  return {
    apiKey: process.env.FW_API_DEV_KEY ?? process.env.IOT_API_KEY ?? complete.apiKey,
    webhookSecret: process.env.FW_WEBHOOK_SECRET ?? complete.webhookSecret,
    provisioningKey: complete.provisioningKey,
  };
}

const LOCAL_PROVISIONING_KEY_ID = 'pvk_local_sim';

/**
 * Registers the local fleet provisioning key for the default tenant (once: a database that already
 * has it, or has it revoked, is left alone). Returns false when the registry has no such table yet.
 */
async function ensureProvisioningKey(databaseUrl: string, key: string): Promise<boolean> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`
      insert into provisioning_keys (tenant_id, id, name, key_hash)
      values ('default', ${LOCAL_PROVISIONING_KEY_ID}, 'local simulated fleet (./fleetwire up)', ${hashSecret(key)})
      on conflict do nothing`;
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return false;
    throw err;
  } finally {
    await sql.end({ timeout: 2 });
  }
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
    simWsDevices: env('FW_SIM_WS_DEVICES', 3, 0, 10_000),
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
  // A service the supervisor restarted has a new pid: `./fleetwire status` must show that one.
  const recordRelaunch = () => {
    if (!info.ready) return;
    info.services.forEach((svc, i) => {
      svc.pid = supervised[i]?.pid() ?? svc.pid;
    });
    if (info.simulatorPid !== undefined) info.simulatorPid = supervised.at(-1)!.pid();
    writeStack(paths, info);
  };
  const supervised = discoverServices(paths.root).map((m, i) =>
    superviseService(m, i, baseEnv, paths, print, recordRelaunch),
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
  if (options.simulate) {
    const sim = await simulatorManifest(paths.root, pg.url, secrets.provisioningKey, settings, print);
    if (sim) {
      // The simulated fleet is supervised like a service: its lines appear in the combined log.
      supervised.push(
        superviseService(sim.manifest, supervised.length, baseEnv, paths, print, recordRelaunch),
      );
      info.simulatedTrackers = sim.trackers;
      info.simulatedWsDevices = sim.wsDeviceIds;
      info.simulatorPid = supervised.at(-1)!.pid();
    }
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

const SIM_SEED = 'fleetwire';

/**
 * A small fleet so data flows from the first minute: trackers registered in the local database, and
 * WebSocket gateways that provision themselves through edge-ws with the local fleet key (their
 * credentials stay in .fleetwire/state/simulator, so a restarted stack reuses them).
 */
async function simulatorManifest(
  root: string,
  databaseUrl: string,
  provisioningKey: string,
  settings: { simTrackers: number; simWsDevices: number },
  print: (line: string) => void,
): Promise<{ manifest: ServiceManifest; trackers: number; wsDeviceIds: string[] } | undefined> {
  const edgeWs = discoverServices(root).find((m) => m.name === 'edge-ws');
  let wsDevices = settings.simWsDevices;
  if (wsDevices > 0 && !edgeWs) {
    print('no edge-ws service: the simulated fleet has no WebSocket gateways');
    wsDevices = 0;
  }
  if (wsDevices > 0 && !(await ensureProvisioningKey(databaseUrl, provisioningKey))) {
    print('the registry has no provisioning_keys table: the simulated fleet has no WebSocket gateways');
    wsDevices = 0;
  }
  const trackers = settings.simTrackers;
  if (trackers === 0 && wsDevices === 0) return undefined;
  const wsUrl = `http://127.0.0.1:${edgeWs?.env.FW_WS_PORT ?? '8090'}`;
  return {
    trackers,
    wsDeviceIds: wsDeviceIds(SIM_SEED, wsDevices),
    manifest: {
      name: 'sim',
      dir: path.join(root, 'packages/simulator'),
      entry: path.join(root, 'packages/simulator/src/main.ts'),
      args: [
        ...['--seed', SIM_SEED, '--trackers', String(trackers), '--register', '--database-url', databaseUrl],
        ...['--ws-devices', String(wsDevices), '--ws-url', wsUrl, '--log-level', 'info'],
      ],
      httpPort: 0,
      order: 1000,
      // In the environment rather than the arguments, so that it does not show in the process list.
      env: { FW_SIM_PROVISIONING_KEY: provisioningKey },
      endpoints: [],
    },
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
  onRelaunch: () => void,
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
      setTimeout(() => {
        if (stopping) return;
        launch();
        onRelaunch();
      }, delay);
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
  lines.push(...simulatedFleetLines(info));
  lines.push(`  API key (x-api-key, development only): ${info.apiKey}`);
  lines.push('  ./fleetwire status · ./fleetwire down', '');
  return lines.join('\n');
}

/** What the simulator runs: the tracker count and every gateway id (commands need the ids). */
export function simulatedFleetLines(info: StackInfo): string[] {
  const lines: string[] = [];
  if (info.simulatedTrackers) {
    lines.push(
      `  simulated fleet    ${info.simulatedTrackers} Teltonika trackers (FW_SIM_TRACKERS; up --no-sim for none)`,
    );
  }
  const gateways = info.simulatedWsDevices ?? [];
  if (gateways.length > 0) {
    const shown =
      gateways.length <= 10 ? gateways.join(', ') : `${gateways.slice(0, 3).join(', ')} … ${gateways.at(-1)}`;
    lines.push(`  simulated fleet    ${gateways.length} WebSocket gateways (FW_SIM_WS_DEVICES): ${shown}`);
  }
  return lines;
}
