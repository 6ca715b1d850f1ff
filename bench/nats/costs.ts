/**
 * What JetStream itself costs per message on this machine: nats-server's CPU for storing a
 * telemetry message (with and without the edge's Nats-Msg-Id) and for delivering it to a pull
 * consumer under each ack policy. The stream is the real TELEMETRY definition from
 * @fleetwire/protocol. These are floors under every pipeline here: whatever fleetwire does per
 * message comes on top. See bench/README.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNats } from '@fleetwire/devstack';
import {
  jetStreamTopology,
  parseDeviceId,
  parseTenantId,
  toStreamConfig,
  UP_KIND,
} from '@fleetwire/protocol';
import { natsBinary } from '@fleetwire/testkit';
import { AckPolicy, jetstream, jetstreamManager, type StreamConfig } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { CLK_TCK, ticksOf } from '../src/cpu.ts';
import { hostSpeedLine } from '../src/host-speed.ts';
import { machineContext, parseArgs } from '../src/stack.ts';
import { benchImei } from '../src/trackers.ts';

const USAGE = `node bench/nats/costs.ts [options]
  --messages N   messages per measurement (default 100000)
  --bytes N      payload size; a one-record telemetry ProtoMsg is about 300 (default 300)
  --devices N    distinct subjects, one per device (default 1000)
  --rounds N     repeat every measurement (default 2)`;

const opts = parseArgs(
  process.argv.slice(2),
  { messages: 100_000, bytes: 300, devices: 1000, rounds: 2 },
  USAGE,
);
const PIPELINE = 500; // publishes awaiting their PubAck, as edge-tcp pipelines them
const FETCH = 500;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-bench-nats-'));
const nats = await startNats({ binary: natsBinary(), dir, logFile: path.join(dir, 'nats.log') });
const nc = await connect({ servers: nats.url });
try {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const serverCpuMicros = () => (ticksOf(nats.process.pid) / CLK_TCK) * 1e6;
  const payload = Buffer.alloc(opts.bytes, 0x5a);
  const tenant = parseTenantId('default');
  const devices = Array.from({ length: opts.devices }, (_, i) => parseDeviceId(benchImei(i)));
  /** The real TELEMETRY stream and its subjects, under a root of its own per measurement. */
  const telemetryUnder = (root: string) => {
    const topology = jetStreamTopology({ root });
    const subjectOf = (i: number) =>
      topology.subjects.up(tenant, devices[i % opts.devices]!, UP_KIND.TELEMETRY);
    return { config: toStreamConfig(topology.streams.TELEMETRY), subjectOf };
  };

  /** nats-server CPU per message while `body` runs, and messages per second. */
  const measure = async (label: string, body: () => Promise<void>) => {
    const cpuBefore = serverCpuMicros();
    const started = performance.now();
    await body();
    const seconds = (performance.now() - started) / 1000;
    const perMessage = (serverCpuMicros() - cpuBefore) / opts.messages;
    console.log(
      `  ${label.padEnd(48)} ${perMessage.toFixed(1).padStart(6)} µs/msg · ${Math.round(
        opts.messages / seconds,
      )
        .toLocaleString('en-US')
        .padStart(7)} msg/s`,
    );
  };

  const publishAll = async (subjectOf: (i: number) => string, withMsgId: boolean) => {
    let inFlight: Array<Promise<unknown>> = [];
    for (let i = 0; i < opts.messages; i++) {
      inFlight.push(
        js.publish(
          subjectOf(i),
          payload,
          withMsgId ? { msgID: `default:${i % opts.devices}:${i}` } : undefined,
        ),
      );
      if (inFlight.length >= PIPELINE) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
  };

  const consumeAll = async (stream: string, policy: AckPolicy) => {
    const name = `cost-${policy}`;
    await jsm.consumers.add(stream, { durable_name: name, ack_policy: policy, max_ack_pending: 20_000 });
    const consumer = await js.consumers.get(stream, name);
    for (let got = 0; got < opts.messages; ) {
      let last: { ack(): void } | undefined;
      for await (const m of await consumer.fetch({ max_messages: FETCH, expires: 2_000 })) {
        got++;
        if (policy === AckPolicy.Explicit) m.ack();
        last = m;
      }
      if (policy === AckPolicy.All) last?.ack();
    }
  };

  console.log(machineContext());
  console.log(
    `${opts.messages} messages of ${opts.bytes} bytes over ${opts.devices} subjects, ${PIPELINE} publishes in flight, fetches of ${FETCH}`,
  );
  for (let round = 1; round <= opts.rounds; round++) {
    console.log(`round ${round}: nats-server CPU per message`);
    let withId = '';
    for (const withMsgId of [true, false]) {
      const { config, subjectOf } = telemetryUnder(`cost${round}${withMsgId ? 'id' : 'plain'}`);
      await jsm.streams.add(config as unknown as StreamConfig);
      if (withMsgId) withId = config.name;
      await measure(`publish + PubAck, ${withMsgId ? 'with Nats-Msg-Id (edge-tcp)' : 'no Nats-Msg-Id'}`, () =>
        publishAll(subjectOf, withMsgId),
      );
    }
    const stream = withId;
    await measure('deliver, ack each (explicit: telemetry writer)', () =>
      consumeAll(stream, AckPolicy.Explicit),
    );
    await measure('deliver, one ack per fetch (ack all)', () => consumeAll(stream, AckPolicy.All));
    await measure('deliver, no ack (ack none)', () => consumeAll(stream, AckPolicy.None));
  }
  console.log(hostSpeedLine('after'));
} finally {
  await nc.close();
  await nats.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
