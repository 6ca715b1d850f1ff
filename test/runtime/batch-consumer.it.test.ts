import {
  ackTogether,
  BatchConsumer,
  connectNats,
  createLogger,
  isRedelivered,
  type NatsHandle,
} from '@fleetwire/runtime';
import { createTestEnv, eventually, type TestEnv } from '@fleetwire/testkit';
import type { JsMsg } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const log = createLogger('test', 'test', 'silent');

describe('BatchConsumer (real nats-server)', () => {
  let env: TestEnv;
  let h: NatsHandle;

  beforeAll(async () => {
    env = await createTestEnv('batch');
    h = await connectNats(env.natsUrl, 'test', log);
  });
  afterAll(async () => {
    await h.nc.close();
  });

  async function streamWith(name: string, count: number, ackWaitMs = 30_000): Promise<string> {
    const stream = `${env.subjectRoot.toUpperCase()}_${name}`;
    await h.jsm.streams.add({ name: stream, subjects: [`${env.subjectRoot}.${name}.>`] });
    await h.jsm.consumers.add(stream, {
      durable_name: 'w',
      ack_policy: 'explicit',
      ack_wait: ackWaitMs * 1_000_000,
    });
    for (let i = 0; i < count; i++) await h.js.publish(`${env.subjectRoot}.${name}.x`, String(i));
    return stream;
  }

  async function pending(stream: string): Promise<number> {
    const info = await h.jsm.consumers.info(stream, 'w');
    return info.num_pending + info.num_ack_pending;
  }

  it('keeps `concurrency` batches in flight and handles and acknowledges every message once', async () => {
    const stream = await streamWith('conc', 400);
    const seen: number[] = [];
    let running = 0;
    let mostAtOnce = 0;
    const consumer = new BatchConsumer(await h.js.consumers.get(stream, 'w'), {
      maxBatch: 40,
      maxWaitMs: 5,
      concurrency: 2,
      log,
      terminate: (msg) => msg.term(),
      handle: async (batch: JsMsg[]) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise((r) => setTimeout(r, 30));
        for (const m of batch) seen.push(Number(m.string()));
        running--;
        return undefined;
      },
    });
    await consumer.start();
    await eventually(async () => seen.length === 400 && (await pending(stream)) === 0, 20_000);
    await consumer.stop();
    expect(new Set(seen).size).toBe(400);
    expect(mostAtOnce).toBe(2);
  });

  it('handles one batch at a time by default, and retries a failing batch without acknowledging it', async () => {
    const stream = await streamWith('seq', 60);
    const seen: number[] = [];
    let running = 0;
    let mostAtOnce = 0;
    let failures = 1;
    const consumer = new BatchConsumer(await h.js.consumers.get(stream, 'w'), {
      maxBatch: 20,
      maxWaitMs: 5,
      maxRetryDelayMs: 100,
      log,
      terminate: (msg) => msg.term(),
      handle: async (batch: JsMsg[]) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise((r) => setTimeout(r, 10));
        running--;
        if (failures-- > 0) throw new Error('database away');
        for (const m of batch) seen.push(Number(m.string()));
        return undefined;
      },
    });
    await consumer.start();
    await eventually(async () => seen.length === 60 && (await pending(stream)) === 0, 20_000);
    await consumer.stop();
    expect(new Set(seen).size).toBe(60);
    expect(mostAtOnce).toBe(1);
  });

  it('keeps messages held longer than the ack wait from being redelivered, with keepAliveMs', async () => {
    // Slow batches of 10 out of 40 messages: the last batch is handled ~3 s after delivery, the ack wait is 1 s.
    const stream = await streamWith('alive', 40, 1_000);
    const seen: number[] = [];
    let redelivered = 0;
    const consumer = new BatchConsumer(await h.js.consumers.get(stream, 'w'), {
      maxBatch: 10,
      maxWaitMs: 5,
      keepAliveMs: 300,
      log,
      terminate: (msg) => msg.term(),
      handle: async (batch: JsMsg[]) => {
        await new Promise((r) => setTimeout(r, 800));
        for (const m of batch) {
          seen.push(Number(m.string()));
          if (m.redelivered) redelivered++;
        }
        return undefined;
      },
    });
    await consumer.start();
    await eventually(async () => seen.length >= 40 && (await pending(stream)) === 0, 20_000);
    await new Promise((r) => setTimeout(r, 1_500));
    await consumer.stop();
    expect(redelivered).toBe(0);
    expect(seen).toHaveLength(40);
    expect(new Set(seen).size).toBe(40);
  });

  async function fetchAll(stream: string, count: number): Promise<JsMsg[]> {
    const consumer = await h.js.consumers.get(stream, 'w');
    const got: JsMsg[] = [];
    while (got.length < count) {
      const batch = await consumer.fetch({ max_messages: count - got.length, expires: 2_000 });
      for await (const m of batch) got.push(m);
    }
    return got;
  }

  it('ackTogether acknowledges exactly the messages it is given; the others stay pending', async () => {
    const stream = await streamWith('together', 10);
    const msgs = await fetchAll(stream, 10);
    ackTogether(msgs.slice(0, 6));
    await h.nc.flush();
    const info = await h.jsm.consumers.info(stream, 'w');
    expect(info.num_ack_pending).toBe(4);
    expect(info.ack_floor.stream_seq).toBe(6);
    // Messages already acknowledged are skipped, not an error; the rest go out.
    ackTogether(msgs);
    msgs[0]!.ack();
    await h.nc.flush();
    expect((await h.jsm.consumers.info(stream, 'w')).num_ack_pending).toBe(0);
  });

  it('isRedelivered reads the delivery count as msg.redelivered does', async () => {
    const stream = await streamWith('redelivered', 3);
    const first = await fetchAll(stream, 3);
    expect(first.map(isRedelivered)).toEqual([false, false, false]);
    expect(first.map((m) => m.redelivered)).toEqual([false, false, false]);
    for (const m of first) m.nak();
    const again = await fetchAll(stream, 3);
    expect(again.map(isRedelivered)).toEqual([true, true, true]);
    expect(again.map((m) => m.info.deliveryCount)).toEqual([2, 2, 2]);
    ackTogether(again);
  });
});
