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
import { hostKeyOf } from '../src/holding.ts';
import { notifier } from '../src/main.ts';
import { verifySignature } from '../src/signature.ts';
import { publishCompleted as publishCompletedOutcome } from './command-changes.ts';

/** The second retry waits 30 s: longer than a consumer slot is used for, so it is always held. */
const BACKOFF = '1s,30s,1s';
const ATTEMPTS = 4;
/** More than the delivery consumer's max_ack_pending (1,000): parked, they would fill every slot. */
const DOWN_HOST_EVENTS = 1_200;

describe('held webhook retries (real NATS, PostgreSQL and HTTP receivers)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let service: RunningService<typeof notifier.config>;
  const down = new WebhookReceiver();
  const other = new WebhookReceiver();
  const broken = new WebhookReceiver();
  const topology = () => jetStreamTopology({ root: env.subjectRoot });
  const notifyStream = () => topology().streams.NOTIFY.name;
  const brokenEvents: string[] = [];

  const publishCompleted = (tenant: string) =>
    publishCompletedOutcome(js, topology().subjects, tenant, { job: tenant });

  const subscribe = async (tenant: string, receiver: WebhookReceiver, secret: string) => {
    await sql`insert into tenants (id, name) values (${tenant}, ${tenant})`;
    await sql`insert into webhook_subscriptions (tenant_id, id, url, secret, events)
              values (${tenant}, ${`${tenant}-hook`}, ${receiver.url(`/${tenant}`)}, ${secret}, ${[]})`;
  };

  /** The down host's held retries by due second, from the subjects NOTIFY stores them under. */
  const heldByDue = async (): Promise<Map<number, number>> => {
    const { subjects } = topology();
    const filter = subjects.notifyHeldAll(hostKeyOf(new URL(down.url()).origin));
    const byDue = new Map<number, number>();
    for (const { dueAtSec, count } of await listHeldSubjects(jsm, notifyStream(), subjects, filter))
      byDue.set(dueAtSec, (byDue.get(dueAtSec) ?? 0) + count);
    return byDue;
  };
  const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);
  const slotsInUse = async () =>
    (await jsm.consumers.info(notifyStream(), 'notifier-deliveries')).num_ack_pending;
  const eventIdsAt = (receiver: WebhookReceiver, path: string, since = 0) =>
    new Set(
      receiver
        .to(path)
        .filter((r) => r.at >= since)
        .map((r) => r.headers['x-fleetwire-event-id'] as string),
    );

  beforeAll(async () => {
    env = await createTestEnv('held-retries');
    await Promise.all([down.listen(), other.listen(), broken.listen()]);
    service = await startService(
      notifier,
      env.serviceEnv({ FW_WEBHOOK_BACKOFF: BACKOFF, FW_WEBHOOK_TIMEOUT: '2s' }),
    );
    sql = testSql(env);
    nc = await connectTestNats(env);
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await subscribe('acme', down, 'secret-acme');
    await subscribe('beta', other, 'secret-beta');
    await subscribe('gamma', broken, 'secret-gamma');
    // A host that never answers 2xx: its deliveries run the whole schedule (checked by the last test).
    broken.respond('/', 503);
    for (let i = 0; i < 3; i++) brokenEvents.push(await publishCompleted('gamma'));
  });

  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await sql?.end();
    await Promise.all([down.close(), other.close(), broken.close()]);
  });

  it('holds a down host’s retries outside the consumer’s slots, so another host’s retry is not held up', async () => {
    down.respond('/', 503);
    const ids: string[] = [];
    for (let i = 0; i < DOWN_HOST_EVENTS; i += 100) {
      ids.push(...(await Promise.all(Array.from({ length: 100 }, () => publishCompleted('acme')))));
    }
    // Every retry reaches its 30 s wait (attempt 2 made or skipped by the open circuit) and is held.
    const nowSec = () => Date.now() / 1000;
    await eventually(
      async () => {
        const held = await heldByDue();
        return sum([...held].filter(([due]) => due > nowSec() + 5).map(([, n]) => n)) >= DOWN_HOST_EVENTS;
      },
      20_000,
      'all retries held for their 30 s wait',
    );
    expect(await slotsInUse()).toBeLessThan(50);

    // A retry of another host goes out on its 1 s schedule, not behind the down host's backlog.
    other.respond('/', 503);
    const otherEvent = await publishCompleted('beta');
    await other.waitFor((r) => r.headers['x-fleetwire-event-id'] === otherEvent, 5_000);
    other.respond('/', 204);
    const retried = await other.waitFor(
      (r) =>
        r.headers['x-fleetwire-event-id'] === otherEvent && r.headers['x-fleetwire-delivery-attempt'] === '2',
      5_000,
    );
    expect(
      verifySignature('secret-beta', retried.headers['x-fleetwire-signature'] as string, retried.raw, 60),
    ).toMatchObject({
      ok: true,
    });
    expect(eventIdsAt(down, '/acme').size).toBeLessThan(DOWN_HOST_EVENTS);
  });

  it('probes the host while it is down, and releases its held retries once it is back, long before they are due', async () => {
    const held = await heldByDue();
    const firstDueMs = Math.min(...held.keys()) * 1000;
    // No new event is sent to the host: only probes (one held retry every 5 s, the circuit's pause) find it back.
    await new Promise((r) => setTimeout(r, 6_000));
    const upAt = Date.now();
    const probesWhileDown = down.to('/acme').filter((r) => r.at >= upAt - 6_000 && r.at < upAt);
    expect(probesWhileDown.length).toBeGreaterThanOrEqual(1);
    expect(probesWhileDown.length).toBeLessThanOrEqual(3);
    down.respond('/', 204);
    const delivered = await eventually(
      () => {
        const seen = eventIdsAt(down, '/acme', upAt);
        return seen.size >= DOWN_HOST_EVENTS && seen;
      },
      firstDueMs - Date.now() - 500,
      'every held retry delivered before the first was due',
    );
    expect(delivered.size).toBe(DOWN_HOST_EVENTS);
    // A failed probe spent no attempt: the retries arrive as attempt 2 or 3 (attempt 2 skipped by the open circuit).
    const retries = down.to('/acme').filter((r) => r.at >= upAt);
    for (const r of retries) expect(['2', '3']).toContain(r.headers['x-fleetwire-delivery-attempt']);
    const retry = retries[0]!;
    expect(
      verifySignature('secret-acme', retry.headers['x-fleetwire-signature'] as string, retry.raw, 60),
    ).toMatchObject({ ok: true });
    // The open circuit kept requests to the down host to its first failures and the probes.
    expect(down.to('/acme').filter((r) => r.at < upAt).length).toBeLessThan(100);
    await eventually(async () => sum((await heldByDue()).values()) === 0, 5_000, 'nothing left held');
  });

  it('still makes the last attempt of a held retry and dead-letters it', async () => {
    const rows = await eventually(
      async () => {
        const dead =
          await sql`select event_id, attempts, last_error from webhook_dead_letters where tenant_id = 'gamma'`;
        return dead.length === brokenEvents.length && dead;
      },
      45_000,
      'the broken host’s deliveries dead-lettered',
    );
    for (const row of rows) expect(row).toMatchObject({ attempts: ATTEMPTS, last_error: 'HTTP 503' });
    for (const eventId of brokenEvents) {
      const last = await broken.waitFor(
        (r) =>
          r.headers['x-fleetwire-event-id'] === eventId &&
          r.headers['x-fleetwire-delivery-attempt'] === String(ATTEMPTS),
        1_000,
      );
      expect(last.path).toBe('/gamma');
    }
  }, 60_000);
});
