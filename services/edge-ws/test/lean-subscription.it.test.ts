import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { subscribeLean } from '@fleetwire/edge-kit';
import { connectNats, createLogger } from '@fleetwire/runtime';
import { createTestEnv, eventually, natsBinary, startNats, type TestEnv } from '@fleetwire/testkit';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The size of nats.js's subscription table (nats-core 3.4.x), to see subscriptions leave it. */
function subscriptionCount(nc: NatsConnection): number {
  return (nc as unknown as { protocol: { subscriptions: { size(): number } } }).protocol.subscriptions.size();
}

function isNoResponders(err: unknown): boolean {
  return err instanceof Error && /no responders/i.test(`${err.message} ${String(err.cause ?? '')}`);
}

describe('subscribeLean: a down-subject subscription registered through nats.js (real nats-server)', () => {
  let env: TestEnv;
  let nc: NatsConnection;
  let requester: NatsConnection;
  const log = createLogger('test', 'lean-subscription', 'warn');

  beforeAll(async () => {
    env = await createTestEnv('lean_subscription');
    ({ nc } = await connectNats(env.natsUrl, 'edge', log));
    ({ nc: requester } = await connectNats(env.natsUrl, 'requester', log));
  });
  afterAll(async () => {
    await nc?.close();
    await requester?.close();
  });

  it('delivers messages and requests to its callback, and after unsubscribe the subject has no responders', async () => {
    const subject = `${env.subjectRoot}.default.down.lean-1`;
    const seen: string[] = [];
    const before = subscriptionCount(nc);
    const sub = subscribeLean(nc, subject, (err, msg: Msg) => {
      expect(err).toBeNull();
      seen.push(msg.string());
      if (msg.reply) msg.respond(`ack ${msg.string()}`);
    });
    await nc.flush();
    requester.publish(subject, 'one');
    const reply = await requester.request(subject, 'two', { timeout: 5_000 });
    expect(reply.string()).toBe('ack two');
    await eventually(() => seen.length === 2, 5_000, 'both messages');
    expect(seen).toEqual(['one', 'two']);
    expect(subscriptionCount(nc)).toBe(before + 1);

    sub.unsubscribe();
    sub.unsubscribe(); // a second unsubscribe sends nothing and throws nothing
    await nc.flush();
    expect(subscriptionCount(nc)).toBe(before);
    const refused = await requester.request(subject, 'three', { timeout: 5_000 }).catch((e: unknown) => e);
    expect(isNoResponders(refused)).toBe(true);
    expect(seen).toEqual(['one', 'two']);
  });

  it('is drained and closed with its connection like nats.js subscriptions', async () => {
    const { nc: own } = await connectNats(env.natsUrl, 'draining', log);
    const subject = `${env.subjectRoot}.default.down.lean-2`;
    const seen: string[] = [];
    subscribeLean(own, subject, (_err, msg) => seen.push(msg.string()));
    await own.flush();
    requester.publish(subject, 'before drain');
    await eventually(() => seen.length === 1, 5_000, 'the message before the drain');
    await own.drain();
    expect(own.isClosed()).toBe(true);
    expect(subscriptionCount(own)).toBe(0);
    expect(() => subscribeLean(own, subject, () => {})).toThrow(/closed/i);
    const refused = await requester.request(subject, 'after', { timeout: 5_000 }).catch((e: unknown) => e);
    expect(isNoResponders(refused)).toBe(true);
  });

  it('refuses a subject nats.js refuses', () => {
    expect(() => subscribeLean(nc, 'has space', () => {})).toThrow(/subject/i);
    expect(() => subscribeLean(nc, '', () => {})).toThrow(/subject/i);
  });

  it('costs a fraction of nc.subscribe per subscription (heap after a full GC)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const heapUsed = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const perSubscription = async (subscribe: (subject: string) => { unsubscribe(): void }) => {
      const n = 2_000;
      const start = heapUsed();
      const subs = [];
      for (let i = 0; i < n; i++) subs.push(subscribe(`${env.subjectRoot}.default.down.cost-${i}`));
      await nc.flush();
      const cost = (heapUsed() - start) / n;
      for (const sub of subs) sub.unsubscribe();
      await nc.flush();
      return cost;
    };
    const callback = () => {};
    const full = await perSubscription((s) => nc.subscribe(s, { callback }));
    const lean = await perSubscription((s) => subscribeLean(nc, s, callback));
    // Measured about 1,250 B against 290 B (both with the subject string and table entry).
    expect(lean).toBeLessThan(full / 2);
  });

  it('is subscribed again when its connection reconnects to a restarted server', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-lean-reconnect-'));
    const logFile = path.join(dir, 'nats.log');
    let server = await startNats({ binary: natsBinary(), dir, logFile });
    const { nc: edge } = await connectNats(server.url, 'edge-reconnect', log);
    try {
      const subject = 'reconnect.default.down.dev-1';
      const seen: string[] = [];
      subscribeLean(edge, subject, (_err, msg) => {
        seen.push(msg.string());
        msg.respond('ok');
      });
      await edge.flush();
      await server.stop();
      server = await startNats({ binary: natsBinary(), dir, logFile, port: server.port });
      const { nc: other } = await connectNats(server.url, 'requester-reconnect', log);
      try {
        // Answered only once the edge has reconnected and sent its SUB again.
        const reply = await eventually(
          async () => {
            try {
              return (await other.request(subject, 'hello', { timeout: 500 })).string();
            } catch {
              return undefined;
            }
          },
          20_000,
          'request answered after the reconnect',
        );
        expect(reply).toBe('ok');
        expect(seen).toContain('hello');
      } finally {
        await other.close();
      }
    } finally {
      await edge.close();
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
