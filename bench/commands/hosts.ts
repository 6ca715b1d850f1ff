/**
 * The two outside parties of the commands bench, each in a forked process of its own, so neither
 * shares an event loop with the other or with the HTTP client firing commands: one process's pause
 * (a burst of tracker replies, a GC) would otherwise delay the others' timestamps and answers, and
 * count as fleetwire's latency. In one process the load generator's event loop lagged 25 ms at p99
 * and 275 ms at worst at 500 commands/s (session 9).
 *
 * - `trackers`: testkit TrackerClients that log in to edge-tcp and answer the Codec 12 command.
 * - `receiver`: the host application's webhook endpoint (node:http); checks every signature and
 *   reports each confirm webhook (bench sequence, command id, wall-clock arrival) in batches.
 *
 * Run by bench/commands/run.ts through `fork`; not a command of its own.
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '@fleetwire/notifier';
import { TrackerClient } from '@fleetwire/testkit';

export interface TrackerHostConfig {
  role: 'trackers';
  port: number;
  imeis: string[];
  command: string;
  answer: string;
}

export interface ReceiverConfig {
  role: 'receiver';
  secret: string;
  confirmPath: string;
}

/** A webhook the receiver took: wall-clock ms (performance.timeOrigin + now, shared by every process). */
export interface Arrival {
  seq: number;
  commandId: string | undefined;
  wallMs: number;
}

export type FromHost =
  | { type: 'ready'; port?: number }
  | { type: 'arrivals'; arrivals: Arrival[]; badSignatures: number; unexpected: number };

/** How often the receiver reports what arrived: often enough for the per-second timeline. */
const REPORT_EVERY_MS = 20;

/** A forked host process, ready once it says so. */
export class HostProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<{ port?: number }>;

  constructor(
    config: TrackerHostConfig | ReceiverConfig,
    onArrivals?: (m: FromHost & { type: 'arrivals' }) => void,
  ) {
    this.child = fork(import.meta.filename, [], {
      execArgv: ['--disable-warning=ExperimentalWarning'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', (code) =>
        reject(new Error(`${config.role} process exited (${code}) before it was ready`)),
      );
      this.child.on('message', (m: FromHost) => {
        if (m.type === 'ready') resolve(m);
        else onArrivals?.(m);
      });
    });
    this.child.send(config);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

async function runTrackers(config: TrackerHostConfig): Promise<void> {
  const trackers: TrackerClient[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < config.imeis.length) {
        const imei = config.imeis[next++]!;
        const t = await TrackerClient.connect({ port: config.port, imei });
        if (!(await t.login(30_000))) throw new Error(`login refused for ${imei}`);
        t.autoReply = (text) => (text === config.command ? config.answer : undefined);
        trackers.push(t);
      }
    }),
  );
  process.send!({ type: 'ready' } satisfies FromHost);
  process.once('SIGTERM', () => {
    void Promise.all(trackers.map((t) => t.close().catch(() => {}))).finally(() => process.exit(0));
  });
}

async function runReceiver(config: ReceiverConfig): Promise<void> {
  let arrivals: Arrival[] = [];
  let badSignatures = 0;
  let unexpected = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const wallMs = performance.timeOrigin + performance.now();
      const raw = Buffer.concat(chunks).toString();
      res.writeHead(200).end();
      const signature = req.headers['x-fleetwire-signature'];
      const check = verifySignature(
        config.secret,
        typeof signature === 'string' ? signature : undefined,
        raw,
        300,
      );
      if (!check.ok) badSignatures++;
      if (req.url !== config.confirmPath) {
        unexpected++;
        return;
      }
      const body = JSON.parse(raw) as { metadata?: { benchSeq?: number }; commandId?: string };
      arrivals.push({ seq: body.metadata?.benchSeq ?? -1, commandId: body.commandId, wallMs });
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  setInterval(() => {
    if (arrivals.length === 0 && badSignatures === 0 && unexpected === 0) return;
    process.send!({ type: 'arrivals', arrivals, badSignatures, unexpected } satisfies FromHost);
    arrivals = [];
    badSignatures = 0;
    unexpected = 0;
  }, REPORT_EVERY_MS);
  process.send!({ type: 'ready', port: (server.address() as AddressInfo).port } satisfies FromHost);
  process.once('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

if (process.send !== undefined && process.argv[1] === import.meta.filename) {
  process.once('message', (config: TrackerHostConfig | ReceiverConfig) => {
    const run = config.role === 'trackers' ? runTrackers(config) : runReceiver(config);
    run.catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
}
