import { CommandStateChange, decodeBusMessage, jetStreamTopology } from '@fleetwire/protocol';
import type { Sql } from '@fleetwire/runtime';
import { encodeCodec12 } from '@fleetwire/teltonika';
import {
  connectTestNats,
  createTestEnv,
  eventually,
  type ReceivedRequest,
  type TestEnv,
  TrackerClient,
  testSql,
  WebhookReceiver,
} from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../services/notifier/src/signature.ts';
import { type ApiClient, apiClient, type Stack, startStack } from './stack.ts';

const SEED_KEY = 'e2e-seed-key-0123456789abcdef0123';
const WEBHOOK_SECRET = 'e2e-notification-secret-0123456789';
const CONFIRM = '/webhooks/iot/v1/command/confirm';
const BULK_FAILURE = '/webhooks/iot/v1/command/bulk_failure';
/** 5 attempts within ~2.6 s: retries and dead letters happen in test time. */
const BACKOFF = '200ms,400ms,800ms,1200ms';
const ATTEMPTS = 5;

/** One tracker (IMEI) per scenario, so scenarios never answer each other's commands. */
const IMEI = {
  seed: '356307042441001',
  fleetwire: '356307042441002',
  late: '356307042441003',
  deadLetter: '356307042441004',
  offline: '356307042441005',
  neverOnline: '356307042441006',
  idempotent: '356307042441007',
  supersedeOffline: '356307042441008',
  supersedeInFlight: '356307042441009',
} as const;

/** Metadata as a host sends it: nested objects, arrays, nulls, numbers; must come back untouched. */
function metadataFor(scenario: string) {
  return {
    job_id: `job-${scenario}`,
    action: 'START',
    workflow: { id: 'W-100', steps: [1, 'two', null, { deep: true }], ratio: 0.25 },
  };
}

function expectSigned(req: ReceivedRequest, secret: string): void {
  const header = req.headers['x-fleetwire-signature'] as string;
  expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  expect(verifySignature(secret, header, req.raw, 60)).toMatchObject({ ok: true });
  expect(verifySignature(`${secret}-wrong`, header, req.raw, 60)).toMatchObject({ ok: false });
}

const confirmOf = (commandId: string) => (r: ReceivedRequest) =>
  r.path === CONFIRM && r.json.commandId === commandId;
const bulkFailureOf = (commandId: string) => (r: ReceivedRequest) =>
  r.path === BULK_FAILURE &&
  (r.json.entries as Array<{ command_log_id: string }>).some((e) => e.command_log_id === commandId);

describe('commands and webhooks end to end: tracker on TCP, REST API, dispatcher, notifier, HTTP receivers', () => {
  let env: TestEnv;
  let stack: Stack;
  let sql: Sql;
  let nc: NatsConnection;
  let call: ApiClient;
  /** NOTIFICATION_URL: the seed gateway's host application. */
  const seedHost = new WebhookReceiver();
  /** Hosts of subscriptions registered through the API. */
  const subscriberHost = new WebhookReceiver();
  const failingHost = new WebhookReceiver();
  const trackers: TrackerClient[] = [];
  const stateEvents: CommandStateChange[] = [];

  async function connectTracker(imei: string, autoReply?: (text: string) => string | undefined) {
    const tracker = await TrackerClient.connect({ port: stack.trackerPort, imei });
    tracker.autoReply = autoReply;
    trackers.push(tracker);
    expect(await tracker.login()).toBe(true);
    return tracker;
  }

  const getCommand = async (id: string) => {
    const res = await call('GET', `/v1/commands/${id}`);
    expect(res.status).toBe(200);
    return res.body;
  };
  const untilState = (id: string, state: string, timeoutMs = 15_000) =>
    eventually(
      async () => {
        const c = await getCommand(id);
        return c.state === state ? c : undefined;
      },
      timeoutMs,
      `command ${id} ${state}`,
    );
  const seedCommand = async (imei: string, command: string, metadata: object) => {
    const res = await call('POST', '/api/v1/command', { body: { imei, command, metadata } });
    expect(res.status).toBe(200);
    return res.body as { commandId: string; state: string };
  };
  /** A counter of the notifier's (or the dispatcher's) /metrics, summed over the given labels. */
  async function counter(
    service: Stack['notifier'] | Stack['dispatchers'][number],
    name: string,
    labels: Record<string, string>,
  ): Promise<number> {
    const metric = service.ctx.metrics.getSingleMetric(name);
    if (!metric) return 0;
    const { values } = await metric.get();
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((sum, v) => sum + v.value, 0);
  }

  beforeAll(async () => {
    env = await createTestEnv('e2e_commands');
    await seedHost.listen();
    await subscriberHost.listen();
    await failingHost.listen();
    stack = await startStack(env, {
      notifier: {
        NOTIFICATION_URL: seedHost.url(),
        FW_WEBHOOK_SECRET: WEBHOOK_SECRET,
        FW_WEBHOOK_BACKOFF: BACKOFF,
      },
      api: { IOT_API_KEY: SEED_KEY },
    });
    call = apiClient(stack.apiUrl, SEED_KEY);
    sql = testSql(env);
    nc = await connectTestNats(env);
    const sub = nc.subscribe(jetStreamTopology({ root: env.subjectRoot }).subjects.cmdAll());
    void (async () => {
      for await (const m of sub) stateEvents.push(decodeBusMessage(m.data, CommandStateChange).payload);
    })();
    await nc.flush();
    for (const id of Object.values(IMEI)) {
      expect((await call('POST', '/v1/devices', { body: { id, kind: 'tracker' } })).status).toBe(201);
    }
  });

  afterAll(async () => {
    for (const t of trackers) await t.close().catch(() => {});
    await stack?.stop();
    await nc?.close();
    await sql?.end();
    for (const host of [seedHost, subscriberHost, failingHost]) await host.close();
  });

  it('seed API: the command reaches the tracker as Codec 12, its answer completes it, the confirm webhook carries the original metadata, signed', async () => {
    const tracker = await connectTracker(IMEI.seed);
    const metadata = metadataFor('seed');
    const res = await call('POST', '/api/v1/command', {
      body: { imei: IMEI.seed, command: 'setdigout 1?', metadata },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      success: true,
      message: 'Command sent',
      imei: IMEI.seed,
      command: 'setdigout 1?',
      state: 'queued',
      metadata,
    });
    const { commandId } = res.body;

    const received = await tracker.nextCommand(10_000);
    expect(received).toMatchObject({ kind: 'codec12', type: 'command', text: 'setdigout 1?' });
    tracker.write(encodeCodec12('DOUT1:1 DOUT2:0', { type: 'response' }));

    const hook = await seedHost.waitFor(confirmOf(commandId));
    expect(hook.json).toEqual({
      identified: true,
      imei: IMEI.seed,
      command: 'setdigout 1?',
      response: 'DOUT1:1 DOUT2:0',
      metadata,
      commandId,
    });
    expect(hook.headers['x-fleetwire-event-id']).toBe(`${commandId}:completed`);
    expect(hook.headers['x-fleetwire-event-type']).toBe('command.completed');
    expect(hook.headers['content-type']).toBe('application/json');
    expectSigned(hook, WEBHOOK_SECRET);
    expect(await getCommand(commandId)).toMatchObject({ state: 'completed', response: 'DOUT1:1 DOUT2:0' });
  });

  it('fleetwire API: a subscription with an event filter gets the signed envelope; the command shows queued → sent → completed', async () => {
    const subscription = await call('POST', '/v1/webhooks', {
      body: { url: subscriberHost.url('/fleetwire/completed'), events: ['command.completed'] },
    });
    expect(subscription.status).toBe(201);
    const { secret } = subscription.body;
    expect(typeof secret).toBe('string');

    const version = 'Ver:03.27.07_04 GPS:AXN_5.10 Hw:FMB920 Mod:12';
    const tracker = await connectTracker(IMEI.fleetwire, (text) => (text === 'getver' ? version : undefined));
    const metadata = metadataFor('fleetwire');
    const created = await call('POST', `/v1/devices/${IMEI.fleetwire}/commands`, {
      body: { name: 'codec12', args: { text: 'getver' }, command: 'getver', metadata },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ deviceId: IMEI.fleetwire, state: 'queued', metadata });
    const id: string = created.body.id;

    const hook = await subscriberHost.waitFor((r) => r.json.id === `${id}:completed`);
    expect(hook.path).toBe('/fleetwire/completed');
    expect(hook.json).toEqual({
      id: `${id}:completed`,
      type: 'command.completed',
      tenant: 'default',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      data: {
        identified: true,
        imei: IMEI.fleetwire,
        command: 'getver',
        response: version,
        metadata,
        commandId: id,
      },
    });
    expect(hook.headers['x-fleetwire-event-id']).toBe(`${id}:completed`);
    expectSigned(hook, secret);
    expect(
      verifySignature(WEBHOOK_SECRET, hook.headers['x-fleetwire-signature'] as string, hook.raw, 60).ok,
    ).toBe(false);
    // NOTIFICATION_URL hears it as well, signed with its own secret.
    expectSigned(await seedHost.waitFor(confirmOf(id)), WEBHOOK_SECRET);

    const command = await getCommand(id);
    expect(command).toMatchObject({ state: 'completed', response: version, attempts: 1, metadata });
    const transitions = command.transitions as Array<{ state: string; at: string; seq: number }>;
    expect(transitions.map((t) => t.state)).toEqual(['queued', 'sent', 'completed']);
    const times = transitions.map((t) => Date.parse(t.at));
    expect(times[1]).toBeGreaterThan(times[0]!);
    expect(times[2]).toBeGreaterThan(times[1]!);
    expect(tracker.commands.map((c) => c.text)).toEqual(['getver']);
  });

  it('receiver down, then up: the confirm webhook arrives later, on a retry, with a valid signature', async () => {
    await seedHost.down();
    const retriesBefore = await counter(stack.notifier, 'fleetwire_webhook_deliveries_total', {
      outcome: 'retry',
      target: 'notification_url',
    });
    await connectTracker(IMEI.late, () => 'DOUT1:0');
    const metadata = metadataFor('late');
    const { commandId } = await seedCommand(IMEI.late, 'setdigout 0?', metadata);
    await untilState(commandId, 'completed');
    // The first attempt hit the closed port and was scheduled again.
    await eventually(
      async () =>
        (await counter(stack.notifier, 'fleetwire_webhook_deliveries_total', {
          outcome: 'retry',
          target: 'notification_url',
        })) > retriesBefore,
      10_000,
      'a failed delivery attempt',
    );
    expect(seedHost.requests.some(confirmOf(commandId))).toBe(false);

    await seedHost.up();
    const hook = await seedHost.waitFor(confirmOf(commandId));
    expect(Number(hook.headers['x-fleetwire-delivery-attempt'])).toBeGreaterThan(1);
    expect(hook.json).toMatchObject({ commandId, response: 'DOUT1:0', metadata });
    expectSigned(hook, WEBHOOK_SECRET);
  });

  it('receiver always failing: the delivery is dead-lettered, and a replay through the API delivers it once the receiver is back', async () => {
    failingHost.respond('/', 503);
    const secret = 'failing-subscription-secret-0123';
    const subscription = await call('POST', '/v1/webhooks', {
      body: { url: failingHost.url('/always-failing'), secret, events: ['command.completed'] },
    });
    expect(subscription.status).toBe(201);
    await connectTracker(IMEI.deadLetter, () => 'DOUT1:1');
    const metadata = metadataFor('dead-letter');
    const { commandId } = await seedCommand(IMEI.deadLetter, 'setdigout 1?', metadata);
    const eventId = `${commandId}:completed`;

    const dead = await eventually(
      async () => {
        const res = await call('GET', '/v1/webhooks/dead-letters?replayed=false');
        expect(res.status).toBe(200);
        return (res.body.items as Array<{ id: string; eventId: string; deadAt: string }>).find(
          (d) => d.eventId === eventId,
        );
      },
      20_000,
      'the dead letter',
    );
    expect(dead).toMatchObject({
      eventType: 'command.completed',
      targetUrl: failingHost.url('/always-failing'),
      subscriptionId: subscription.body.id,
      path: '/always-failing',
      attempts: ATTEMPTS,
      lastError: 'HTTP 503',
      replayedAt: null,
    });
    const attemptsOf = () => failingHost.to('/always-failing').filter((r) => r.json.id === eventId);
    expect(attemptsOf()).toHaveLength(ATTEMPTS);
    expect(attemptsOf().map((r) => r.headers['x-fleetwire-delivery-attempt'])).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
    ]);

    // Replayed while the receiver still fails: it runs the whole schedule again and the dead letter reopens.
    const tooEarly = await call('POST', `/v1/webhooks/dead-letters/${dead.id}/replay`);
    expect(tooEarly.status).toBe(200);
    expect(tooEarly.body.replayedAt).not.toBeNull();
    const reopened = await eventually(
      async () => {
        const res = await call('GET', '/v1/webhooks/dead-letters?replayed=false');
        return (res.body.items as Array<{ id: string; deadAt: string }>).find(
          (d) => d.id === dead.id && d.deadAt > dead.deadAt,
        );
      },
      20_000,
      'the dead letter to reopen',
    );
    expect(reopened).toMatchObject({ attempts: ATTEMPTS, lastError: 'HTTP 503', replayedAt: null });
    // A host that keeps failing is paused by the circuit breaker: some retries go out without a request.
    const afterTwoRounds = attemptsOf().length;
    expect(afterTwoRounds).toBeGreaterThan(ATTEMPTS);

    failingHost.respond('/', 204);
    const replayed = await call('POST', `/v1/webhooks/dead-letters/${dead.id}/replay`);
    expect(replayed.status).toBe(200);
    expect(replayed.body.replayedAt).not.toBeNull();
    const delivered = await eventually(() => attemptsOf()[afterTwoRounds], 15_000, 'the replayed delivery');
    expect(delivered.json).toMatchObject({
      id: eventId,
      type: 'command.completed',
      data: { commandId, metadata, response: 'DOUT1:1' },
    });
    expectSigned(delivered, secret);

    const again = await call('POST', `/v1/webhooks/dead-letters/${dead.id}/replay`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ALREADY_REPLAYED');
    const listed = await call('GET', '/v1/webhooks/dead-letters?replayed=true');
    expect(listed.body.items.map((d: { eventId: string }) => d.eventId)).toContain(eventId);
    expect((await call('DELETE', `/v1/webhooks/${subscription.body.id}`)).status).toBe(204);
  });

  it('offline tracker: the command waits queued, and is delivered and completed after the tracker logs in', async () => {
    const offlineBefore = await counter(stack.dispatchers[0]!, 'fleetwire_command_dispatches_total', {
      outcome: 'offline',
    });
    const metadata = metadataFor('offline');
    const created = await call('POST', `/v1/devices/${IMEI.offline}/commands`, {
      body: { name: 'codec12', args: { text: 'getinfo' }, command: 'getinfo', metadata },
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    // The dispatcher tried, found nobody holding the device, and left the command queued.
    await eventually(
      async () =>
        (await counter(stack.dispatchers[0]!, 'fleetwire_command_dispatches_total', { outcome: 'offline' })) >
        offlineBefore,
      10_000,
      'an offline dispatch attempt',
    );
    expect(await getCommand(id)).toMatchObject({ state: 'queued', attempts: 0, sentAt: null });

    const answer = 'RTC:2024/5/1 10:00 Init:2024/5/1 9:00 UpTime:3600s PWR:PwrVoltage RST:0 GPS:1 SAT:7';
    const tracker = await connectTracker(IMEI.offline, () => answer);
    const done = await untilState(id, 'completed');
    expect(done.transitions.map((t: { state: string }) => t.state)).toEqual(['queued', 'sent', 'completed']);
    expect(tracker.commands.map((c) => c.text)).toEqual(['getinfo']);
    const hook = await seedHost.waitFor(confirmOf(id));
    expect(hook.json).toMatchObject({ commandId: id, response: answer, metadata });
  });

  it('TTL: a command to a tracker that never connects expires, and the bulk_failure webhook carries it with its metadata', async () => {
    const metadata = metadataFor('ttl');
    const created = await call('POST', `/v1/devices/${IMEI.neverOnline}/commands`, {
      body: { name: 'codec12', args: { text: 'getgps' }, command: 'getgps', metadata, ttlMs: 300 },
    });
    expect(created.status).toBe(201);
    const id: string = created.body.id;
    const expired = await untilState(id, 'expired', 10_000);
    expect(expired.transitions.map((t: { state: string }) => t.state)).toEqual(['queued', 'expired']);

    const hook = await seedHost.waitFor(bulkFailureOf(id));
    expect(hook.json).toEqual({
      entries: [
        {
          command_log_id: id,
          imei: IMEI.neverOnline,
          command: 'getgps',
          metadata,
          state: 'expired',
          error: expect.stringContaining('expired'),
        },
      ],
    });
    expect(hook.headers['x-fleetwire-event-type']).toBe('command.expired');
    expect(hook.headers['x-fleetwire-event-id']).toBe(`${id}:expired`);
    expectSigned(hook, WEBHOOK_SECRET);
    // The subscription filters on command.completed: an expiry is not for it.
    expect(subscriberHost.requests.some((r) => r.raw.includes(id))).toBe(false);
  });

  it('idempotency through the API: same key and body → same command (200), another body → 409', async () => {
    const body = { name: 'codec12', args: { text: 'getver' }, command: 'getver', metadata: { order: 1 } };
    const headers = { 'idempotency-key': 'e2e-idem-1' };
    const first = await call('POST', `/v1/devices/${IMEI.idempotent}/commands`, { body, headers });
    expect(first.status).toBe(201);
    const replay = await call('POST', `/v1/devices/${IMEI.idempotent}/commands`, { body, headers });
    expect(replay.status).toBe(200);
    expect(replay.body.id).toBe(first.body.id);
    const conflict = await call('POST', `/v1/devices/${IMEI.idempotent}/commands`, {
      body: { ...body, metadata: { order: 2 } },
      headers,
    });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_CONFLICT');
    const rows = await sql`select count(*)::int as n from commands where idempotency_key = 'e2e-idem-1'`;
    expect(rows[0]!.n).toBe(1);
  });

  /** The older command never completes, never notifies NOTIFICATION_URL; the newer one does, with its metadata. */
  async function expectOnlyNewerCompleted(older: string, newer: string) {
    const olderView = await getCommand(older);
    expect(olderView).toMatchObject({ state: 'superseded', error: expect.stringContaining(newer) });
    const olderStates = olderView.transitions.map((t: { state: string }) => t.state);
    expect(olderStates[0]).toBe('queued');
    expect(olderStates.at(-1)).toBe('superseded');
    expect(olderStates).not.toContain('completed');
    const hook = await seedHost.waitFor(confirmOf(newer));
    expect(hook.json.metadata).toEqual(metadataFor('newer'));
    const completedIds = () =>
      stateEvents.filter((e) => e.state === 'completed').map((e): string => e.commandId);
    await eventually(() => completedIds().includes(newer), 5_000, 'the completed event');
    expect(completedIds()).not.toContain(older);
    expect(seedHost.requests.some(confirmOf(older))).toBe(false);
  }

  it('supersede on the seed API, tracker offline: the older identical command is superseded and never sent; the newest completes', async () => {
    const older = await seedCommand(IMEI.supersedeOffline, 'setdigout 1?', metadataFor('older'));
    const newer = await seedCommand(IMEI.supersedeOffline, 'setdigout 1?', metadataFor('newer'));
    expect((await getCommand(older.commandId)).state).toBe('superseded');
    const tracker = await connectTracker(IMEI.supersedeOffline, () => 'DOUT1:1');
    expect(await untilState(newer.commandId, 'completed')).toMatchObject({ response: 'DOUT1:1' });
    expect(tracker.commands.map((c) => c.text)).toEqual(['setdigout 1?']);
    await expectOnlyNewerCompleted(older.commandId, newer.commandId);
  });

  it('supersede on the seed API, older already at the tracker: the tracker gets it once or twice, only the newest completes', async () => {
    const tracker = await connectTracker(IMEI.supersedeInFlight);
    const older = await seedCommand(IMEI.supersedeInFlight, 'setdigout 1?', metadataFor('older'));
    expect((await tracker.nextCommand(10_000)).text).toBe('setdigout 1?');
    const newer = await seedCommand(IMEI.supersedeInFlight, 'setdigout 1?', metadataFor('newer'));
    expect((await getCommand(older.commandId)).state).toBe('superseded');

    // The tracker answers the copy it holds (the older command's), then every further copy.
    tracker.autoReply = () => 'DOUT1:1';
    tracker.write(encodeCodec12('DOUT1:1', { type: 'response' }));
    expect(await untilState(newer.commandId, 'completed')).toMatchObject({ response: 'DOUT1:1' });
    const copies = 1 + tracker.commands.length;
    expect(copies).toBeLessThanOrEqual(2);
    expect(tracker.commands.every((c) => c.text === 'setdigout 1?')).toBe(true);
    await expectOnlyNewerCompleted(older.commandId, newer.commandId);
  });

  it('refuses invalid bodies and unknown devices with 4xx naming the field, and requests without a valid key change nothing', async () => {
    const count = async () =>
      (
        await sql`select (select count(*)::int from commands) as commands,
                        (select count(*)::int from command_transitions) as transitions,
                        (select count(*)::int from webhook_subscriptions) as webhooks`
      )[0];
    const before = await count();

    for (const key of [null, '', 'not-a-valid-key']) {
      const seed = await call('POST', '/api/v1/command', {
        key,
        body: { imei: IMEI.seed, command: 'getver', metadata: {} },
      });
      expect(seed.status).toBe(401);
      expect(seed.body.error.code).toBe('UNAUTHORIZED');
      const v1 = await call('POST', `/v1/devices/${IMEI.seed}/commands`, { key, body: { name: 'codec12' } });
      expect(v1.status).toBe(401);
      const hook = await call('POST', '/v1/webhooks', { key, body: { url: 'http://127.0.0.1:1/x' } });
      expect(hook.status).toBe(401);
    }

    const invalid: Array<[string, string, unknown, string]> = [
      ['POST', '/api/v1/command', { command: 'getinfo' }, 'body.imei'],
      ['POST', '/api/v1/command', { imei: IMEI.seed, command: '' }, 'body.command'],
      ['POST', '/api/v1/command', { imei: IMEI.seed, command: 42 }, 'body.command'],
      ['POST', '/api/v1/command', { imei: IMEI.seed, command: 'getver', metadata: 'job-1' }, 'body.metadata'],
      ['POST', `/v1/devices/${IMEI.seed}/commands`, { name: 'not a name' }, 'body.name'],
      ['POST', `/v1/devices/${IMEI.seed}/commands`, { name: 'codec12', ttlMs: 5 }, 'body.ttlMs'],
      ['POST', `/v1/devices/${IMEI.seed}/commands`, { name: 'codec12', colour: 'red' }, 'body.colour'],
      ['POST', '/v1/webhooks', { url: 'ftp://example.com/hook' }, 'body.url'],
      [
        'POST',
        '/v1/webhooks',
        { url: 'http://example.com/hook', events: ['command.exploded'] },
        'body.events.0',
      ],
    ];
    for (const [method, path, body, field] of invalid) {
      const res = await call(method as 'POST', path, { body });
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'VALIDATION_ERROR', field });
    }

    const unknownSeed = await call('POST', '/api/v1/command', {
      body: { imei: '356307049999999', command: 'getver' },
    });
    expect(unknownSeed.status).toBe(404);
    expect(unknownSeed.body.error.code).toBe('UNKNOWN_DEVICE');
    const unknownV1 = await call('POST', '/v1/devices/356307049999999/commands', {
      body: { name: 'codec12' },
    });
    expect(unknownV1.status).toBe(404);
    expect(unknownV1.body.error.code).toBe('UNKNOWN_DEVICE');

    expect(await count()).toEqual(before);
  });
});
