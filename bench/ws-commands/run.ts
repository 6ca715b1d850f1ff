/**
 * Command round trip over the WebSocket channel: COMMAND/request on `down.<device>` (core NATS, as
 * the command dispatcher sends it) → edge-ws → gateway → command/ack, command/result → edge-ws →
 * `up.<device>.reply`, received here by a core NATS subscription. Open loop at a fixed rate.
 * edge-ws runs as its own process; the gateways are the simulator's SimulatedWsDevice in a forked
 * load process. See bench/README.md.
 */
import path from 'node:path';
import { freePort } from '@fleetwire/devstack';
import {
  CommandAckBody,
  type CommandId,
  CommandReply,
  CommandRequestBody,
  ControlErrorBody,
  DEFAULT_TENANT,
  type DeviceId,
  decodeBody,
  decodeProtoMsg,
  encodePayload,
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
  subjects,
} from '@fleetwire/protocol';
import { connect, createInbox, type Msg } from '@nats-io/transport-node';
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
  formatGc,
  gcBetween,
  type LoopFigures,
  registerGateways,
  serviceLoopOf,
  startLoad,
} from '../src/ws-gateways.ts';

const USAGE = `node bench/ws-commands/run.ts [options]
  --devices N          connected WebSocket gateways (default 5000)
  --rate R             commands/s sent on down.<device> (default 1000)
  --duration S         seconds measured (default 20)
  --warmup S           seconds at the same rate before measuring (default 3)
  --source-addresses N spread connections over 127.0.0.1 … 127.0.0.N (default 4)
  --command NAME       the command sent (default get_d_parameters: answered at once, no file I/O)
  --ephemeral-pg       PostgreSQL without fsync (NOT the headline figures)
  --keep               keep the temp folder (logs) afterwards
  --cpu-prof DIR       write a V8 CPU profile of each service into DIR`;

const opts = parseArgs(
  process.argv.slice(2),
  {
    devices: 5_000,
    rate: 1_000,
    duration: 20,
    warmup: 3,
    sourceAddresses: 4,
    command: 'get_d_parameters',
    ephemeralPg: false,
    keep: false,
    cpuProf: '',
  },
  USAGE,
);

/** Results still missing this long after the last request are counted as lost. */
const DRAIN_MS = 10_000;

interface Sent {
  /** Wall-clock ms (fractional) of each hop, 0 until seen; the edge's own stamps are whole ms. */
  at: number;
  /** The edge's COMMAND/ack (it wrote the command to the gateway) reached the bench. */
  edgeAckAt: number;
  /** The gateway's command/ack reached the edge (its `receivedAt`). */
  deviceAckAt: number;
  /** The gateway's command/result reached the edge (its `receivedAt`). */
  resultAtEdge: number;
  measured: boolean;
  done: boolean;
}

/** A command slower than this end to end counts as stalled in the hop breakdown. */
const STALL_MS = 20;
/** Wall-clock ms with sub-ms resolution, comparable with the edge's `Date.now()` stamps. */
const wallNow = () => performance.timeOrigin + performance.now();

const stackOptions = {
  ephemeralPg: opts.ephemeralPg,
  keep: opts.keep,
  cpuProf: opts.cpuProf ? path.resolve(opts.cpuProf) : undefined,
};

await withStack(stackOptions, async (stack) => {
  console.log(machineContext());
  const wsPort = await freePort();
  const edge = await stack.startService('edge-ws', { FW_WS_PORT: String(wsPort), FW_WS_HOST: '127.0.0.1' });
  const stateDir = path.join(stack.dir, 'sim-state');
  const ids = await registerGateways(stack.sql, stateDir, opts.devices);
  const [load] = startLoad({
    url: `http://127.0.0.1:${wsPort}`,
    stateDir,
    count: opts.devices,
    processes: 1,
    sourceAddresses: opts.sourceAddresses,
    inFlight: 256,
    cpuProf: stackOptions.cpuProf,
  });
  await load!.connected;
  console.log(
    `${opts.devices} gateways online · ${opts.rate} ${opts.command}/s for ${opts.duration} s (+${opts.warmup} s warm-up)\n`,
  );

  const nc = await connect({ servers: stack.nats.url, name: 'bench-ws-commands' });
  const s = subjects({ root: stack.subjectRoot });
  const tenant = DEFAULT_TENANT;
  const sent = new Map<string, Sent>();
  const latencies: number[] = [];
  const answers = {
    acked: 0,
    refused: new Map<number, number>(),
    noResponders: 0,
    failedResults: 0,
  };
  const stalled: Array<Sent & { resultAt: number }> = [];
  let measuredResults = 0;
  let measureFrom = 0;
  let measureTo = Number.POSITIVE_INFINITY;

  nc.subscribe(s.upFor(tenant, 'reply'), {
    callback: (_err, msg) => {
      const now = wallNow();
      const frame = decodeProtoMsg(msg.data);
      const reply = decodeBody(frame, CommandReply);
      const entry = reply.commandId ? sent.get(reply.commandId) : undefined;
      if (!entry || entry.done) return;
      // The gateway's command/ack: only its edge receipt time is kept (a hop of the breakdown).
      if (frame.hdr.typ !== MSG_TYPE.COMMAND.RESULT) {
        if (frame.hdr.typ === MSG_TYPE.COMMAND.ACK) entry.deviceAckAt = reply.receivedAt;
        return;
      }
      entry.done = true;
      entry.resultAtEdge = reply.receivedAt;
      if (reply.ok === false) answers.failedResults++;
      if (!entry.measured) return;
      latencies.push(now - entry.at);
      if (now - entry.at > STALL_MS) stalled.push({ ...entry, resultAt: now });
      if (now >= measureFrom && now <= measureTo) measuredResults++;
    },
  });
  // The edge's immediate answers (COMMAND/ack or CONTROL/error) come to one inbox: a request per
  // command would cost this process a promise, a timer and an Error with a stack trace each.
  const inbox = createInbox();
  nc.subscribe(inbox, { callback: (_err, msg) => countAnswer(msg, wallNow()) });
  await nc.flush();

  const fire = (seq: number, measured: boolean) => {
    const deviceId = ids[seq % ids.length]! as DeviceId;
    const commandId = `b${seq}` as CommandId;
    const body = encodePayload(CommandRequestBody, { commandId, name: opts.command });
    const request = encodeProtoMsg({ hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST }, body });
    sent.set(commandId, {
      at: wallNow(),
      edgeAckAt: 0,
      deviceAckAt: 0,
      resultAtEdge: 0,
      measured,
      done: false,
    });
    nc.publish(s.down(tenant, deviceId), request, { reply: inbox });
  };
  const countAnswer = (msg: Msg, now: number) => {
    // The server's "no responders" status: an empty message with a 503 status header.
    if (msg.data.length === 0) {
      if (msg.headers?.code === 503) answers.noResponders++;
      return;
    }
    const frame = decodeProtoMsg(msg.data);
    if (frame.hdr.proto === PROTO.COMMAND && frame.hdr.typ === MSG_TYPE.COMMAND.ACK) {
      answers.acked++;
      const entry = sent.get(decodeBody(frame, CommandAckBody).commandId);
      if (entry) entry.edgeAckAt = now;
      return;
    }
    const code = decodeBody(frame, ControlErrorBody).code ?? 0;
    answers.refused.set(code, (answers.refused.get(code) ?? 0) + 1);
  };

  const processes = () => [
    { name: 'edge-ws', pid: edge.process.pid },
    { name: 'nats-server', pid: stack.nats.process.pid },
    { name: 'load', pid: load!.pid },
    { name: 'bench (requests)', pid: process.pid },
  ];
  const start = performance.now();
  const warmupMs = opts.warmup * 1000;
  const endMs = warmupMs + opts.duration * 1000;
  let seq = 0;
  let cpuA = cpuSnapshot(processes());
  // Stall suspects over the window: the edge's GC pauses and loop delay, the simulator's GC pauses.
  let loopA: Promise<[LoopFigures, LoopFigures]> | undefined;
  const loopReadings = () => Promise.all([serviceLoopOf(edge.opsUrl), load!.loop()]);
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      if (measureFrom === 0 && elapsed >= warmupMs) {
        measureFrom = wallNow();
        cpuA = cpuSnapshot(processes());
        loopA = loopReadings();
      }
      // Open loop: every request due by now goes out, whatever happened to the earlier ones.
      const due = Math.floor((Math.min(elapsed, endMs) / 1000) * opts.rate);
      for (; seq < due; seq++) fire(seq, elapsed >= warmupMs);
      if (elapsed >= endMs) {
        measureTo = wallNow();
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const measuredSeconds = (measureTo - measureFrom) / 1000;
  const cpu = cpuBetween(cpuA, cpuSnapshot(processes()), measuredSeconds);
  const [[edgeLoopA, loadLoopA], [edgeLoopB, loadLoopB]] = await Promise.all([loopA!, loopReadings()]);
  const measuredSent = [...sent.values()].filter((e) => e.measured).length;
  const deadline = performance.now() + DRAIN_MS;
  while (performance.now() < deadline && [...sent.values()].some((e) => !e.done)) await sleep(100);
  const lost = [...sent.values()].filter((e) => e.measured && !e.done).length;

  const sorted = Float64Array.from(latencies).sort();
  const { stats } = await load!.stats();
  console.log(`CPU while measuring: ${formatCpu(cpu)}`);
  // CPU time per command stays comparable on a shared machine; it includes the gateways' heartbeats.
  const perCommand = (pct: number) => ((pct / 100) * 1000 * measuredSeconds) / Math.max(1, measuredResults);
  console.log(
    `CPU ms per command: ${cpu
      .filter(([name]) => !name.startsWith('('))
      .map(([name, pct]) => `${name} ${perCommand(pct).toFixed(3)}`)
      .join(' · ')}\n`,
  );
  console.log(
    table([
      ['figure', 'value', 'aim'],
      ['offered rate', `${(measuredSent / measuredSeconds).toFixed(0)} cmd/s`, `${opts.rate}`],
      [
        'achieved rate (results in the window)',
        `${(measuredResults / measuredSeconds).toFixed(0)} cmd/s`,
        '',
      ],
      [
        'request → result p50 / p99 / p99.9 / max ms',
        [50, 99, 99.9, 100].map((p) => ms(percentile(sorted, p))).join(' / '),
        'p99 < 15',
      ],
      ['results (measured) / lost after 10 s', `${sorted.length} / ${lost}`, `${measuredSent} / 0`],
      ['edge answers: acked / refused (by code)', `${answers.acked} / ${formatRefused(answers.refused)}`, ''],
      ['no responders (device offline)', String(answers.noResponders), '0'],
      ['failed results', String(answers.failedResults), '0'],
      ['gateways: commands answered / reconnects', `${stats.commands} / ${stats.reconnects}`, ''],
    ]),
  );
  console.log(stallBreakdown(stalled, measureFrom));
  console.log(
    `edge-ws while measuring: GC ${formatGc(gcBetween(edgeLoopA.gc, edgeLoopB.gc))}; ` +
      `event-loop delay max ${ms(edgeLoopB.lagMaxMs)} / p99 ${ms(edgeLoopB.lagP99Ms)} ms`,
  );
  console.log(
    `load while measuring: GC ${formatGc(gcBetween(loadLoopA.gc, loadLoopB.gc))}; ` +
      `event-loop delay max ${ms(loadLoopB.lagMaxMs)} / p99 ${ms(loadLoopB.lagP99Ms)} ms`,
  );
  await nc.drain();
  await load!.stop();
});

/**
 * Where the commands slower than STALL_MS spent their time, hop by hop (median and max of each),
 * and when they were sent (per second of the window, and modulo the gateways' 5 s heartbeat).
 */
function stallBreakdown(stalled: Array<Sent & { resultAt: number }>, from: number): string {
  if (stalled.length === 0) return `no command slower than ${STALL_MS} ms`;
  const hops: Array<[string, (s: Sent & { resultAt: number }) => number]> = [
    ['bench publish → edge ack at bench', (s) => s.edgeAckAt - s.at],
    ['bench publish → gateway ack at edge', (s) => s.deviceAckAt - s.at],
    ['gateway ack → result at edge', (s) => s.resultAtEdge - s.deviceAckAt],
    ['result at edge → bench', (s) => s.resultAt - s.resultAtEdge],
  ];
  const rows = [['hop (stalled commands)', 'p50 ms', 'max ms']];
  for (const [name, of] of hops) {
    const values = Float64Array.from(
      stalled.filter((s) => s.edgeAckAt > 0 && s.deviceAckAt > 0).map(of),
    ).sort();
    rows.push([name, ms(percentile(values, 50)), ms(percentile(values, 100))]);
  }
  const perSecond = new Map<number, number>();
  const phase = new Array<number>(10).fill(0);
  for (const s of stalled) {
    const second = Math.floor((s.at - from) / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    phase[Math.floor(((s.at - from) % 5000) / 500)]!++;
  }
  const seconds = [...perSecond].sort((a, b) => a[0] - b[0]).map(([sec, n]) => `${sec}s:${n}`);
  return [
    `${stalled.length} commands slower than ${STALL_MS} ms`,
    table(rows),
    `sent at (second of the window: count) ${seconds.join(' ')}`,
    `sent at (window time mod 5 s, 0.5 s bins) ${phase.join(' ')}`,
  ].join('\n');
}

function formatRefused(refused: Map<number, number>): string {
  if (refused.size === 0) return '0';
  return [...refused].map(([code, n]) => `${n}×${code}`).join(', ');
}
