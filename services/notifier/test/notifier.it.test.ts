import {
  type CommandStateChange,
  encodeBusMessage,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  type TelemetrySummary,
  type TenantId,
  type WebhookDelivery,
} from '@fleetwire/protocol';
import { type RunningService, type Sql, startService } from '@fleetwire/runtime';
import {
  closedPort,
  connectTestNats,
  createTestEnv,
  eventually,
  type ReceivedRequest,
  type TestEnv,
  testSql,
  WebhookReceiver,
} from '@fleetwire/testkit';
import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLetterId } from '../src/delivery.ts';
import { notifier } from '../src/main.ts';
import { verifySignature } from '../src/signature.ts';
import { commandChange, publishChange as publishStateChange } from './command-changes.ts';

const SECRET = 'seed-secret-0123456789';
const CONFIRM = '/hooks/webhooks/iot/v1/command/confirm';
const BULK_FAILURE = '/hooks/webhooks/iot/v1/command/bulk_failure';
const TELEMETRY = '/hooks/webhooks/iot/v1/telemetry';
/** 5 attempts, 2 s in total: the retry path runs in test time. */
const BACKOFF = '200ms,400ms,600ms,800ms';
const ATTEMPTS = 5;

function expectSigned(req: ReceivedRequest, secret: string): void {
  const header = req.headers['x-fleetwire-signature'] as string;
  expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  expect(verifySignature(secret, header, req.raw, 60)).toMatchObject({ ok: true });
  expect(verifySignature(`${secret}x`, header, req.raw, 60)).toMatchObject({ ok: false });
}

describe('notifier (real NATS, PostgreSQL and HTTP receivers)', () => {
  let env: TestEnv;
  let sql: Sql;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let service: RunningService<typeof notifier.config>;
  const host = new WebhookReceiver();
  const subjects = () => jetStreamTopology({ root: env.subjectRoot }).subjects;

  const change = (over: Partial<CommandStateChange> & Pick<CommandStateChange, 'state'>) =>
    commandChange({
      command: 'setdigout 1?',
      metadata: {
        job_id: '123',
        action: 'START',
        nested: { workflow: { id: 'W-100', steps: [1, 2, { x: null }] } },
      },
      ...over,
    });
  const publishChange = (c: CommandStateChange, msgID?: string) =>
    publishStateChange(js, subjects(), c, msgID);

  const addTenant = (id: string) => sql`insert into tenants (id, name) values (${id}, ${id})`;
  const subscribe = (tenant: string, id: string, url: string, secret: string, events: string[] = []) =>
    sql`insert into webhook_subscriptions (tenant_id, id, url, secret, events)
        values (${tenant}, ${id}, ${url}, ${secret}, ${events})`;

  beforeAll(async () => {
    env = await createTestEnv('notifier');
    await host.listen();
    service = await startService(
      notifier,
      env.serviceEnv({
        NOTIFICATION_URL: host.url('/hooks/'),
        FW_WEBHOOK_SECRET: SECRET,
        TELEMETRY_WEBHOOK_ENABLED: 'true',
        FW_WEBHOOK_BACKOFF: BACKOFF,
        FW_WEBHOOK_TIMEOUT: '2s',
        FW_WEBHOOK_DEAD_LETTER_RETRY: '500ms',
      }),
    );
    sql = testSql(env);
    nc = await connectTestNats(env);
    js = jetstream(nc);
  });

  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await sql?.end();
    await host.close();
  });

  it('posts a completed command to NOTIFICATION_URL/…/confirm with the seed payload, signed', async () => {
    const c = change({ state: 'completed', response: 'DOUT1:1' });
    await publishChange(c);
    const req = await eventually(() => host.to(CONFIRM).find((r) => r.json.commandId === c.commandId));
    expect(req.json).toEqual({
      identified: true,
      imei: c.deviceId,
      command: 'setdigout 1?',
      response: 'DOUT1:1',
      metadata: c.metadata,
      commandId: c.commandId,
    });
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-fleetwire-event-id']).toBe(`${c.commandId}:completed`);
    expect(req.headers['x-fleetwire-event-type']).toBe('command.completed');
    expectSigned(req, SECRET);
  });

  it('makes a first attempt that succeeds without any message on NOTIFY', async () => {
    const jsm = await jetstreamManager(nc);
    const notifyStream = `${env.subjectRoot.toUpperCase()}_NOTIFY`;
    const lastSeq = async () => (await jsm.streams.info(notifyStream)).state.last_seq;
    const before = await lastSeq();
    const changes = [1, 2, 3].map((n) => change({ state: 'completed', response: `direct ${n}` }));
    await Promise.all(changes.map((c) => publishChange(c)));
    for (const c of changes) {
      const req = await eventually(() => host.to(CONFIRM).find((r) => r.json.commandId === c.commandId));
      expect(req.headers['x-fleetwire-delivery-attempt']).toBe('1');
      expectSigned(req, SECRET);
    }
    expect(await lastSeq()).toBe(before);
  });

  it('posts failed and expired commands to …/bulk_failure as entries, and ignores progress states', async () => {
    const failed = change({ state: 'failed', error: 'device offline', attempt: 3 });
    const expired = change({ state: 'expired' });
    const delivered = change({ state: 'delivered' });
    await publishChange(delivered);
    await publishChange(failed);
    await publishChange(expired);
    const entryOf = (id: string) => (r: ReceivedRequest) =>
      (r.json.entries as Array<{ command_log_id: string }>)[0]?.command_log_id === id;
    const req = await eventually(() => host.to(BULK_FAILURE).find(entryOf(failed.commandId)));
    expect(req.json).toEqual({
      entries: [
        {
          command_log_id: failed.commandId,
          imei: failed.deviceId,
          command: 'setdigout 1?',
          metadata: failed.metadata,
          state: 'failed',
          error: 'device offline',
        },
      ],
    });
    expect(req.headers['x-fleetwire-event-type']).toBe('command.failed');
    expectSigned(req, SECRET);
    const exp = await eventually(() => host.to(BULK_FAILURE).find(entryOf(expired.commandId)));
    expect(exp.json.entries).toMatchObject([{ state: 'expired', error: null }]);
    expect(host.requests.some((r) => r.raw.includes(delivered.commandId))).toBe(false);
  });

  it('posts telemetry summaries to …/telemetry when TELEMETRY_WEBHOOK_ENABLED', async () => {
    const summary: TelemetrySummary = {
      tenant: 'default' as TenantId,
      deviceId: '356307042441013' as TelemetrySummary['deviceId'],
      recordCount: 5,
      latestTimestamp: Date.UTC(2023, 9, 1, 12),
      latestGps: { latitude: 40.7128, longitude: -74.006, speed: 45 },
      latestAttributes: { internal_battery_percent: 85 },
    };
    await js.publish(
      subjects().notify(summary.tenant, 'telemetry'),
      encodeBusMessage(PROTO.TELEMETRY, MSG_TYPE.TELEMETRY.SUMMARY, summary),
    );
    const req = await eventually(() => host.to(TELEMETRY).find((r) => r.json.imei === summary.deviceId));
    expect(req.json).toEqual({
      imei: summary.deviceId,
      recordCount: 5,
      latestTimestamp: '2023-10-01T12:00:00.000Z',
      latestGps: { latitude: 40.7128, longitude: -74.006, speed: 45 },
      latestAttributes: { internal_battery_percent: 85 },
    });
    expect(req.headers['x-fleetwire-event-type']).toBe('telemetry');
    expectSigned(req, SECRET);
  });

  it('sends subscriptions the fleetwire envelope, respects their event filter, signs with their secret', async () => {
    await addTenant('acme');
    await subscribe('acme', 'all-events', host.url('/acme/all'), 'secret-all');
    await subscribe('acme', 'failures', host.url('/acme/failures'), 'secret-failures', ['command.failed']);
    await subscribe('acme', 'disabled', host.url('/acme/disabled'), 'secret-x');
    await sql`update webhook_subscriptions set enabled = false where id = 'disabled'`;
    const completed = change({ tenant: 'acme' as TenantId, state: 'completed', response: 'ok' });
    const failed = change({ tenant: 'acme' as TenantId, state: 'failed', error: 'nope' });
    await publishChange(completed);
    await publishChange(failed);

    const all = await eventually(() =>
      host.to('/acme/all').length === 2 ? host.to('/acme/all') : undefined,
    );
    const ofCompleted = all.find((r) => r.json.type === 'command.completed')!;
    expect(ofCompleted.json).toEqual({
      id: `${completed.commandId}:completed`,
      type: 'command.completed',
      tenant: 'acme',
      createdAt: new Date(completed.at).toISOString(),
      data: {
        identified: true,
        imei: completed.deviceId,
        command: 'setdigout 1?',
        response: 'ok',
        metadata: completed.metadata,
        commandId: completed.commandId,
      },
    });
    expect(ofCompleted.headers['x-fleetwire-event-id']).toBe(`${completed.commandId}:completed`);
    expectSigned(ofCompleted, 'secret-all');

    const onlyFailed = await eventually(() => host.to('/acme/failures')[0]);
    expect(onlyFailed.json).toMatchObject({ type: 'command.failed', data: { entries: [{ error: 'nope' }] } });
    expectSigned(onlyFailed, 'secret-failures');
    // NOTIFICATION_URL is deployment-wide: it hears every tenant's outcomes, as in the seed gateway.
    await eventually(() => host.to(CONFIRM).find((r) => r.json.commandId === completed.commandId));
    await new Promise((r) => setTimeout(r, 300));
    expect(host.to('/acme/failures')).toHaveLength(1);
    expect(host.to('/acme/disabled')).toHaveLength(0);
  });

  it('retries a host that is down and delivers once it is up, with a valid fresh signature', async () => {
    await addTenant('flaky');
    const port = await closedPort();
    await subscribe('flaky', 'late', `http://127.0.0.1:${port}/late`, 'secret-late');
    const c = change({ tenant: 'flaky' as TenantId, state: 'completed' });
    await publishChange(c);
    await new Promise((r) => setTimeout(r, 250)); // the first attempts hit the closed port
    const late = await new WebhookReceiver().listen(port);
    try {
      const req = await eventually(() => late.to('/late')[0]);
      expect(req.json).toMatchObject({ id: `${c.commandId}:completed` });
      expect(Number(req.headers['x-fleetwire-delivery-attempt'])).toBeGreaterThan(1);
      expectSigned(req, 'secret-late');
    } finally {
      await late.close();
    }
  });

  it('dead-letters after the last attempt, stops trying, and a replay delivers once the host is back', async () => {
    await addTenant('broken');
    await subscribe('broken', 'down', host.url('/broken/down'), 'secret-down');
    host.respond('/broken/', 503);
    const c = change({ tenant: 'broken' as TenantId, state: 'failed', error: 'timeout' });
    await publishChange(c);
    const dead = await eventually(
      async () => (await sql`select * from webhook_dead_letters where tenant_id = 'broken'`)[0],
    );
    const attempts = host.to('/broken/down');
    expect(attempts).toHaveLength(ATTEMPTS);
    // The first attempt is made directly, the rest through NOTIFY: numbered on, and spaced by the backoff.
    expect(attempts.map((r) => r.headers['x-fleetwire-delivery-attempt'])).toEqual(['1', '2', '3', '4', '5']);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(150);
    expect(dead).toMatchObject({
      id: deadLetterId(`${c.commandId}:failed`, host.url('/broken/down')),
      event_id: `${c.commandId}:failed`,
      event_type: 'command.failed',
      target_url: host.url('/broken/down'),
      subscription_id: 'down',
      path: '/broken/down',
      attempts: ATTEMPTS,
      last_error: 'HTTP 503',
      replayed_at: null,
    });
    expect(dead.payload).toMatchObject({
      id: `${c.commandId}:failed`,
      data: { entries: [{ error: 'timeout' }] },
    });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(host.to('/broken/down')).toHaveLength(ATTEMPTS);

    // What the API does: publish the dead letter's delivery again (its own msgId) and mark it replayed.
    host.respond('/broken/', 200);
    const replay: WebhookDelivery = {
      tenant: dead.tenant_id,
      eventId: dead.event_id,
      eventType: dead.event_type,
      url: dead.target_url,
      subscriptionId: dead.subscription_id,
      payload: dead.payload,
      createdAt: Date.now(),
    };
    await js.publish(
      subjects().notify(replay.tenant, 'delivery'),
      encodeBusMessage(PROTO.EVENT, MSG_TYPE.EVENT.WEBHOOK, replay),
      { msgID: `replay:${dead.id}:1` },
    );
    await sql`update webhook_dead_letters set replayed_at = now() where id = ${dead.id}`;
    const delivered = await eventually(() => host.to('/broken/down')[ATTEMPTS]);
    expect(delivered.json).toEqual(dead.payload);
    expectSigned(delivered, 'secret-down');
    await new Promise((r) => setTimeout(r, 500));
    expect(host.to('/broken/down')).toHaveLength(ATTEMPTS + 1);
    const [row] = await sql`select replayed_at from webhook_dead_letters where id = ${dead.id}`;
    expect(row!.replayed_at).not.toBeNull();
  });

  it('keeps a delivery queued while PostgreSQL refuses its dead letter, and writes it later without posting again', async () => {
    await addTenant('nodb');
    await subscribe('nodb', 'gone', host.url('/nodb/gone'), 'secret-gone');
    host.respond('/nodb/', 503);
    // Without its table every dead-letter write fails, as it does while PostgreSQL is down.
    await sql`alter table webhook_dead_letters rename to webhook_dead_letters_away`;
    const c = change({ tenant: 'nodb' as TenantId, state: 'failed', error: 'timeout' });
    try {
      await publishChange(c);
      await eventually(() => host.to('/nodb/gone').length === ATTEMPTS || undefined);
      // Longer than a capped redelivery would last: the delivery must still be held after it.
      await new Promise((r) => setTimeout(r, 4_000));
    } finally {
      await sql`alter table webhook_dead_letters_away rename to webhook_dead_letters`;
    }
    const dead = await eventually(
      async () => (await sql`select * from webhook_dead_letters where tenant_id = 'nodb'`)[0],
    );
    expect(dead).toMatchObject({
      id: deadLetterId(`${c.commandId}:failed`, host.url('/nodb/gone')),
      attempts: ATTEMPTS,
      last_error: 'HTTP 503',
    });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(host.to('/nodb/gone')).toHaveLength(ATTEMPTS);
    expect(await sql`select 1 from webhook_dead_letters where tenant_id = 'nodb'`).toHaveLength(1);
  });

  it('delivers a duplicated source event once per target within the duplicate window', async () => {
    const c = change({ state: 'completed', response: 'dup' });
    await publishChange(c, 'first-publish');
    await publishChange(c, 'second-publish');
    await eventually(() => host.to(CONFIRM).find((r) => r.json.commandId === c.commandId));
    await new Promise((r) => setTimeout(r, 600));
    expect(host.to(CONFIRM).filter((r) => r.json.commandId === c.commandId)).toHaveLength(1);
  });

  it('keeps delivering to a healthy host while another one hangs', async () => {
    await addTenant('mixed');
    host.respond('/mixed/dead', 'hang');
    await subscribe('mixed', 'a-dead', host.url('/mixed/dead'), 'secret-dead');
    await subscribe('mixed', 'b-healthy', host.url('/mixed/healthy'), 'secret-healthy');
    const events = Array.from({ length: 6 }, () =>
      change({ tenant: 'mixed' as TenantId, state: 'completed' }),
    );
    const started = Date.now();
    await Promise.all(events.map((e) => publishChange(e)));
    await eventually(() => host.to('/mixed/healthy').length === events.length || undefined);
    // Every hanging request takes the 2 s timeout; the healthy host must not wait behind them.
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(host.to('/mixed/dead').length).toBeGreaterThan(0);
  });

  it('provisions the delivery consumer without a delivery cap (the handler counts attempts) and ack_wait above the timeout', async () => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.info(`${env.subjectRoot.toUpperCase()}_NOTIFY`, 'notifier-deliveries');
    expect(info.config.max_deliver).toBe(-1);
    expect(info.config.ack_wait).toBeGreaterThan(2_000 * 1_000_000);
    expect(info.config.filter_subject).toBe(subjects().notifyAll('delivery'));
  });
});
