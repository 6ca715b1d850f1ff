import { jetStreamTopology } from '@fleetwire/protocol';
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
import { notifier } from '../src/main.ts';
import { publishCompleted } from './command-changes.ts';

const EVENTS = 300;

describe('held webhook retries with two notifier instances (real NATS, PostgreSQL and HTTP receiver)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const instances: Array<RunningService<typeof notifier.config>> = [];
  const host = new WebhookReceiver();
  const topology = () => jetStreamTopology({ root: env.subjectRoot });

  const heldCount = async () => {
    const { streams, subjects } = topology();
    const held = await listHeldSubjects(jsm, streams.NOTIFY.name, subjects, subjects.notifyHeldAll());
    return held.reduce((sum, h) => sum + h.count, 0);
  };

  beforeAll(async () => {
    env = await createTestEnv('held-two');
    await host.listen();
    const serviceEnv = env.serviceEnv({ FW_WEBHOOK_BACKOFF: '1s,30s,1s', FW_WEBHOOK_TIMEOUT: '2s' });
    // Two instances share the consumers and the held subjects, as two pods of one deployment do.
    instances.push(await startService(notifier, serviceEnv), await startService(notifier, serviceEnv));
    sql = testSql(env);
    nc = await connectTestNats(env);
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await sql`insert into tenants (id, name) values ('acme', 'acme')`;
    await sql`insert into webhook_subscriptions (tenant_id, id, url, secret, events)
              values ('acme', 'hook', ${host.url('/acme')}, 'secret-acme', ${[]})`;
  });

  afterAll(async () => {
    await Promise.all(instances.map((s) => s.stop()));
    await nc?.close();
    await sql?.end();
    await host.close();
  });

  it('releases each held retry once: every event delivered exactly once after the host is back', async () => {
    host.respond('/', 503);
    const eventIds = await Promise.all(
      Array.from({ length: EVENTS }, (_, i) => publishCompleted(js, topology().subjects, 'acme', { i })),
    );
    await eventually(async () => (await heldCount()) >= EVENTS, 20_000, 'every retry held');

    const upAt = Date.now();
    host.respond('/', 204);
    const deliveredAfter = () => host.to('/acme').filter((r) => r.at >= upAt);
    await eventually(
      () => new Set(deliveredAfter().map((r) => r.headers['x-fleetwire-event-id'])).size >= EVENTS,
      25_000,
      'every event delivered after the host came back',
    );
    // Settled: nothing held, and no second copy arrives later.
    await eventually(async () => (await heldCount()) === 0, 5_000, 'nothing left held');
    await new Promise((r) => setTimeout(r, 1_500));
    const perEvent = new Map<string, number>();
    for (const r of deliveredAfter()) {
      const id = r.headers['x-fleetwire-event-id'] as string;
      perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
    }
    expect([...perEvent.keys()].sort()).toEqual([...eventIds].sort());
    expect([...perEvent.values()].filter((n) => n > 1)).toEqual([]);
  }, 60_000);
});
