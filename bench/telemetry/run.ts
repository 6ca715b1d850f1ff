/**
 * Telemetry throughput and latency: simulated Teltonika trackers → edge-tcp → JetStream →
 * telemetry service → PostgreSQL, every component in its own process. See bench/README.md.
 */
import path from 'node:path';
import { freePort } from '@fleetwire/devstack';
import {
  type BenchStack,
  cpuBetween,
  cpuSnapshot,
  eventually,
  formatCpu,
  machineContext,
  ms,
  parseArgs,
  Samples,
  sleep,
  table,
  withStack,
} from '../src/stack.ts';
import {
  BENCH_IMEI_BASE,
  benchImei,
  connectTrackers,
  type LoadTracker,
  type SentPacket,
} from '../src/trackers.ts';

const USAGE = `node bench/telemetry/run.ts [options]
  --trackers N            simulated trackers (default 1000)
  --records-per-packet N  one scenario with N records per packet (default: the matrix 1 and 10)
  --rate R                one scenario at R records/s (default: the matrix, each target and 80 %)
  --duration S            measured seconds per scenario (default 10)
  --warmup S              seconds at the scenario's rate before measuring (default 3)
  --find-max              raise the rate in steps until the pipeline stops keeping up
  --poll-ms N             device-to-row sampling interval (default 50)
  --ephemeral-pg          PostgreSQL without fsync (NOT the headline figures)
  --keep                  keep the temp folder (logs) afterwards
  --cpu-prof DIR          write a V8 CPU profile of each service into DIR`;

const opts = parseArgs(
  process.argv.slice(2),
  {
    trackers: 1000,
    recordsPerPacket: 0,
    rate: 0,
    duration: 10,
    warmup: 3,
    findMax: false,
    pollMs: 50,
    ephemeralPg: false,
    keep: false,
    cpuProf: '',
  },
  USAGE,
);

/** Issue targets on this 2-core machine (records/s by records per packet). */
const TARGET: Record<number, number> = { 1: 10_000, 10: 40_000 };
/** How long a scenario waits, after its last packet, for the pipeline to store its backlog. */
const DRAIN_LIMIT_MS = 90_000;

interface Scenario {
  recordsPerPacket: number;
  rate: number;
  label: string;
}

interface Result {
  scenario: Scenario;
  seconds: number;
  packetsSent: number;
  recordsSent: number;
  recordsAcked: number;
  totalAcked: number;
  wrongAcks: number;
  unanswered: number;
  skipped: number;
  reply: ReturnType<Samples['summary']>;
  toRow: ReturnType<Samples['summary']>;
  rowsStored: number;
  /** From the last packet sent to every row visible; NaN when it took longer than DRAIN_LIMIT_MS. */
  drainSeconds: number;
  serviceToRow: { p50: string; p99: string };
  cpu: Array<[string, number]>;
}

function scenarios(): Scenario[] {
  if (opts.rate > 0 || opts.recordsPerPacket > 0) {
    const rpp = opts.recordsPerPacket || 1;
    const rate = opts.rate || TARGET[rpp] || 10_000;
    return [{ recordsPerPacket: rpp, rate, label: 'custom' }];
  }
  return [1, 10].flatMap((rpp) => [
    { recordsPerPacket: rpp, rate: TARGET[rpp]! * 0.8, label: '80 % of target' },
    { recordsPerPacket: rpp, rate: TARGET[rpp]!, label: 'target' },
  ]);
}

const stackOptions = {
  ephemeralPg: opts.ephemeralPg,
  keep: opts.keep,
  cpuProf: opts.cpuProf ? path.resolve(opts.cpuProf) : undefined,
};
await withStack(stackOptions, async (stack) => {
  console.log(machineContext());
  console.log(
    `PostgreSQL ${opts.ephemeralPg ? 'EPHEMERAL (fsync off)' : 'durable (fsync on, synchronous_commit on)'} · temp folder ${stack.dir}`,
  );
  const tcpPort = await freePort();
  await stack.startService('edge-tcp', { FW_TCP_PORT: String(tcpPort), FW_TCP_HOST: '127.0.0.1' });
  await stack.sql`
    insert into devices (tenant_id, id, kind)
    select 'default', d, 'tracker' from unnest(${Array.from({ length: opts.trackers }, (_, i) => benchImei(i))}::text[]) as d
    on conflict do nothing`;
  const telemetrySvc = await stack.startService('telemetry');
  const trackers = await connectTrackers(tcpPort, opts.trackers);
  console.log(`${trackers.length} trackers logged in to edge-tcp on port ${tcpPort}\n`);

  const results: Result[] = [];
  const list = scenarios();
  for (const scenario of list) {
    const result = await runScenario(stack, trackers, scenario, telemetrySvc.opsUrl);
    results.push(result);
    printResult(result);
  }
  if (opts.findMax) {
    for (const rpp of opts.recordsPerPacket ? [opts.recordsPerPacket] : [1, 10]) {
      results.push(...(await findMax(stack, trackers, rpp, telemetrySvc.opsUrl)));
    }
  }
  console.log(`\n${summaryTable(results)}`);
  console.log(`\n${await overallCount(stack, results)}`);
  console.log(
    [
      '',
      'reply = tracker writes a packet → receives the 4-byte record-count ack (edge acks only after the JetStream PubAck).',
      `device→row = packet sent (its last record's device time) → first poll of device_state (every ${opts.pollMs} ms) that shows it,`,
      `  i.e. an upper bound with ${opts.pollMs} ms resolution that includes up to FW_TELEMETRY_STATE_INTERVAL (1 s) of deliberate`,
      '  state lag for devices sending more than once per interval; "svc" = the telemetry service\'s own histogram (edge receipt → row commit, bucket bounds).',
      'stored = rows in telemetry with the scenario\'s device times, counted after the pipeline drained; "exactly once" = stored = sent = acked.',
    ].join('\n'),
  );
  for (const t of trackers) t.close();
});

async function runScenario(
  stack: BenchStack,
  trackers: LoadTracker[],
  scenario: Scenario,
  telemetryOps: string,
): Promise<Result> {
  const { recordsPerPacket: rpp, rate } = scenario;
  const n = trackers.length;
  const intervalMs = (1000 * rpp) / rate; // between two packets of the whole fleet
  const warmupMs = opts.warmup * 1000;
  const measureMs = opts.duration * 1000;
  const startedWall = Date.now();
  const fromTs = Math.max(startedWall, ...trackers.map((t) => t.lastTs + 1));
  for (const t of trackers) t.stampFrom(fromTs);

  const reply = new Samples();
  const toRow = new Samples();
  /** Packets sent and not yet seen in device_state, by tracker index. */
  const stored: SentPacket[][] = Array.from({ length: n }, () => []);
  let measuring = false;
  let packetsSent = 0;
  let recordsSent = 0;
  let recordsAcked = 0;
  let wrongAcks = 0;
  let skipped = 0;

  const send = (t: LoadTracker) => {
    t.send(rpp, measuring);
    packetsSent++;
    recordsSent += rpp;
    stored[t.index]!.push(t.inFlight!);
  };
  for (const t of trackers) {
    t.owed = 0;
    t.onAck = (tracker, packet, count) => {
      const now = performance.now();
      if (count !== rpp && count !== -1) wrongAcks++;
      recordsAcked += packet.records;
      if (packet.measured) {
        reply.add(now - packet.sentAt);
      }
      if (tracker.owed > 0 && !stopped) {
        tracker.owed--;
        send(tracker);
      }
    };
    t.onError = (tracker, err) => {
      if (!stack.closing) console.error(`tracker ${tracker.imei}: ${err.message}`);
    };
  }

  // Device-to-row: poll the latest device time per device; a packet is visible once its last record is.
  let stopped = false;
  let drainStarted = 0;
  const sampler = (async () => {
    while (!stopped || stored.some((q) => q.length > 0)) {
      const polledAt = performance.now();
      forEachDeviceTime(await latestDeviceTimes(stack), (index, visibleTs) => {
        const queue = stored[index];
        while (queue && queue.length > 0 && queue[0]!.lastTs <= visibleTs) {
          const p = queue.shift()!;
          if (p.measured) toRow.addWeighted(polledAt - p.sentAt, p.records);
        }
      });
      if (stopped && performance.now() - drainStarted > DRAIN_LIMIT_MS) break;
      await sleep(opts.pollMs);
    }
  })();

  const svcBefore = await scrapeHistogram(telemetryOps, 'fleetwire_telemetry_device_to_row_seconds');
  // Open-loop pacing: packet j of the fleet is due at start + j * interval, from tracker j mod n.
  const start = performance.now();
  let cursor = 0;
  let cpuA = cpuSnapshot(stack.processes());
  let measureStart = 0;
  let ackedAtMeasureStart = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const elapsed = performance.now() - start;
      if (!measuring && elapsed >= warmupMs) {
        measuring = true;
        measureStart = performance.now();
        ackedAtMeasureStart = recordsAcked;
        cpuA = cpuSnapshot(stack.processes());
      }
      if (elapsed >= warmupMs + measureMs) {
        resolve();
        return;
      }
      const due = Math.floor(elapsed / intervalMs);
      for (; cursor <= due; cursor++) {
        const t = trackers[cursor % n]!;
        if (t.inFlight) {
          // Still waiting for the previous reply: the packet goes out when it comes (the device buffers).
          if (t.owed < 1000) t.owed++;
          else skipped++;
        } else send(t);
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  const seconds = (performance.now() - measureStart) / 1000;
  const cpuB = cpuSnapshot(stack.processes());
  const windowAcked = recordsAcked - ackedAtMeasureStart;
  stopped = true;
  drainStarted = performance.now();
  for (const t of trackers) skipped += t.owed;

  await eventually(async () => trackers.every((t) => !t.inFlight), 15_000, 50);
  const unanswered = trackers.filter((t) => t.inFlight).length;
  for (const t of trackers) t.inFlight = undefined;
  await sampler;
  const backlog = stored.reduce((sum, q) => sum + q.length, 0);
  const drainSeconds = backlog === 0 ? (performance.now() - drainStarted) / 1000 : Number.NaN;
  const svcAfter = await scrapeHistogram(telemetryOps, 'fleetwire_telemetry_device_to_row_seconds');
  const rowsStored = await countRows(stack, fromTs, recordsAcked, backlog === 0 ? 10_000 : 1_000);
  return {
    scenario,
    seconds,
    packetsSent,
    recordsSent,
    recordsAcked: windowAcked,
    totalAcked: recordsAcked,
    wrongAcks,
    unanswered,
    skipped,
    reply: reply.summary(),
    toRow: toRow.summary(),
    rowsStored,
    drainSeconds,
    serviceToRow: histogramQuantiles(svcBefore, svcAfter),
    cpu: cpuBetween(cpuA, cpuB, seconds),
  };
}

/**
 * The latest device time of every device, as one text value of `<IMEI> <ms>` pairs: 1,000 rows 20
 * times a second cost the bench process (part of the "bench (load)" figure) more in driver row
 * parsing than its trackers' own work, and splitting the text and looking IMEIs up in a map still
 * did; forEachDeviceTime reads the digits in place. The query is kept as plain as it was: its cost
 * shows in the PostgreSQL figure.
 */
async function latestDeviceTimes(stack: BenchStack): Promise<string> {
  const [row] = await stack.sql<Array<{ all: string | null }>>`
    select string_agg(device_id || ' ' || (extract(epoch from device_time) * 1000)::bigint, ' ') as all
    from device_state where tenant_id = 'default'`;
  return row?.all ?? '';
}

/**
 * Calls `visit` with the tracker index (IMEI − BENCH_IMEI_BASE) and the time of each `<IMEI> <ms>`
 * pair of `text`. Device ids that are not 15 digits (not bench trackers) are skipped.
 */
function forEachDeviceTime(text: string, visit: (index: number, ms: number) => void): void {
  let value = 0;
  let digits = 0;
  let numeric = true;
  let index = Number.NaN;
  let readingId = true;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x20;
    if (c !== 0x20) {
      numeric &&= c >= 0x30 && c <= 0x39;
      value = value * 10 + (c - 0x30);
      digits++;
      continue;
    }
    if (readingId) index = numeric && digits === 15 ? value - BENCH_IMEI_BASE : Number.NaN;
    else if (index >= 0) visit(index, value);
    readingId = !readingId;
    value = 0;
    digits = 0;
    numeric = true;
  }
}

/** Every record acknowledged in the run must be in the table once, whatever the scenario drains showed. */
async function overallCount(stack: BenchStack, results: Result[]): Promise<string> {
  const acked = results.reduce((n, r) => n + r.totalAcked, 0);
  const sent = results.reduce((n, r) => n + r.recordsSent, 0);
  const started = performance.now();
  const rows = await countRows(stack, 0, acked, 120_000);
  const verdict = rows === acked && acked === sent ? 'exactly once ✓' : 'MISMATCH';
  return `overall: records sent ${sent}, acked ${acked}, rows ${rows} → ${verdict} (counted ${((performance.now() - started) / 1000).toFixed(1)} s after the last scenario)`;
}

/** Rows of this scenario (device times from its start on), once the count stops moving. */
async function countRows(
  stack: BenchStack,
  fromTs: number,
  expected: number,
  waitMs: number,
): Promise<number> {
  let count = 0;
  await eventually(
    async () => {
      const [row] = await stack.sql<Array<{ n: string }>>`
        select count(*) as n from telemetry where device_time >= ${new Date(fromTs)}`;
      count = Number(row?.n ?? 0);
      return count >= expected;
    },
    waitMs,
    250,
  );
  return count;
}

type Histogram = Map<number, number>;

async function scrapeHistogram(opsUrl: string, name: string): Promise<Histogram> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const buckets: Histogram = new Map();
  const re = new RegExp(`^${name}_bucket\\{[^}]*le="([^"]+)"[^}]*\\} (\\d+)`, 'gm');
  for (const m of text.matchAll(re)) buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  return buckets;
}

function histogramQuantiles(before: Histogram, after: Histogram): { p50: string; p99: string } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  const q = (p: number) => {
    if (total === 0) return '—';
    for (const le of bounds) {
      if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= p * total)
        return le === Infinity ? '>max' : `≤${le * 1000}`;
    }
    return '—';
  };
  return { p50: q(0.5), p99: q(0.99) };
}

/**
 * Raises the offered rate by 30 % steps from a tenth of the target until the pipeline stops keeping
 * up; the last rate that kept up is the maximum sustainable rate (within 30 %).
 */
async function findMax(
  stack: BenchStack,
  trackers: LoadTracker[],
  rpp: number,
  opsUrl: string,
): Promise<Result[]> {
  const results: Result[] = [];
  let rate = (TARGET[rpp] ?? 10_000) / 10;
  for (let step = 0; step < 15; step++) {
    const r = await runScenario(stack, trackers, { recordsPerPacket: rpp, rate, label: 'find max' }, opsUrl);
    results.push(r);
    printResult(r);
    if (!sustained(r)) break;
    rate = Math.round((rate * 1.3) / 100) * 100;
  }
  const kept = results.filter(sustained).at(-1);
  console.log(
    `\n>> ${rpp} record(s)/packet: max sustainable ≈ ${kept ? `${(kept.recordsAcked / kept.seconds).toFixed(0)} records/s` : 'below the first step'}\n`,
  );
  return results;
}

/** Kept up: ≥ 97 % of the offered rate acknowledged, reply p99 under 500 ms, device→row p99 under 2 s. */
function sustained(r: Result): boolean {
  return (
    r.recordsAcked / r.seconds >= r.scenario.rate * 0.97 &&
    r.reply.p99 < 500 &&
    r.toRow.p99 < 2_000 &&
    r.unanswered === 0
  );
}

function printResult(r: Result): void {
  const achieved = r.recordsAcked / r.seconds;
  const total = r.totalAcked;
  console.log(
    [
      `── ${r.scenario.recordsPerPacket} record(s)/packet @ ${r.scenario.rate} records/s (${r.scenario.label})`,
      `   achieved ${achieved.toFixed(0)} records/s, ${(achieved / r.scenario.recordsPerPacket).toFixed(0)} packets/s over ${r.seconds.toFixed(1)} s` +
        `${sustained(r) ? '' : '  ← NOT keeping up'}`,
      `   reply p50 ${ms(r.reply.p50)} ms, p99 ${ms(r.reply.p99)} ms, max ${ms(r.reply.max)} ms (${r.reply.n} packets)`,
      `   device→row p50 ${ms(r.toRow.p50)} ms, p99 ${ms(r.toRow.p99)} ms, max ${ms(r.toRow.max)} ms · svc histogram p50 ${r.serviceToRow.p50} ms, p99 ${r.serviceToRow.p99} ms`,
      `   records sent ${r.recordsSent}, acked ${total}, rows stored ${r.rowsStored} → ${exactlyOnce(r)}` +
        `${r.wrongAcks ? ` · ${r.wrongAcks} wrong ack counts` : ''}${r.skipped ? ` · ${r.skipped} packets never sent (tracker busy)` : ''}`,
      `   CPU (% of one core): ${formatCpu(r.cpu)}`,
      `   CPU ms per 1000 records: ${costPerThousand(r)}`,
    ].join('\n'),
  );
}

/** CPU time per 1000 records stored: comparable across runs even when other work shares the machine. */
function costPerThousand(r: Result): string {
  const thousands = r.recordsAcked / 1000;
  const parts = r.cpu
    .filter(([name]) => name !== '(machine total)')
    .map(([name, pct]) => [name, ((pct / 100) * r.seconds * 1000) / thousands] as const);
  const ours = parts.reduce((sum, [, v]) => sum + v, 0);
  return `${parts.map(([n, v]) => `${n} ${v.toFixed(0)}`).join(' · ')} · all ${ours.toFixed(0)}`;
}

function exactlyOnce(r: Result): string {
  const total = r.totalAcked;
  if (r.unanswered > 0) return `${r.unanswered} packets unanswered`;
  if (Number.isNaN(r.drainSeconds) && r.rowsStored < total)
    return `not drained within ${DRAIN_LIMIT_MS / 1000} s (stored ${r.rowsStored} of ${total} so far; see the overall count)`;
  return r.rowsStored === r.recordsSent && total === r.recordsSent
    ? `exactly once ✓ (backlog stored ${r.drainSeconds.toFixed(1)} s after the last packet)`
    : `MISMATCH (sent ${r.recordsSent}, acked ${total}, stored ${r.rowsStored})`;
}

function summaryTable(results: Result[]): string {
  const cpuOf = (r: Result, name: string) => `${(r.cpu.find(([n]) => n === name)?.[1] ?? 0).toFixed(0)}`;
  return table([
    [
      'rec/pkt',
      'offered rec/s',
      'achieved rec/s',
      'pkt/s',
      'reply p50/p99 ms',
      'dev→row p50/p99 ms',
      'exactly once',
      'CPU% edge/telem/nats/pg/load/total',
    ],
    ...results.map((r) => {
      const achieved = r.recordsAcked / r.seconds;
      return [
        String(r.scenario.recordsPerPacket),
        String(r.scenario.rate),
        achieved.toFixed(0),
        (achieved / r.scenario.recordsPerPacket).toFixed(0),
        `${ms(r.reply.p50)} / ${ms(r.reply.p99)}`,
        `${ms(r.toRow.p50)} / ${ms(r.toRow.p99)}`,
        exactlyOnce(r).startsWith('exactly')
          ? 'yes'
          : exactlyOnce(r).startsWith('not drained')
            ? 'draining'
            : 'NO',
        ['edge-tcp', 'telemetry', 'nats-server', 'postgres', 'bench (load)', '(machine total)']
          .map((n) => cpuOf(r, n))
          .join('/'),
      ];
    }),
  ]);
}
