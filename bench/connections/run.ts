/**
 * Connections: how fast edge-ws opens sessions (session start + upgrade + control/accept) and what
 * an idle connection costs it (memory, CPU with heartbeats). edge-ws runs as its own process; the
 * gateways run in forked load processes: the lean client (bench/src/lean-gateway.ts, default) or
 * the simulator's SimulatedWsDevice (`--load simulator`). See bench/README.md.
 */
import path from 'node:path';
import { freePort } from '@fleetwire/devstack';
import type { StatsSnapshot } from '@fleetwire/simulator';
import {
  cpuBetween,
  cpuSnapshot,
  formatCpu,
  machineContext,
  ms,
  parseArgs,
  percentile,
  sleep,
  table,
  withStack,
} from '../src/stack.ts';
import {
  collectGarbage,
  kib,
  type LoadProcess,
  mib,
  registerGateways,
  type ServiceMemory,
  serviceMemoryOf,
  startLoad,
  statementBatchesOf,
  writeHeapSnapshot,
} from '../src/ws-gateways.ts';
import type { ConnectReport, LoadClient } from '../src/ws-load-process.ts';

const USAGE = `node bench/connections/run.ts [options]
  --devices N            idle WebSocket gateways (default 15000)
  --processes N          load-generator processes (default 1; one holds at most ~19,900 sockets)
  --source-addresses N   spread connections over 127.0.0.1 … 127.0.0.N (default 8)
  --in-flight N          gateways connecting at once, per load process (default 256)
  --load lean|simulator  the load client: raw-socket lean gateways (default) or the simulator's
  --idle S               seconds measured with every gateway connected and pinging (default 15)
  --ephemeral-pg         PostgreSQL without fsync (NOT the headline figures)
  --keep                 keep the temp folder (logs) afterwards
  --cpu-prof DIR         write a V8 CPU profile of each service into DIR
  --heap-snapshot DIR    write edge-ws heap snapshots (before connecting, after idle) into DIR`;

const opts = parseArgs(
  process.argv.slice(2),
  {
    devices: 15_000,
    processes: 1,
    sourceAddresses: 8,
    inFlight: 256,
    load: 'lean',
    idle: 15,
    ephemeralPg: false,
    keep: false,
    cpuProf: '',
    heapSnapshot: '',
  },
  USAGE,
);

const CONNECT_DEADLINE_MS = 10 * 60_000;
if (opts.load !== 'lean' && opts.load !== 'simulator') {
  throw new Error(`--load: expected lean or simulator, got ${opts.load}\n${USAGE}`);
}
const client: LoadClient = opts.load;

const stackOptions = {
  ephemeralPg: opts.ephemeralPg,
  keep: opts.keep,
  cpuProf: opts.cpuProf ? path.resolve(opts.cpuProf) : undefined,
};

await withStack(stackOptions, async (stack) => {
  console.log(machineContext());
  console.log(
    `${opts.devices} gateways over ${opts.processes} load process(es), ${opts.sourceAddresses} source addresses, ` +
      `${opts.inFlight} connecting at once per process, ${client} load client · temp folder ${stack.dir}`,
  );
  const wsPort = await freePort();
  // The inspector lets the bench run a full GC in the edge before reading its memory.
  const inspectorPort = await freePort();
  const edge = await stack.startService('edge-ws', {
    FW_WS_PORT: String(wsPort),
    FW_WS_HOST: '127.0.0.1',
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:${inspectorPort}`.trim(),
  });
  console.log(`edge-ws pid ${edge.process.pid}, inspector 127.0.0.1:${inspectorPort}`);
  const stateDir = path.join(stack.dir, 'sim-state');
  await registerGateways(stack.sql, stateDir, opts.devices);
  await sleep(1_000);
  // Taken after the memory figures, so that the snapshot's own garbage does not count in them.
  const snapshot = async (name: string) => {
    if (!opts.heapSnapshot) return;
    const file = path.join(path.resolve(opts.heapSnapshot), `edge-ws-${name}.heapsnapshot`);
    await writeHeapSnapshot(inspectorPort, file);
    console.log(`heap snapshot ${file}`);
  };
  const memory = () => serviceMemoryOf(edge.opsUrl, edge.process.pid);
  const memoryAfterGc = async () => {
    await collectGarbage(inspectorPort);
    return memory();
  };
  const before = await memoryAfterGc();
  await snapshot('before');

  const loads = startLoad({
    url: `http://127.0.0.1:${wsPort}`,
    stateDir,
    count: opts.devices,
    processes: opts.processes,
    sourceAddresses: opts.sourceAddresses,
    inFlight: opts.inFlight,
    cpuProf: stackOptions.cpuProf,
    client,
    deferStart: true,
  });
  // Start-up is ~1 s of CPU per load process (0.2 ms per session at 5,000): not the sessions' cost.
  await Promise.all(loads.map((l) => l.loaded));
  const processes = () => [
    { name: 'edge-ws', pid: edge.process.pid },
    { name: 'nats-server', pid: stack.nats.process.pid },
    { name: 'postgres', pid: stack.pg.process.pid, withChildren: true },
    ...loads.map((l, i) => ({ name: `load ${i + 1}`, pid: l.pid })),
  ];
  const cpuConnectA = cpuSnapshot(processes());
  const connectStart = performance.now();
  for (const load of loads) load.begin();
  const connected = await connectAll(loads);
  const reports = connected.map((c) => c.report);
  const connectSeconds = (performance.now() - connectStart) / 1000;
  const batches = await statementBatchesOf(edge.opsUrl);
  const cpuConnect = cpuBetween(cpuConnectA, cpuSnapshot(processes()), connectSeconds);

  await sleep(3_000);
  const after = await memory();

  const idleBefore = await Promise.all(loads.map((l) => l.stats()));
  const cpuIdleA = cpuSnapshot(processes());
  await sleep(opts.idle * 1000);
  const cpuIdle = cpuBetween(cpuIdleA, cpuSnapshot(processes()), opts.idle);
  // Without a GC the edge's heap holds the connect burst's and the heartbeats' garbage (V8 grows
  // the heap rather than collect it): 3 s after and after idle show that; the headline figure is
  // what the connections hold after a full GC.
  const idled = await memory();
  const settled = await memoryAfterGc();
  await snapshot('after');
  const idleAfter = await Promise.all(loads.map((l) => l.stats()));
  const loadPerConnection = idleAfter.map(({ memory }, i) => {
    const { baseline, report } = connected[i]!;
    const n = report.totalMs.length || 1;
    return { rss: (memory.rss - baseline.rss) / n, heap: (memory.heapUsed - baseline.heapUsed) / n };
  });

  printResults({
    reports,
    connectSeconds,
    batches,
    before,
    after,
    idled,
    settled,
    loadPerConnection,
    cpuConnect,
    cpuIdle,
    idleStats: idleBefore.map((x) => x.stats),
    idleStatsAfter: idleAfter.map((x) => x.stats),
  });
  await Promise.all(loads.map((l) => l.stop()));
});

async function connectAll(loads: LoadProcess[]) {
  const ticker = setInterval(() => {
    const connected = loads.reduce((n, l) => n + l.progress, 0);
    process.stdout.write(`  … ${connected} / ${opts.devices} connected\n`);
  }, 5_000);
  let deadline: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<never>((_, reject) => {
      deadline = setTimeout(
        () => reject(new Error(`not every gateway connected within ${CONNECT_DEADLINE_MS / 1000} s`)),
        CONNECT_DEADLINE_MS,
      );
    });
    return await Promise.race([Promise.all(loads.map((l) => l.connected)), timedOut]);
  } finally {
    clearInterval(ticker);
    clearTimeout(deadline);
  }
}

interface Results {
  reports: ConnectReport[];
  connectSeconds: number;
  /** What the edge's batched session statements carried. */
  batches: string;
  before: ServiceMemory;
  /** 3 s after the last accept. */
  after: ServiceMemory;
  /** At the end of the idle window. */
  idled: ServiceMemory;
  /** At the end of the idle window, after a full GC. */
  settled: ServiceMemory;
  /** Load-process memory per connection, after a full GC. */
  loadPerConnection: Array<{ rss: number; heap: number }>;
  cpuConnect: Array<[string, number]>;
  cpuIdle: Array<[string, number]>;
  idleStats: StatsSnapshot[];
  idleStatsAfter: StatsSnapshot[];
}

function printResults(r: Results): void {
  const n = opts.devices;
  const first = Math.min(...r.reports.map((x) => x.firstStartAt));
  const last = Math.max(...r.reports.map((x) => x.lastAcceptAt));
  const rate = n / ((last - first) / 1000);
  const sorted = (key: 'totalMs' | 'sessionMs') => Float64Array.from(r.reports.flatMap((x) => x[key])).sort();
  const total = sorted('totalMs');
  const session = sorted('sessionMs');
  const failures = r.reports.reduce((s, x) => s + x.failures, 0);
  const sum = (stats: StatsSnapshot[], key: keyof StatsSnapshot) => stats.reduce((s, x) => s + x[key], 0);
  const connectedAtEnd = sum(r.idleStatsAfter, 'wsConnected');
  const reconnectsIdle = sum(r.idleStatsAfter, 'reconnects') - sum(r.idleStats, 'reconnects');
  const edgeCpuIdle = r.cpuIdle.find(([name]) => name === 'edge-ws')?.[1] ?? Number.NaN;
  const edgeCpuConnect = r.cpuConnect.find(([name]) => name === 'edge-ws')?.[1] ?? Number.NaN;

  console.log(`\nconnect phase: ${r.connectSeconds.toFixed(1)} s (${formatCpu(r.cpuConnect)})`);
  console.log(`session statements: ${r.batches}`);
  console.log(`idle phase (${opts.idle} s, every gateway pinging each 5 s): ${formatCpu(r.cpuIdle)}`);
  // CPU time per session is what stays comparable on a shared machine (rates do not). The edge's
  // share also pays for the heartbeats of the gateways already connected; connections grow about
  // linearly over the phase, so that part is about idle CPU × half the fleet × the phase's length.
  const perSession = (pct: number) => ((pct / 100) * r.connectSeconds * 1000) / n;
  const heartbeatsPerSession = perSession(edgeCpuIdle) / 2;
  console.log(
    `CPU ms per session, connect phase: ${r.cpuConnect
      .filter(([name]) => !name.startsWith('('))
      .map(([name, pct]) => `${name} ${perSession(pct).toFixed(2)}`)
      .join(
        ' · ',
      )} (edge-ws less its heartbeats ≈ ${(perSession(edgeCpuConnect) - heartbeatsPerSession).toFixed(2)})\n`,
  );
  console.log(
    table([
      ['figure', 'value', 'aim'],
      ['sessions/s (start + upgrade + accept)', rate.toFixed(0), '≥ 3,000'],
      ['start → accept p50 / p99 ms', `${ms(percentile(total, 50))} / ${ms(percentile(total, 99))}`, ''],
      [
        '  of which session start p50 / p99 ms',
        `${ms(percentile(session, 50))} / ${ms(percentile(session, 99))}`,
        '',
      ],
      ['attempts failed before accept (retried)', String(failures), '0'],
      [
        'edge RSS before (GC) → 3 s after → after idle → after idle + GC',
        [r.before, r.after, r.idled, r.settled].map((m) => mib(m.rss)).join(' → '),
        '',
      ],
      ['edge RSS per connection (after idle + full GC)', kib((r.settled.rss - r.before.rss) / n), '≤ 6 KB'],
      [
        '  without GC: 3 s after the last accept / after idle',
        [r.after, r.idled].map((m) => kib((m.rss - r.before.rss) / n)).join(' / '),
        '',
      ],
      [
        'edge heap used before (GC) → 3 s after → after idle → after idle + GC',
        [r.before, r.after, r.idled, r.settled].map((m) => mib(m.heapUsed)).join(' → '),
        '',
      ],
      [
        'edge heap used / committed per connection (after idle + GC)',
        `${kib((r.settled.heapUsed - r.before.heapUsed) / n)} / ${kib((r.settled.heapTotal - r.before.heapTotal) / n)}`,
        '',
      ],
      ['edge CPU idle with heartbeats', `${edgeCpuIdle.toFixed(1)} % of a core`, ''],
      [
        `load (${client}) RSS / heap per connection`,
        r.loadPerConnection.map((m) => `${kib(m.rss)} / ${kib(m.heap)}`).join(', '),
        '',
      ],
      ['connected at the end / reconnects while idle', `${connectedAtEnd} / ${reconnectsIdle}`, `${n} / 0`],
    ]),
  );
  const samples = r.reports.flatMap((x) => x.failureSamples);
  if (samples.length) console.log(`\nfirst failures:\n  ${samples.join('\n  ')}`);
}
