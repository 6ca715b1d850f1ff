/**
 * What messages parked with a delayed NAK cost nats-server: a consumer holds `--parked` of them,
 * due over `--spread` seconds, and nats-server's CPU is read first while none is due, then while
 * they come due (nobody pulls them again). A delayed NAK keeps the message in the consumer's
 * pending set, against max_ack_pending; this is the price of a large set. See bench/README.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNats } from '@fleetwire/devstack';
import { natsBinary } from '@fleetwire/testkit';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { CLK_TCK, ticksOf } from '../src/cpu.ts';
import { machineContext, parseArgs } from '../src/stack.ts';

const USAGE = `node bench/nats/parked.ts [options]
  --parked N     messages NAKed with a delay and left pending (default 15000)
  --spread S     their delays are spread over S seconds, after a first 60 s (default 30)
  --seconds S    length of each CPU reading (default 10)`;

const opts = parseArgs(process.argv.slice(2), { parked: 15_000, spread: 30, seconds: 10 }, USAGE);
const FIRST_DUE_MS = 60_000;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-bench-parked-'));
const nats = await startNats({ binary: natsBinary(), dir });
try {
  console.log(machineContext());
  const nc = await connect({ servers: `127.0.0.1:${nats.port}` });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'PARKED', subjects: ['parked.>'] });
  await jsm.consumers.add('PARKED', {
    durable_name: 'parked',
    ack_policy: AckPolicy.Explicit,
    ack_wait: 30e9,
    max_ack_pending: opts.parked,
  });
  const js = jetstream(nc);
  let inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < opts.parked; i++) {
    inFlight.push(js.publish(`parked.${i % 1000}`, 'x'));
    if (inFlight.length >= 1000) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);

  const consumer = await js.consumers.get('PARKED', 'parked');
  const parkedAt = performance.now();
  for (let got = 0; got < opts.parked; ) {
    const batch = await consumer.fetch({ max_messages: Math.min(1000, opts.parked - got), expires: 5000 });
    for await (const m of batch) {
      // A whole number of milliseconds: nats-server refuses a delay with a fraction of a nanosecond.
      m.nak(FIRST_DUE_MS + Math.round(Math.random() * opts.spread * 1000));
      got++;
    }
  }
  await nc.flush();
  const pending = (await consumer.info()).num_ack_pending;
  const reading = async (label: string) => {
    const before = ticksOf(nats.process.pid);
    await new Promise((r) => setTimeout(r, opts.seconds * 1000));
    const cpu = ((ticksOf(nats.process.pid) - before) / CLK_TCK / opts.seconds) * 100;
    console.log(`${label}: nats-server ${cpu.toFixed(1)} % of one core`);
  };
  console.log(
    `${pending} messages parked, due ${FIRST_DUE_MS / 1000}–${FIRST_DUE_MS / 1000 + opts.spread} s from now`,
  );
  await reading('none due yet');
  await new Promise((r) => setTimeout(r, Math.max(0, FIRST_DUE_MS + 1000 - (performance.now() - parkedAt))));
  await reading(`coming due, about ${Math.round(opts.parked / opts.spread)} per second`);
  await nc.close();
} finally {
  await nats.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
