import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports.ts';
import { type ManagedProcess, startProcess } from './process.ts';

export interface NatsOptions {
  /** nats-server binary (>= 2.10). */
  binary: string;
  /** Folder for the config file and JetStream storage; created if missing. */
  dir: string;
  port?: number;
  monitorPort?: number;
  logFile?: string;
  detached?: boolean;
  /** JetStream file storage limit. */
  maxFileStore?: string;
  /** Go scheduler threads for nats-server; see natsGomaxprocs for the default. */
  gomaxprocs?: number;
}

/**
 * nats-server's GOMAXPROCS when it shares the machine with PostgreSQL and the services: half the
 * cores, at least one, unless the environment already sets it. With one scheduler thread per core,
 * Go's idle threads spin looking for work (nanosleep and futex calls) on cores the other processes
 * need: on the 2-core bench machine, one thread cost nats-server 20 % less CPU per telemetry record
 * (bench/README.md, "nats-server's scheduler threads").
 */
export function natsGomaxprocs(cores: number, env: NodeJS.ProcessEnv): string {
  const given = env.GOMAXPROCS?.trim();
  if (given) return given;
  return String(Math.max(1, Math.floor(cores / 2)));
}

export interface RunningNats {
  url: string;
  port: number;
  monitorPort: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export async function startNats(opts: NatsOptions): Promise<RunningNats> {
  const port = opts.port ?? (await freePort());
  const monitorPort = opts.monitorPort ?? (await freePort());
  fs.mkdirSync(path.join(opts.dir, 'jetstream'), { recursive: true });
  const confFile = path.join(opts.dir, 'nats.conf');
  fs.writeFileSync(
    confFile,
    [
      `server_name: fleetwire_${port}`,
      `listen: 127.0.0.1:${port}`,
      `http: 127.0.0.1:${monitorPort}`,
      'max_payload: 1MB',
      'jetstream {',
      `  store_dir: "${path.join(opts.dir, 'jetstream')}"`,
      '  max_memory_store: 256MB',
      `  max_file_store: ${opts.maxFileStore ?? '8GB'}`,
      '}',
      '',
    ].join('\n'),
  );
  const gomaxprocs = opts.gomaxprocs ?? natsGomaxprocs(os.availableParallelism(), process.env);
  const proc = startProcess({
    name: 'nats-server',
    command: opts.binary,
    args: ['-c', confFile],
    env: { ...process.env, GOMAXPROCS: String(gomaxprocs) },
    logFile: opts.logFile,
    detached: opts.detached,
  });
  await Promise.race([
    waitForPort(port, 15_000),
    proc.exited.then((code) => {
      throw new Error(`nats-server exited early (${code}); see ${opts.logFile ?? 'stderr'}`);
    }),
  ]);
  await waitForJetStream(monitorPort);
  return { url: `nats://127.0.0.1:${port}`, port, monitorPort, process: proc, stop: () => proc.stop() };
}

async function waitForJetStream(monitorPort: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nats-server did not report JetStream healthy in time');
}
