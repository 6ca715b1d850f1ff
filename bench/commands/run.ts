/**
 * Command round trip: REST (api) → ledger → command dispatcher → edge-tcp → tracker (Codec 12)
 * → reply → completed → notifier → signed webhook received here. Every service is its own process.
 * See bench/README.md.
 */
import http from 'node:http';
import path from 'node:path';
import { freePort } from '@fleetwire/devstack';
import { CommandStateChange, decodeBusMessage, jetStreamTopology } from '@fleetwire/protocol';
import { connect } from '@nats-io/transport-node';
import type postgres from 'postgres';
import {
  cpuBetween,
  cpuSnapshot,
  eventually,
  formatCpu,
  machineContext,
  ms,
  parseArgs,
  Samples,
  table,
  topStatements,
  withStack,
} from '../src/stack.ts';
import { Timeline } from '../src/timeline.ts';
import { benchImei } from '../src/trackers.ts';
import { HostProcess } from './hosts.ts';

const USAGE = `node bench/commands/run.ts [options]
  --trackers N     connected trackers answering Codec 12 (default 1000)
  --rate R         commands/s fired at the API (default 500)
  --duration S     seconds measured (default 40: longer than a command's 30 s attempt timeout)
  --warmup S       seconds at the same rate before measuring, at least (default 10: the first
                   5-6 s are the services warming up, not the steady state)
  --warmup-commands N
                   commands fired before measuring, at least (default 15000): V8 compiles the
                   hot paths of every service with its optimizing compiler after about 10,500
                   commands, a burst that takes the cores for half a second once per process
  --seed-api       use the seed's POST /api/v1/command instead of POST /v1/devices/:id/commands
  --ephemeral-pg   PostgreSQL without fsync (NOT the headline figures)
  --keep           keep the temp folder (logs) afterwards
  --cpu-prof DIR   write a V8 CPU profile of each service into DIR
  --pg-stats       print the statements PostgreSQL spent the most time on (pg_stat_statements)
  --timeline       print each second of the run: fired, round trips, CPU per process
  --legs           split each measured round trip into its legs by the ledger's timestamps`;

const opts = parseArgs(
  process.argv.slice(2),
  {
    trackers: 1000,
    rate: 500,
    duration: 40,
    warmup: 10,
    warmupCommands: 15_000,
    seedApi: false,
    ephemeralPg: false,
    keep: false,
    cpuProf: '',
    pgStats: false,
    timeline: false,
    legs: false,
  },
  USAGE,
);

const API_KEY = 'bench-api-key-0123456789';
const WEBHOOK_SECRET = 'bench-webhook-secret';
const COMMAND = 'getver';
const ANSWER = 'Ver:03.28.07_04 GPS:AXN_5.10_3333 Hw:FMB920 Mod:15';

interface Sent {
  at: number;
  measured: boolean;
  accepted?: number;
  commandId?: string;
  done?: boolean;
  /** Wall clock (ms) when fired and when its webhook arrived: comparable with the ledger's timestamps. */
  firedWall?: number;
  webhookWall?: number;
}

const stackOptions = {
  ephemeralPg: opts.ephemeralPg,
  keep: opts.keep,
  cpuProf: opts.cpuProf ? path.resolve(opts.cpuProf) : undefined,
  pgStats: opts.pgStats,
};
await withStack(stackOptions, async (stack) => {
  console.log(machineContext());
  console.log(
    `PostgreSQL ${opts.ephemeralPg ? 'EPHEMERAL (fsync off)' : 'durable (fsync on, synchronous_commit on)'} · temp folder ${stack.dir}`,
  );

  // The webhook receiver: a real HTTP server in a process of its own that checks every signature.
  const sent = new Map<number, Sent>();
  const roundTrip = new Samples();
  let timeline: Timeline | undefined;
  const accept = new Samples();
  let webhooks = 0;
  let badSignatures = 0;
  let unexpected = 0;
  const receiver = new HostProcess(
    { role: 'receiver', secret: WEBHOOK_SECRET, confirmPath: '/webhooks/iot/v1/command/confirm' },
    (report) => {
      badSignatures += report.badSignatures;
      unexpected += report.unexpected;
      for (const arrival of report.arrivals) {
        const entry = sent.get(arrival.seq);
        if (!entry || entry.done) continue;
        // Wall clock of the receiver's process, on this process's performance.now() scale.
        const at = arrival.wallMs - performance.timeOrigin;
        entry.done = true;
        entry.commandId = arrival.commandId;
        entry.webhookWall = arrival.wallMs;
        webhooks++;
        if (entry.measured) roundTrip.add(at - entry.at);
        timeline?.done(entry.at, at - entry.at);
      }
    },
  );
  const receiverPort = (await receiver.ready).port!;

  const tcpPort = await freePort();
  const apiPort = await freePort();
  await stack.startService('edge-tcp', { FW_TCP_PORT: String(tcpPort), FW_TCP_HOST: '127.0.0.1' });
  const imeis = Array.from({ length: opts.trackers }, (_, i) => benchImei(i));
  await stack.sql`
    insert into devices (tenant_id, id, kind)
    select 'default', d, 'tracker' from unnest(${imeis}::text[]) as d on conflict do nothing`;
  await Promise.all([
    stack.startService('command'),
    stack.startService('notifier', {
      NOTIFICATION_URL: `http://127.0.0.1:${receiverPort}`,
      FW_WEBHOOK_SECRET: WEBHOOK_SECRET,
    }),
    stack.startService('api', { API_PORT: String(apiPort), FW_API_HOST: '127.0.0.1', IOT_API_KEY: API_KEY }),
  ]);

  // --legs: when each `completed` event appeared on the bus (a plain subscription, as a backend team's).
  const completedSeen = new Map<string, number>();
  const busWatch = opts.legs ? await connect({ servers: stack.nats.url }) : undefined;
  if (busWatch) {
    const subject = jetStreamTopology({ root: stack.subjectRoot }).subjects.cmdAll('completed');
    busWatch.subscribe(subject, {
      callback: (_err, msg) => {
        const change = decodeBusMessage(msg.data, CommandStateChange).payload;
        completedSeen.set(change.commandId, Date.now());
      },
    });
  }
  const trackers = new HostProcess({
    role: 'trackers',
    port: tcpPort,
    imeis,
    command: COMMAND,
    answer: ANSWER,
  });
  await trackers.ready;
  // CPU figures count the two host processes as load generator too.
  const processes = () => [
    ...stack.processes(),
    { name: 'bench trackers', pid: trackers.pid },
    { name: 'bench receiver', pid: receiver.pid },
  ];
  console.log(
    `${imeis.length} trackers online (own process); api on ${apiPort}; webhooks to 127.0.0.1:${receiverPort} (own process)\n`,
  );
  // The dispatcher learns presence from the PRESENCE stream; give it a moment to see every login.
  await new Promise((r) => setTimeout(r, 1000));

  const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
  let acceptedCount = 0;
  let refused = 0;
  const fire = (seq: number, measured: boolean) => {
    const imei = imeis[seq % imeis.length]!;
    const entry: Sent = { at: performance.now(), measured };
    sent.set(seq, entry);
    timeline?.fired(entry.at);
    entry.firedWall = Date.now();
    const metadata = { benchSeq: seq, sentAt: entry.firedWall };
    const [path, body] = opts.seedApi
      ? ['/api/v1/command', { imei, command: COMMAND, metadata }]
      : [
          `/v1/devices/${imei}/commands`,
          { name: 'codec12', args: { text: COMMAND }, command: COMMAND, metadata },
        ];
    const payload = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port: apiPort,
        path,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          'x-api-key': API_KEY,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200 || res.statusCode === 201) {
            acceptedCount++;
            entry.accepted = performance.now();
            if (measured) accept.add(entry.accepted - entry.at);
          } else {
            refused++;
            entry.done = true;
          }
        });
      },
    );
    req.on('error', () => {
      refused++;
      entry.done = true;
    });
    req.end(payload);
  };

  // Open-loop: command j is due at start + j / rate, whatever the answers to earlier ones.
  const warmupMs = Math.max(opts.warmup, opts.warmupCommands / opts.rate) * 1000;
  const totalMs = warmupMs + opts.duration * 1000;
  console.log(
    `warm-up ${(warmupMs / 1000).toFixed(0)} s (${Math.round((warmupMs / 1000) * opts.rate)} commands), then ${opts.duration} s measured\n`,
  );
  // Database-wide counters over the whole run (warm-up and drain included), per command fired.
  const pgA = opts.pgStats ? await pgCounters(stack.sql) : undefined;
  const start = performance.now();
  timeline = opts.timeline ? new Timeline(start, processes) : undefined;
  let seq = 0;
  let measureStart = 0;
  let firstMeasured = -1;
  let cpuA = cpuSnapshot(processes());
  let natsA = { inMsgs: 0, outMsgs: 0 };
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      if (elapsed >= totalMs) return resolve();
      const measuring = elapsed >= warmupMs;
      if (measuring && firstMeasured < 0) {
        firstMeasured = seq;
        measureStart = performance.now();
        cpuA = cpuSnapshot(processes());
        if (opts.pgStats)
          void (async () => {
            await stack.sql`select pg_stat_statements_reset()`;
          })();
        void natsCounters(stack.nats.monitorPort).then((c) => {
          natsA = c;
        });
      }
      const due = Math.floor((elapsed / 1000) * opts.rate);
      for (; seq <= due; seq++) fire(seq, measuring);
      setTimeout(tick, 1);
    };
    tick();
  });
  const seconds = (performance.now() - measureStart) / 1000;
  const cpuB = cpuSnapshot(processes());
  const natsB = await natsCounters(stack.nats.monitorPort);
  const measuredSent = seq - firstMeasured;

  // Drain: every accepted command should complete and be notified.
  await eventually(async () => [...sent.values()].every((e) => e.done), 30_000, 200);
  const unanswered = [...sent.values()].filter((e) => !e.done && e.accepted === undefined).length;
  const pgB = opts.pgStats ? await pgCounters(stack.sql) : undefined;
  const missing = [...sent.values()].filter((e) => !e.done && e.accepted !== undefined).length;
  timeline?.stopSampling();
  const rt = roundTrip.summary();
  const ac = accept.summary();

  const cpu = cpuBetween(cpuA, cpuB, seconds);
  console.log(
    table([
      [
        'scenario',
        'fired/s',
        'accept p50/p99/max ms',
        'REST→webhook p50/p99/max ms',
        'completed',
        'never completed',
      ],
      [
        `${opts.trackers} trackers @ ${opts.rate}/s${opts.seedApi ? ' (seed API)' : ''}`,
        (measuredSent / seconds).toFixed(0),
        `${ms(ac.p50)} / ${ms(ac.p99)} / ${ms(ac.max)}`,
        `${ms(rt.p50)} / ${ms(rt.p99)} / ${ms(rt.max)}`,
        String(webhooks),
        String(missing),
        String(unanswered),
      ],
    ]),
  );
  console.log(
    [
      `commands fired ${seq} (measured ${measuredSent} over ${seconds.toFixed(1)} s), accepted ${acceptedCount}, refused ${refused}, ` +
        `confirm webhooks ${webhooks}, other webhooks ${unexpected}, bad signatures ${badSignatures}`,
      `CPU (% of one core): ${formatCpu(cpu)}`,
      `NATS messages per measured command: ${((natsB.inMsgs - natsA.inMsgs) / measuredSent).toFixed(1)} in, ${((natsB.outMsgs - natsA.outMsgs) / measuredSent).toFixed(1)} out`,
      '',
      'accept = POST sent → HTTP 201 received; REST→webhook = POST sent → confirm webhook (metadata echoed) received here.',
      'never completed = accepted (201) commands without a confirm webhook 30 s after the last one was fired;',
      'no API answer = POSTs still unanswered then (the API fell behind).',
    ].join('\n'),
  );
  if (timeline)
    console.log(
      `\nSecond by second (warm-up first; REST→webhook by the second fired):\n${timeline.render()}`,
    );
  if (opts.legs) {
    const measured = [...sent.values()].filter((e) => e.measured && e.commandId !== undefined);
    console.log(
      `\nREST→webhook by leg (ledger timestamps: each is its transaction's start):\n${table(await legs(stack.sql, measured, completedSeen))}`,
    );
    await busWatch?.close();
  }
  if (opts.pgStats && pgA && pgB) {
    console.log(`\nPostgreSQL per command (whole run, drain included):\n${table(perCommand(pgA, pgB, seq))}`);
    console.log(`\nPostgreSQL statements by total time:\n${table(await topStatements(stack.sql))}`);
    console.log(
      `\nPostgreSQL statements per measured command:\n${table(await statementCosts(stack.sql, measuredSent))}`,
    );
  }
  agent.destroy();
  await Promise.all([trackers.stop(), receiver.stop()]);
});

/**
 * The round trip of each command split at the ledger's timestamps: POST → `created_at` (the api's
 * insert), → `sent_at` (the dispatcher's), → `finished_at` (the answer's), → its `completed` event
 * seen on the bus, → webhook received. `now()` is a transaction's start, so each leg includes the
 * commit of the statement before it.
 */
async function legs(
  sql: postgres.Sql,
  entries: Sent[],
  completedSeen: Map<string, number>,
): Promise<string[][]> {
  const byId = new Map(entries.map((e) => [e.commandId!, e]));
  const names = [
    'POST → created',
    'created → sent',
    'sent → completed',
    'completed → on the bus',
    'on the bus → webhook',
    'whole round trip',
  ];
  const samples = names.map(() => new Samples());
  const ids = [...byId.keys()];
  for (let i = 0; i < ids.length; i += 5_000) {
    const rows = await sql<{ id: string; c: number; s: number; f: number }[]>`
      select id, extract(epoch from created_at) * 1000 as c, extract(epoch from sent_at) * 1000 as s,
        extract(epoch from finished_at) * 1000 as f
      from commands where tenant_id = 'default' and id = any(${ids.slice(i, i + 5_000)})`;
    for (const row of rows) {
      const e = byId.get(row.id)!;
      const seen = completedSeen.get(row.id);
      if (seen === undefined) continue;
      const points = [e.firedWall!, Number(row.c), Number(row.s), Number(row.f), seen, e.webhookWall!];
      for (let leg = 0; leg < 5; leg++) samples[leg]!.add(points[leg + 1]! - points[leg]!);
      samples[5]!.add(points[5]! - points[0]!);
    }
  }
  return [
    ['leg', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'commands'],
    ...names.map((name, i) => {
      const all = samples[i]!;
      const { p50, p99, max, n } = all.summary();
      return [name, ms(p50), ms(all.percentile(90)), ms(p99), ms(max), String(n)];
    }),
  ];
}

async function natsCounters(monitorPort: number): Promise<{ inMsgs: number; outMsgs: number }> {
  const varz = (await (await fetch(`http://127.0.0.1:${monitorPort}/varz`)).json()) as {
    in_msgs: number;
    out_msgs: number;
  };
  return { inMsgs: varz.in_msgs, outMsgs: varz.out_msgs };
}

/** Database-wide counters (commits, rows, WAL): what one command costs PostgreSQL, whatever the load. */
type BenchSql = postgres.Sql;

interface PgCounters {
  commits: number;
  rollbacks: number;
  inserted: number;
  updated: number;
  deleted: number;
  blocksHit: number;
  walRecords: number;
  walBytes: number;
  walFpi: number;
  walSyncs: number;
}

async function pgCounters(sql: BenchSql): Promise<PgCounters> {
  // Backends report their counters at most once a second: force ours out, and read after a pause.
  await new Promise((r) => setTimeout(r, 1100));
  const [db] = await sql<Record<string, string>[]>`
    select xact_commit::text as commits, xact_rollback::text as rollbacks, tup_inserted::text as inserted,
      tup_updated::text as updated, tup_deleted::text as deleted, blks_hit::text as blocks_hit
    from pg_stat_database where datname = current_database()`;
  const [wal] = await sql<Record<string, string>[]>`
    select wal_records::text as wal_records, wal_bytes::text as wal_bytes, wal_fpi::text as wal_fpi,
      wal_sync::text as wal_syncs
    from pg_stat_wal`;
  const n = (v: string | undefined) => Number(v ?? 0);
  return {
    commits: n(db?.commits),
    rollbacks: n(db?.rollbacks),
    inserted: n(db?.inserted),
    updated: n(db?.updated),
    deleted: n(db?.deleted),
    blocksHit: n(db?.blocks_hit),
    walRecords: n(wal?.wal_records),
    walBytes: n(wal?.wal_bytes),
    walFpi: n(wal?.wal_fpi),
    walSyncs: n(wal?.wal_syncs),
  };
}

function perCommand(a: PgCounters, b: PgCounters, commands: number): string[][] {
  const keys = Object.keys(a) as Array<keyof PgCounters>;
  return [keys, keys.map((k) => ((b[k] - a[k]) / commands).toFixed(2))];
}

/** Every statement (foreign-key checks included) per measured command: calls, rows, WAL. */
async function statementCosts(sql: BenchSql, commands: number): Promise<string[][]> {
  const rows = await sql<{ calls: string; rows: string; wal_bytes: string; blks: string; query: string }[]>`
    select calls::text, rows::text, wal_bytes::text, (shared_blks_hit + shared_blks_read)::text as blks, query
    from pg_stat_statements where calls > ${Math.ceil(commands / 100)} order by wal_bytes desc, calls desc limit 16`;
  const per = (v: string) => (Number(v) / commands).toFixed(3);
  return [
    ['calls', 'rows', 'WAL bytes', 'blocks', 'statement'],
    ...rows.map((r) => [
      per(r.calls),
      per(r.rows),
      per(r.wal_bytes),
      per(r.blks),
      r.query.replace(/\s+/g, ' ').slice(0, 100),
    ]),
  ];
}
