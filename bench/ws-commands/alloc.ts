/**
 * Bytes allocated per WebSocket command in the edge's and the gateway's code, in one process, with
 * no other load: a figure that does not depend on how busy the machine is (bench/README.md,
 * ws-commands). Drives the real code: edge-ws's DeviceChannel and the runtime's JetStreamPublisher
 * (over a stand-in NATS connection that keeps nothing), the simulator's frame reader and command
 * handler. Per command: the request arrives on `down.<device>` → the channel decodes it, writes the
 * command frame to the socket and answers COMMAND/ack; the gateway reads the frame and builds its
 * command/ack and command/result; the channel decodes both, publishes two bus messages, gets their
 * PubAcks and writes control/ack for the result; the gateway reads that control/ack; plus one
 * heartbeat (5,000 gateways ping every 5 s at 1,000 commands/s). nats.js's parser and socket, ws's
 * receiver and the kernel are not included.
 *
 *   node --expose-gc --max-semi-space-size=128 bench/ws-commands/alloc.ts [--commands N]
 */
import { createRequire } from 'node:module';
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import {
  type CommandId,
  CommandRequestBody,
  DEFAULT_TENANT,
  type DeviceId,
  encodePayload,
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
  subjects,
} from '@fleetwire/protocol';
import { createLogger, JetStreamPublisher } from '@fleetwire/runtime';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { handleCommand } from '../../packages/simulator/src/ws/commands.ts';
import {
  commandAckFrame,
  commandResultFrame,
  OPEN_FRAME,
  PING_FRAME,
  readEdgeMessage,
} from '../../packages/simulator/src/ws/wire.ts';
import { type ChannelContext, DeviceChannel, DeviceSocket } from '../../services/edge-ws/src/channel.ts';
import { edgeWsMetrics } from '../../services/edge-ws/src/metrics.ts';
import { parseArgs } from '../src/stack.ts';

const opts = parseArgs(
  process.argv.slice(2),
  { commands: 2_000, rounds: 5, coalesce: true, edgeOnly: false },
  "node --expose-gc … bench/ws-commands/alloc.ts [--commands N] [--rounds R] [--edge-only]\n  --edge-only  the gateway's frames are made before measuring: the edge's bytes alone",
);
let gcCount = 0;
new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

/** Frames the edge wrote to the device, as the device's WebSocket receiver would hand them over. */
const toDevice: Buffer[] = [];
const fakeSocket = {
  _writableState: { length: 0 },
  write(frame: Buffer) {
    // A direct frame is header + payload; 126+ bytes have a 4-byte header.
    toDevice.push(frame.subarray(frame[1] === 126 ? 4 : 2));
    return true;
  },
};

/** What a NATS connection does for the publisher: publishes are dropped, PubAcks come from here. */
let ackSink: ((err: Error | null, msg: Msg) => void) | undefined;
let inboxPrefix = '';
/** Reply subjects of publishes not acknowledged yet (the publisher's tokens count up from 0). */
const published: string[] = [];
let framesSeen = 0;
const protocol = {
  outMsgs: 0,
  outBytes: 0,
  noMorePublishing: false,
  info: { max_payload: 1024 * 1024 },
  subscribe() {},
  sendCommand(_bytes: Uint8Array) {
    // The publisher counts the frames it hands over; their tokens are consecutive.
    for (; framesSeen < this.outMsgs; framesSeen++) published.push(`${inboxPrefix}.${framesSeen}`);
  },
};
const nc = {
  protocol,
  isClosed: () => false,
  isDraining: () => false,
  subscribe: (subject: string, o: { callback: (err: Error | null, msg: Msg) => void }) => {
    ackSink = o.callback;
    inboxPrefix = subject.slice(0, -2);
    return { unsubscribe() {} };
  },
  publish: (_subject: string, _data: Uint8Array, o?: { reply?: string }) => {
    if (o?.reply) published.push(o.reply);
  },
} as unknown as NatsConnection;
const publisher = new JetStreamPublisher(nc, { coalesceWrites: opts.coalesce });
const PUBACK = Buffer.from('{"stream":"FW_DEVICE_EVENTS","seq":1}');

// prom-client is edge-ws's dependency, not the bench's.
const { Registry } = createRequire(new URL('../../services/edge-ws/package.json', import.meta.url))(
  'prom-client',
) as { Registry: new () => Parameters<typeof edgeWsMetrics>[0] };
const tenant = DEFAULT_TENANT;
const deviceId = 'gw-000001' as DeviceId;
const s = subjects({ root: 'fw' });
const ctx: ChannelContext = {
  nc,
  subjects: s,
  publisher,
  presence: { online: async () => 1 } as unknown as ChannelContext['presence'],
  metrics: edgeWsMetrics(new Registry()),
  // As the bench runs the edge: FW_LOG_LEVEL=warn.
  log: createLogger('edge-ws', 'alloc', 'warn'),
  maxFrameBytes: 65_536,
  rate: { ratePerSec: 1e9, burst: 1e9 },
  handshakeTimeoutMs: 10_000,
  maxBufferedBytes: 1024 * 1024,
  released() {},
  track() {},
  inTurn(work) {
    work();
  },
};

// ws's server-side form (no address): the socket is attached below instead of by an upgrade.
const ws = new DeviceSocket(null as unknown as string, undefined, { autoPong: true });
Object.assign(ws, {
  _readyState: 1,
  _socket: fakeSocket,
  _sender: { _state: 0, _queue: [], _bufferedBytes: 0 },
});
const channel = new DeviceChannel(
  ws,
  { tenant, deviceId, heartbeatMs: 5_000 } as ConstructorParameters<typeof DeviceChannel>[1],
  ctx,
);
// control/open → claimed (the stand-in presence answers epoch 1) → control/accept.
channel.receive(Buffer.from(OPEN_FRAME), true);
await new Promise((r) => setImmediate(r));
if (!readEdgeMessage(toDevice.shift()!).kind.startsWith('accept')) throw new Error('channel not open');
published.length = 0;

const gateway = {
  parameters: () => ({
    deviceId,
    serial: 'SN-000001',
    hwSerial: 'HW-000001',
    mac: '02:00:00:00:00:01',
    localIp: '10.0.0.1',
    firmware: '1.4.2',
    model: 'GW-100',
    epoch: 1,
  }),
  log() {},
  appendItems: async () => {},
  uploadLogs: async () => '',
  enableFaults() {},
  reboot() {},
  powerOff() {},
};
let msgSeq = 0;

/** The gateway: answers a command frame as SimulatedWsDevice does (ack at once, then the result). */
async function deviceReads(frame: Uint8Array): Promise<void> {
  const message = readEdgeMessage(frame);
  if (message.kind !== 'command') return;
  await handleCommand(
    message.request,
    {
      ack: (commandId: CommandId) => channel.receive(asBuffer(commandAckFrame(commandId)), true),
      result: (commandId, outcome) => {
        const msgid = `b-${++msgSeq}`;
        channel.receive(asBuffer(commandResultFrame(commandId, outcome, msgid)), true);
      },
    },
    gateway,
  );
}

/** What ws's receiver hands over: a Buffer (here a view of the gateway's frame, not a copy). */
function asBuffer(frame: Uint8Array): Buffer {
  return Buffer.from(frame.buffer, frame.byteOffset, frame.length);
}
const PING = Buffer.from(PING_FRAME);

const reply = { respond: (_data: Uint8Array) => true, reply: '_INBOX.x' };
/** The bench's requests (as nats.js hands them over), built before a round is measured. */
interface Request {
  msg: Msg;
  /** With --edge-only: the gateway's command/ack and command/result, made in advance. */
  answers: Buffer[] | undefined;
}

function requests(from: number, count: number): Request[] {
  const out: Request[] = [];
  for (let seq = from; seq < from + count; seq++) {
    const commandId = `b${seq}` as CommandId;
    const body = encodePayload(CommandRequestBody, { commandId, name: 'get_d_parameters' });
    const data = encodeProtoMsg({ hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST }, body });
    const output = JSON.stringify(gateway.parameters());
    const answers = opts.edgeOnly
      ? [commandAckFrame(commandId), commandResultFrame(commandId, { ok: true, output }, `b-${seq}`)]
      : undefined;
    out.push({ msg: { data, ...reply } as unknown as Msg, answers: answers?.map(asBuffer) });
  }
  return out;
}

async function oneCommand(request: Request): Promise<void> {
  channel.onDownlink(null, request.msg);
  if (request.answers) {
    toDevice.length = 0;
    channel.receive(request.answers[0]!, true);
    channel.receive(request.answers[1]!, true);
  } else {
    for (let frame = toDevice.shift(); frame; frame = toDevice.shift()) await deviceReads(frame);
  }
  channel.receive(PING, true);
  await flushPublishes();
  if (request.answers) toDevice.length = 0;
  for (let frame = toDevice.shift(); frame; frame = toDevice.shift()) readEdgeMessage(frame);
}

/** The publisher's turn, then a PubAck for every publish. */
async function flushPublishes(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  for (const p of published.splice(0)) {
    ackSink!(null, { subject: p, data: PUBACK, headers: undefined } as unknown as Msg);
  }
  await Promise.resolve();
}

for (const request of requests(0, 2_000)) await oneCommand(request);
const figures: number[] = [];
for (let round = 0; round < opts.rounds; round++) {
  const batch = requests(10_000 + round * opts.commands, opts.commands);
  gc();
  // The forced GC's own entry arrives asynchronously: let it in before counting.
  await new Promise((r) => setTimeout(r, 20));
  const before = v8.getHeapStatistics();
  const gcsBefore = scavenges();
  for (const request of batch) await oneCommand(request);
  const after = v8.getHeapStatistics();
  await new Promise((r) => setTimeout(r, 20));
  if (scavenges() !== gcsBefore) {
    console.log(`round ${round}: a GC ran; raise --max-semi-space-size or lower --commands`);
    continue;
  }
  figures.push((after.used_heap_size - before.used_heap_size) / opts.commands);
}
console.log(
  `bytes allocated per command (JS heap; ${opts.edgeOnly ? 'edge' : 'edge + gateway'}, heartbeat included), per round: ${figures.map((b) => b.toFixed(0)).join(' ')}`,
);

function scavenges(): number {
  return gcCount;
}
