import { Writable } from 'node:stream';
import { DeviceLogStore } from '@fleetwire/device-logs';
import { CommandLedger } from '@fleetwire/ledger';
import { COMMAND_STATE, CommandStateChange, decodeBusMessage, jetStreamTopology } from '@fleetwire/protocol';
import { JetStreamPublisher } from '@fleetwire/runtime';
import { connectTestNats, eventually } from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceChannel } from '../src/adapters/device-channel.ts';
import { buildApp } from '../src/app.ts';
import { type ApiHarness, addTenant, SEED_KEY, startApi } from './support.ts';

const OTHER_KEY = 'tenant-c-key-0123456789abcdef0123';

describe('REST API: commands through the ledger, and the seed command API', () => {
  let h: ApiHarness;
  let nc: NatsConnection;

  beforeAll(async () => {
    h = await startApi('apicmd');
    nc = await connectTestNats(h.env);
    await addTenant(h.sql, 'tenant-c', OTHER_KEY);
    for (const id of ['350612345678901', 'ws-1', 'ws-2']) {
      const kind = id.startsWith('ws') ? 'ws' : 'tracker';
      expect((await h.call('POST', '/v1/devices', { body: { id, kind } })).statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await nc?.close();
    await h?.close();
  });

  it('creates a command (201), replays it for the same idempotency key (200), refuses another body (409)', async () => {
    const body = { name: 'reboot', args: { delayS: 5 }, metadata: { job: 'J-1' }, idempotencyKey: 'idem-1' };
    const first = await h.call('POST', '/v1/devices/ws-1/commands', { body });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({
      deviceId: 'ws-1',
      name: 'reboot',
      state: 'queued',
      metadata: { job: 'J-1' },
    });

    const replay = await h.call('POST', '/v1/devices/ws-1/commands', { body });
    expect(replay.statusCode).toBe(200);
    expect(replay.json().id).toBe(first.json().id);

    const conflict = await h.call('POST', '/v1/devices/ws-1/commands', {
      body: { ...body, args: { delayS: 6 } },
    });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.code).toBe('IDEMPOTENCY_CONFLICT');

    const { idempotencyKey: _, ...withoutKey } = body;
    const viaHeader = await h.call('POST', '/v1/devices/ws-1/commands', {
      body: withoutKey,
      headers: { 'idempotency-key': 'idem-1' },
    });
    expect(viaHeader.statusCode).toBe(200);
    expect(viaHeader.json().id).toBe(first.json().id);

    const rows = await h.sql`select count(*)::int as n from commands where idempotency_key = 'idem-1'`;
    expect(rows[0]!.n).toBe(1);
  });

  it("keeps a new command's queued event for the dispatcher, even before the command service ever ran", async () => {
    // The API provisions the dispatcher's consumer of queued events itself (no command service runs
    // here), and publishes no dispatch item: the queued event waiting in that consumer is the only
    // thing that gets the command sent.
    const stream = jetStreamTopology({ root: h.env.subjectRoot }).streams.COMMANDS.name;
    const info = async () => {
      const reply = await nc.request(`$JS.API.CONSUMER.INFO.${stream}.command-queued`);
      return JSON.parse(new TextDecoder().decode(reply.data)) as { num_pending?: number; error?: unknown };
    };
    const before = await info();
    expect(before.error).toBeUndefined();
    const created = await h.call('POST', '/v1/devices/350612345678901/commands', {
      body: { name: 'codec12', args: { text: 'getver' }, command: 'getver' },
    });
    expect(created.statusCode).toBe(201);
    await eventually(async () => (await info()).num_pending === (before.num_pending ?? 0) + 1);
  });

  it('answers 404 for an unknown device or command, 400 for an invalid command body', async () => {
    const unknown = await h.call('POST', '/v1/devices/nobody/commands', { body: { name: 'reboot' } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('UNKNOWN_DEVICE');
    expect((await h.call('GET', '/v1/commands/not-a-command')).statusCode).toBe(404);
    expect((await h.call('POST', '/v1/commands/not-a-command/cancel')).statusCode).toBe(404);
    const bad = await h.call('POST', '/v1/devices/ws-1/commands', {
      body: { name: 'reboot', maxAttempts: 0 },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('body.maxAttempts');
    // Another tenant cannot queue to, nor read, this tenant's devices and commands.
    expect(
      (await h.call('POST', '/v1/devices/ws-1/commands', { key: OTHER_KEY, body: { name: 'reboot' } }))
        .statusCode,
    ).toBe(404);
  });

  it('gets a command with its transitions, and cancels it once (then 409)', async () => {
    const created = (
      await h.call('POST', '/v1/devices/ws-2/commands', { body: { name: 'Power_Off' } })
    ).json();
    const cancelled = await h.call('POST', `/v1/commands/${created.id}/cancel`);
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json().state).toBe('cancelled');
    const again = await h.call('POST', `/v1/commands/${created.id}/cancel`);
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('INVALID_TRANSITION');

    const got = await h.call('GET', `/v1/commands/${created.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.json().transitions.map((t: { state: string }) => t.state)).toEqual(['queued', 'cancelled']);
    expect((await h.call('GET', `/v1/commands/${created.id}`, { key: OTHER_KEY })).statusCode).toBe(404);
  });

  it('lists commands filtered by device and state, paging with a cursor', async () => {
    for (let i = 0; i < 5; i++) {
      await h.call('POST', '/v1/devices/ws-2/commands', { body: { name: 'ping', args: { i } } });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await h.call(
        'GET',
        `/v1/commands?deviceId=ws-2&state=queued&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.statusCode).toBe(200);
      for (const c of res.json().items) {
        expect(c).toMatchObject({ deviceId: 'ws-2', state: 'queued' });
        seen.push(c.id);
      }
      cursor = res.json().nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
    const cancelled = (await h.call('GET', '/v1/commands?deviceId=ws-2&state=cancelled')).json().items;
    expect(cancelled).toHaveLength(1);
    expect((await h.call('GET', '/v1/commands?cursor=nonsense')).json().error.field).toBe(
      'querystring.cursor',
    );
    expect((await h.call('GET', '/v1/commands?state=lost')).json().error.field).toBe('querystring.state');
  });

  it('seed API: POST /api/v1/command queues a Codec 12 command whose metadata comes back untouched', async () => {
    const { subjects } = jetStreamTopology({ root: h.env.subjectRoot });
    const sub = nc.subscribe(subjects.cmdFor('default' as never, COMMAND_STATE.QUEUED), { max: 1 });
    const metadata = {
      job_id: '123',
      action: 'START',
      nested: { list: [1, 'two', null, { deep: true }] },
      n: 1.5,
    };

    const res = await h.call('POST', '/api/v1/command', {
      body: { imei: '350612345678901', command: 'setdigout 1?', metadata },
    });
    expect(res.statusCode).toBe(200);
    const answer = res.json();
    expect(answer).toMatchObject({
      success: true,
      imei: '350612345678901',
      command: 'setdigout 1?',
      state: 'queued',
      metadata,
    });
    expect(typeof answer.commandId).toBe('string');

    const stored = (await h.call('GET', `/v1/commands/${answer.commandId}`)).json();
    expect(stored).toMatchObject({
      name: 'codec12',
      args: { text: 'setdigout 1?' },
      command: 'setdigout 1?',
      metadata,
    });

    for await (const msg of sub) {
      const event = decodeBusMessage(msg.data, CommandStateChange).payload;
      expect(event).toMatchObject({
        commandId: answer.commandId,
        deviceId: '350612345678901',
        state: 'queued',
        metadata,
      });
    }

    // The seed's rule: the same command text again supersedes the older open one.
    const second = (
      await h.call('POST', '/api/v1/command', { body: { imei: '350612345678901', command: 'setdigout 1?' } })
    ).json();
    expect(second.commandId).not.toBe(answer.commandId);
    expect((await h.call('GET', `/v1/commands/${answer.commandId}`)).json().state).toBe('superseded');

    const unknown = await h.call('POST', '/api/v1/command', {
      body: { imei: '999999999999999', command: 'getinfo' },
    });
    expect(unknown.statusCode).toBe(404);

    const stats = (await h.call('GET', '/api/v1/stats')).json();
    expect(stats.commands.superseded).toBeGreaterThanOrEqual(1);
    expect(stats.commands.total).toBe(
      (await h.sql`select count(*)::int as n from commands where tenant_id = 'default'`)[0]!.n,
    );
  });

  it('seed API: POST /api/v1/command queues the named command for a WebSocket device', async () => {
    const res = await h.call('POST', '/api/v1/command', {
      body: { imei: 'ws-2', command: 'send_msg_log', metadata: { ticket: 7 } },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      success: true,
      imei: 'ws-2',
      command: 'send_msg_log',
      state: 'queued',
    });
    const stored = (await h.call('GET', `/v1/commands/${res.json().commandId}`)).json();
    expect(stored).toMatchObject({
      name: 'send_msg_log',
      args: {},
      command: 'send_msg_log',
      metadata: { ticket: 7 },
    });

    const count = async () =>
      (await h.sql`select count(*)::int as n from commands where device_id = 'ws-2'`)[0]!.n as number;
    const before = await count();
    const bad = await h.call('POST', '/api/v1/command', { body: { imei: 'ws-2', command: 'setdigout 1?' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'body.command' });
    expect(await count()).toBe(before);
  });

  it('logs requests about a device or command with deviceId and commandId', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    const log = pino({ level: 'info' }, sink);
    const sql = h.svc.ctx.sql!;
    const publisher = new JetStreamPublisher(nc);
    const { subjects, objectStores } = jetStreamTopology({ root: h.env.subjectRoot });
    const app = await buildApp({
      sql,
      log,
      ledger: new CommandLedger({ sql, publisher, subjects, log }),
      deviceLogs: await DeviceLogStore.open({
        sql,
        js: h.svc.ctx.nats.js,
        bucket: objectStores.deviceLogs.bucket,
      }),
      channel: new DeviceChannel(nc, subjects),
      maxPageSize: 100,
      requeueDeadLetter: async () => {},
      heldRetries: async () => [],
    });
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/devices/ws-1/commands',
        headers: { 'x-api-key': SEED_KEY },
        payload: { name: 'reboot' },
      });
      expect(res.statusCode).toBe(201);
      const commandId = res.json().id;
      expect(lines.find((l) => l.msg === 'command accepted')).toMatchObject({ deviceId: 'ws-1', commandId });
      expect(lines.find((l) => l.msg === 'request completed')).toMatchObject({
        deviceId: 'ws-1',
        tenant: 'default',
        req: { method: 'POST', url: '/v1/devices/ws-1/commands' },
        res: { statusCode: 201 },
      });
      // One line per request: the request's fields are on "request completed".
      expect(lines.filter((l) => l.msg === 'incoming request')).toEqual([]);

      await app.inject({
        method: 'GET',
        url: `/v1/commands/${commandId}`,
        headers: { 'x-api-key': SEED_KEY },
      });
      expect(lines.filter((l) => l.msg === 'request completed').at(-1)).toMatchObject({ commandId });
    } finally {
      await app.close();
      await publisher.close();
    }
  });
});
