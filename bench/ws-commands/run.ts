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
import { registerGateways, startLoad } from '../src/ws-gateways.ts';

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
  at: number;
  measured: boolean;
  done: boolean;
}

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
  let measuredResults = 0;
  let measureFrom = 0;
  let measureTo = Number.POSITIVE_INFINITY;

  nc.subscribe(s.upFor(tenant, 'reply'), {
    callback: (_err, msg) => {
      const now = performance.now();
      // Only results count; the header says which it is before the payload is decoded.
      const frame = decodeProtoMsg(msg.data);
      if (frame.hdr.typ !== MSG_TYPE.COMMAND.RESULT) return;
      const reply = decodeBody(frame, CommandReply);
      const entry = reply.commandId ? sent.get(reply.commandId) : undefined;
      if (!entry || entry.done) return;
      entry.done = true;
      if (reply.ok === false) answers.failedResults++;
      if (!entry.measured) return;
      latencies.push(now - entry.at);
      if (now >= measureFrom && now <= measureTo) measuredResults++;
    },
  });
  // The edge's immediate answers (COMMAND/ack or CONTROL/error) come to one inbox: a request per
  // command would cost this process a promise, a timer and an Error with a stack trace each.
  const inbox = createInbox();
  nc.subscribe(inbox, { callback: (_err, msg) => countAnswer(msg) });
  await nc.flush();

  const fire = (seq: number, measured: boolean) => {
    const deviceId = ids[seq % ids.length]! as DeviceId;
    const commandId = `b${seq}` as CommandId;
    const body = encodePayload(CommandRequestBody, { commandId, name: opts.command });
    const request = encodeProtoMsg({ hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST }, body });
    sent.set(commandId, { at: performance.now(), measured, done: false });
    nc.publish(s.down(tenant, deviceId), request, { reply: inbox });
  };
  const countAnswer = (msg: Msg) => {
    // The server's "no responders" status: an empty message with a 503 status header.
    if (msg.data.length === 0) {
      if (msg.headers?.code === 503) answers.noResponders++;
      return;
    }
    const frame = decodeProtoMsg(msg.data);
    if (frame.hdr.proto === PROTO.COMMAND && frame.hdr.typ === MSG_TYPE.COMMAND.ACK) {
      answers.acked++;
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
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - start;
      if (measureFrom === 0 && elapsed >= warmupMs) {
        measureFrom = performance.now();
        cpuA = cpuSnapshot(processes());
      }
      // Open loop: every request due by now goes out, whatever happened to the earlier ones.
      const due = Math.floor((Math.min(elapsed, endMs) / 1000) * opts.rate);
      for (; seq < due; seq++) fire(seq, elapsed >= warmupMs);
      if (elapsed >= endMs) {
        measureTo = performance.now();
        clearInterval(tick);
        resolve();
      }
    }, 5);
  });
  const measuredSeconds = (measureTo - measureFrom) / 1000;
  const cpu = cpuBetween(cpuA, cpuSnapshot(processes()), measuredSeconds);
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
  await nc.drain();
  await load!.stop();
});

function formatRefused(refused: Map<number, number>): string {
  if (refused.size === 0) return '0';
  return [...refused].map(([code, n]) => `${n}×${code}`).join(', ');
}
