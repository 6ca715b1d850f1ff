/**
 * A webhook host's outage and return: `--events` command outcomes are fanned out while the host
 * answers 503, a trickle of new ones (`--rate`) keeps coming, the host stays down `--down` seconds,
 * then answers 200. Prints how the notifier holds the failed deliveries meanwhile (held retries,
 * delivery consumer slots, CPU per process) and how fast the backlog arrives once the host is back.
 * The notifier runs as its own process, as `./fleetwire up` runs it. See bench/README.md.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CommandStateChange,
  encodeBusMessage,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  type TenantId,
} from '@fleetwire/protocol';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  cpuBetween,
  cpuSnapshot,
  formatCpu,
  machineContext,
  parseArgs,
  sleep,
  table,
  withStack,
} from '../src/stack.ts';

const USAGE = `node bench/notifier/outage.ts [options]
  --events N     outcomes fanned out to the host just after it goes down (default 20000)
  --rate R       new outcomes per second throughout (default 10; 0: none, so only probes find the host back)
  --down S       seconds the host stays down after the burst (default 120)
  --backoff L    FW_WEBHOOK_BACKOFF (default: the notifier's, 1s … 30m)
  --every S      seconds between progress lines (default 10)`;

const opts = parseArgs(
  process.argv.slice(2),
  { events: 20_000, rate: 10, down: 120, backoff: '', every: 10 },
  USAGE,
);

await withStack({ ephemeralPg: false }, async (stack) => {
  console.log(machineContext());
  let up = false;
  const delivered = new Map<string, number>();
  let requests = 0;
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      if (!up) return void res.writeHead(503).end();
      res.writeHead(200).end();
      const eventId = String(req.headers['x-fleetwire-event-id']);
      if (!delivered.has(eventId)) delivered.set(eventId, performance.now());
    });
  });
  receiver.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as AddressInfo).port;
  await stack.startService('notifier', {
    NOTIFICATION_URL: `http://127.0.0.1:${port}`,
    FW_WEBHOOK_SECRET: 'bench-webhook-secret',
    ...(opts.backoff ? { FW_WEBHOOK_BACKOFF: opts.backoff } : {}),
  });

  const topology = jetStreamTopology({ root: stack.subjectRoot });
  const nc = await connect({ servers: stack.nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const notify = topology.streams.NOTIFY.name;
  const eventIds: string[] = [];
  const publishOutcome = (i: number) => {
    const change: CommandStateChange = {
      tenant: 'default' as TenantId,
      deviceId: `35${String(i).padStart(13, '0')}` as CommandStateChange['deviceId'],
      commandId: `bench-${randomUUID()}` as CommandStateChange['commandId'],
      at: Date.now(),
      name: 'codec12',
      command: 'getver',
      attempt: 1,
      state: 'completed',
      response: 'Ver:03.28.07',
      metadata: { i },
    };
    eventIds.push(`${change.commandId}:completed`);
    return js.publish(
      topology.subjects.cmd(change.tenant, change.deviceId, 'completed'),
      encodeBusMessage(PROTO.COMMAND, MSG_TYPE.COMMAND.STATE, change),
      { msgID: randomUUID() },
    );
  };

  const status = async () => {
    const [info, consumer] = await Promise.all([
      jsm.streams.info(notify, { subjects_filter: topology.subjects.notifyHeldAll() }),
      jsm.consumers.info(notify, 'notifier-deliveries'),
    ]);
    const subjects = Object.values(info.state.subjects ?? {});
    return {
      held: subjects.reduce((a, b) => a + b, 0),
      heldSubjects: subjects.length,
      slots: consumer.num_ack_pending,
      backlog: consumer.num_pending,
    };
  };

  const rows: string[][] = [
    [
      't (s)',
      'phase',
      'held',
      'held subjects',
      'slots in use',
      'backlog',
      'delivered',
      'CPU over the interval',
    ],
  ];
  const start = performance.now();
  let cpuA = cpuSnapshot(stack.processes());
  let lastAt = start;
  const progress = async (phase: string) => {
    const s = await status();
    const now = performance.now();
    const cpuB = cpuSnapshot(stack.processes());
    rows.push([
      ((now - start) / 1000).toFixed(0),
      phase,
      String(s.held),
      String(s.heldSubjects),
      String(s.slots),
      String(s.backlog),
      `${delivered.size}/${eventIds.length}`,
      formatCpu(cpuBetween(cpuA, cpuB, (now - lastAt) / 1000)),
    ]);
    console.log(rows.at(-1)!.join(' · '));
    cpuA = cpuB;
    lastAt = now;
    return s;
  };

  // The trickle: new outcomes all along, as a live fleet produces them.
  let next = 0;
  const trickle =
    opts.rate > 0 ? setInterval(() => void publishOutcome(next++), 1000 / opts.rate) : undefined;

  console.log(`host down; ${opts.events} outcomes fanned out now, ${opts.rate}/s after`);
  for (let i = 0; i < opts.events; i += 1_000) {
    await Promise.all(Array.from({ length: Math.min(1_000, opts.events - i) }, () => publishOutcome(next++)));
  }
  const downUntil = performance.now() + opts.down * 1000;
  while (performance.now() < downUntil) {
    await sleep(Math.min(opts.every * 1000, downUntil - performance.now()));
    await progress('down');
  }

  up = true;
  const upAt = performance.now();
  console.log('host up');
  const expected = () => eventIds.filter((id) => !delivered.has(id)).length;
  while (expected() > Math.max(0, opts.rate * 2)) {
    await sleep(1000);
    const s = await progress('up');
    if (performance.now() - upAt > 30 * 60_000) throw new Error(`still ${s.held} held after 30 min`);
  }
  clearInterval(trickle);
  const burst = eventIds.slice(0, opts.events);
  const arrivals = burst.map((id) => delivered.get(id)).filter((t): t is number => t !== undefined);
  const lastArrival = Math.max(...arrivals);
  console.log(`\n${table(rows)}\n`);
  console.log(
    `${arrivals.length} of the ${opts.events} outcomes of the burst delivered after the host came back, the last ` +
      `${((lastArrival - upAt) / 1000).toFixed(1)} s after it (${Math.round(arrivals.length / ((lastArrival - upAt) / 1000))}/s); ` +
      `${requests} requests in all for ${eventIds.length} outcomes`,
  );
  await nc.close();
  receiver.closeAllConnections();
  receiver.close();
});
