import { coalesceSocketWrites, connectNats, createLogger } from '@fleetwire/runtime';
import {
  connectTestNats,
  countSocketWrites,
  createTestEnv,
  eventually,
  type TestEnv,
} from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Three publishes in one event-loop turn, each after a microtask checkpoint of its own. */
async function publishAcrossCheckpoints(nc: NatsConnection, subject: string): Promise<void> {
  for (const n of [1, 2, 3]) {
    nc.publish(subject, String(n));
    await Promise.resolve();
  }
}

describe('coalesceSocketWrites (real nats-server)', () => {
  let env: TestEnv;
  let watcher: NatsConnection;
  const log = createLogger('test', 'socket-writes', 'warn');
  const received: Record<string, string[]> = {};

  beforeAll(async () => {
    env = await createTestEnv('socket-writes');
    watcher = await connectTestNats(env);
    watcher.subscribe(`${env.subjectRoot}.>`, {
      callback: (_err, msg) => {
        received[msg.subject] ??= [];
        received[msg.subject]!.push(msg.string());
      },
    });
    await watcher.flush();
  });
  afterAll(async () => {
    await watcher?.drain();
  });

  const arrived = (subject: string, count: number) =>
    eventually(() => (received[subject]?.length ?? 0) >= count, 5_000, `${count} messages on ${subject}`);

  it('sends what one turn produced in one write, in order, where a plain connection writes per checkpoint', async () => {
    const { nc: plain } = await connectNats(env.natsUrl, 'plain', log);
    const { nc: coalesced } = await connectNats(env.natsUrl, 'coalesced', log);
    coalesceSocketWrites(coalesced);
    const plainWrites = countSocketWrites(plain);
    const coalescedWrites = countSocketWrites(coalesced);

    await publishAcrossCheckpoints(plain, `${env.subjectRoot}.plain`);
    await publishAcrossCheckpoints(coalesced, `${env.subjectRoot}.coalesced`);
    await arrived(`${env.subjectRoot}.plain`, 3);
    await arrived(`${env.subjectRoot}.coalesced`, 3);

    expect(received[`${env.subjectRoot}.coalesced`]).toEqual(['1', '2', '3']);
    expect(plainWrites()).toBe(3);
    expect(coalescedWrites()).toBe(1);
    await plain.drain();
    await coalesced.drain();
  });

  it('still answers requests and flushes, and close() sends what is still pending', async () => {
    const { nc } = await connectNats(env.natsUrl, 'coalesced', log);
    coalesceSocketWrites(nc);
    nc.subscribe(`${env.subjectRoot}.echo`, {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    const reply = await nc.request(`${env.subjectRoot}.echo`, 'ping', { timeout: 2_000 });
    expect(reply.string()).toBe('ping');
    await nc.flush();

    nc.publish(`${env.subjectRoot}.last`, 'before close');
    await nc.close();
    await arrived(`${env.subjectRoot}.last`, 1);
    expect(received[`${env.subjectRoot}.last`]).toEqual(['before close']);
  });
});
