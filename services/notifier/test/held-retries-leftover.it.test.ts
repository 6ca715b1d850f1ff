import { decodeBusMessage, jetStreamTopology, WebhookDelivery } from '@fleetwire/protocol';
import { listHeldSubjects, type RunningService, type Sql, startService } from '@fleetwire/runtime';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  type TestEnv,
  testSql,
  WebhookReceiver,
} from '@fleetwire/testkit';
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseConsumerConfig } from '../src/adapters/held-retries.ts';
import { notifier } from '../src/main.ts';
import { publishCompleted } from './command-changes.ts';

const EVENTS_PER_GROUP = 20;
/** The second retry waits 40 s, held in subjects 4 s apart: two groups 5 s apart are held in two. */
const BACKOFF = '1s,40s,1s';
/** The crashed instance's consumer idles out after this (the service's own is 30 s; same config). */
const LEFTOVER_IDLE_MS = 15_000;

describe('a release consumer left by a crashed notifier (real NATS, PostgreSQL and HTTP receiver)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let service: RunningService<typeof notifier.config>;
  const host = new WebhookReceiver();
  const topology = () => jetStreamTopology({ root: env.subjectRoot });
  const stream = () => topology().streams.NOTIFY.name;

  const held = async () => {
    const { subjects } = topology();
    return listHeldSubjects(jsm, stream(), subjects, subjects.notifyHeldAll());
  };

  beforeAll(async () => {
    env = await createTestEnv('held-leftover');
    await host.listen();
    service = await startService(
      notifier,
      env.serviceEnv({ FW_WEBHOOK_BACKOFF: BACKOFF, FW_WEBHOOK_TIMEOUT: '2s' }),
    );
    sql = testSql(env);
    nc = await connectTestNats(env);
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await sql`insert into tenants (id, name) values ('acme', 'acme')`;
    await sql`insert into webhook_subscriptions (tenant_id, id, url, secret, events)
              values ('acme', 'hook', ${host.url('/acme')}, 'secret-acme', ${[]})`;
  });

  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await sql?.end();
    await host.close();
  });

  it('blocks only its held subject until the server removes it, then that subject is released too, each event once', async () => {
    host.respond('/', 503);
    const eventIds: string[] = [];
    for (const group of [1, 2]) {
      if (group > 1) await new Promise((r) => setTimeout(r, 5_000));
      eventIds.push(
        ...(await Promise.all(
          Array.from({ length: EVENTS_PER_GROUP }, (_, i) =>
            publishCompleted(js, topology().subjects, 'acme', { group, i }),
          ),
        )),
      );
      await eventually(
        async () => (await held()).reduce((sum, h) => sum + h.count, 0) >= eventIds.length,
        20_000,
        'every retry held',
      );
    }

    // What a crash in the middle of a release leaves: its consumer on one held subject, with what
    // it fetched unacked. It takes the earliest subject, the one a probe of the host would try
    // first. (A probe may hold that subject for a moment: then try again.)
    const leftover = await eventually(async () => {
      const [earliest] = (await held()).sort((a, b) => a.dueAtSec - b.dueAtSec);
      if (!earliest) return undefined;
      return jsm.consumers
        .add(stream(), releaseConsumerConfig(earliest.subject, LEFTOVER_IDLE_MS))
        .catch(() => undefined);
    }, 10_000);
    const stuck = new Set<string>();
    const fetched = await (await js.consumers.get(stream(), leftover.name)).fetch({
      max_messages: leftover.num_pending,
      expires: 2_000,
    });
    for await (const msg of fetched) {
      stuck.add(decodeBusMessage(msg.data, WebhookDelivery).payload.eventId);
      if (stuck.size >= leftover.num_pending) break;
    }
    expect(stuck.size).toBeGreaterThan(1);

    let leftoverGoneAt: number | undefined;
    const watch = setInterval(() => {
      jsm.consumers.info(stream(), leftover.name).catch(() => {
        leftoverGoneAt ??= Date.now();
      });
    }, 200);
    try {
      const upAt = Date.now();
      host.respond('/', 204);
      const deliveredAfterUp = () => host.to('/acme').filter((r) => r.at >= upAt);
      const idsOf = (requests: ReturnType<typeof deliveredAfterUp>) =>
        new Set(requests.map((r) => r.headers['x-fleetwire-event-id'] as string));

      // Every other held subject is released while the leftover still blocks its own.
      const others = eventIds.filter((id) => !stuck.has(id));
      expect(others.length).toBeGreaterThan(0);
      await eventually(
        () => others.every((id) => idsOf(deliveredAfterUp()).has(id)),
        LEFTOVER_IDLE_MS - 3_000,
        'the other held retries delivered',
      );
      expect(leftoverGoneAt).toBeUndefined();
      expect([...idsOf(deliveredAfterUp())].filter((id) => stuck.has(id))).toEqual([]);

      // Once the server has removed it, the blocked subject goes out as well: nothing lost.
      await eventually(
        () => [...stuck].every((id) => idsOf(deliveredAfterUp()).has(id)),
        LEFTOVER_IDLE_MS + 15_000,
        'the blocked held retries delivered',
      );
      expect(leftoverGoneAt).toBeDefined();
      const stuckDeliveries = deliveredAfterUp().filter((r) =>
        stuck.has(r.headers['x-fleetwire-event-id'] as string),
      );
      expect(Math.min(...stuckDeliveries.map((r) => r.at))).toBeGreaterThanOrEqual(
        (leftoverGoneAt as number) - 250,
      );

      // Settled: nothing held, and every event arrived exactly once.
      await eventually(async () => (await held()).length === 0, 5_000, 'nothing left held');
      await new Promise((r) => setTimeout(r, 1_500));
      const perEvent = new Map<string, number>();
      for (const r of deliveredAfterUp()) {
        const id = r.headers['x-fleetwire-event-id'] as string;
        perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
      }
      expect([...perEvent.keys()].sort()).toEqual([...eventIds].sort());
      expect([...perEvent.values()].filter((n) => n > 1)).toEqual([]);
    } finally {
      clearInterval(watch);
    }
  }, 90_000);
});
