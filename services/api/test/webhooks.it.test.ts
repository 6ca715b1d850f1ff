import {
  decodeBusMessage,
  encodeBusMessage,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  parseTenantId,
  WebhookDelivery,
} from '@fleetwire/protocol';
import { connectTestNats } from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, addTenant, startApi } from './support.ts';

const OTHER_KEY = 'tenant-d-key-0123456789abcdef0123';

describe('REST API: webhook subscriptions and dead letters', () => {
  let h: ApiHarness;
  let nc: NatsConnection;

  beforeAll(async () => {
    h = await startApi('apiwh');
    nc = await connectTestNats(h.env);
    await addTenant(h.sql, 'tenant-d', OTHER_KEY);
  });
  afterAll(async () => {
    await nc?.close();
    await h?.close();
  });

  it('subscribes with a generated secret shown once, lists, gets and deletes per tenant', async () => {
    const created = await h.call('POST', '/v1/webhooks', {
      body: { url: 'https://host.example/hooks', events: ['command.completed', 'telemetry'] },
    });
    expect(created.statusCode).toBe(201);
    const { id, secret } = created.json();
    expect(secret.length).toBeGreaterThanOrEqual(32);
    const [row] = await h.sql`select secret, events from webhook_subscriptions where id = ${id}`;
    expect(row).toEqual({ secret, events: ['command.completed', 'telemetry'] });

    const given = await h.call('POST', '/v1/webhooks', {
      body: { url: 'http://127.0.0.1:9/x', secret: 'my-own-secret-0123456789' },
    });
    expect(given.json()).toMatchObject({ secret: 'my-own-secret-0123456789', events: [] });

    const list = (await h.call('GET', '/v1/webhooks')).json().items;
    expect(list.map((w: { id: string }) => w.id)).toEqual([id, given.json().id]);
    expect(list[0]).not.toHaveProperty('secret');
    expect((await h.call('GET', '/v1/webhooks', { key: OTHER_KEY })).json().items).toEqual([]);
    expect((await h.call('GET', `/v1/webhooks/${id}`)).json()).toMatchObject({
      id,
      url: 'https://host.example/hooks',
    });
    expect((await h.call('DELETE', `/v1/webhooks/${id}`, { key: OTHER_KEY })).statusCode).toBe(404);
    expect((await h.call('DELETE', `/v1/webhooks/${id}`)).statusCode).toBe(204);
    expect((await h.call('GET', `/v1/webhooks/${id}`)).statusCode).toBe(404);
  });

  it.each([
    [{ url: 'not a url' }, 'body.url'],
    [{ url: 'ftp://host/x' }, 'body.url'],
    [{ url: 'https://h/x', events: ['command.exploded'] }, 'body.events.0'],
    [{ url: 'https://h/x', secret: 'short' }, 'body.secret'],
  ])('refuses an invalid subscription %j naming %s', async (body, field) => {
    const res = await h.call('POST', '/v1/webhooks', { body });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.field).toBe(field);
  });

  it('lists dead letters newest first with paging; replay publishes a WebhookDelivery and marks the row once', async () => {
    const base = Date.UTC(2026, 2, 1);
    for (let i = 0; i < 3; i++) {
      await h.sql`
        insert into webhook_dead_letters
          (tenant_id, id, event_id, event_type, target_url, subscription_id, path, payload, attempts, last_error, dead_at)
        values ('default', ${`dl-${i}`}, ${`evt-${i}`}, 'command.completed', ${`https://host.example/hook/${i}`},
                ${i === 0 ? 'wh_sub' : null}, '/hook', ${h.sql.json({ imei: '350612345678901', n: i, nested: { ok: true } })},
                8, 'HTTP 502', ${new Date(base + i * 1000)})`;
    }
    await h.sql`
      insert into webhook_dead_letters (tenant_id, id, event_id, event_type, target_url, path, payload, attempts, last_error)
      values ('tenant-d', 'dl-other', 'evt-o', 'telemetry', 'https://o/x', '/x', '{}', 1, 'x')`;

    const first = (await h.call('GET', '/v1/webhooks/dead-letters?limit=2')).json();
    expect(first.items.map((d: { id: string }) => d.id)).toEqual(['dl-2', 'dl-1']);
    const second = (
      await h.call('GET', `/v1/webhooks/dead-letters?limit=2&cursor=${first.nextCursor}`)
    ).json();
    expect(second.items.map((d: { id: string }) => d.id)).toEqual(['dl-0']);
    expect(second.nextCursor).toBeNull();
    expect(second.items[0]).toMatchObject({
      eventId: 'evt-0',
      attempts: 8,
      lastError: 'HTTP 502',
      replayedAt: null,
    });

    const { subjects } = jetStreamTopology({ root: h.env.subjectRoot });
    const sub = nc.subscribe(subjects.notify('default' as never, 'delivery'), { max: 1 });
    const replayed = await h.call('POST', '/v1/webhooks/dead-letters/dl-0/replay');
    expect(replayed.statusCode).toBe(200);
    expect(replayed.json().replayedAt).not.toBeNull();
    for await (const msg of sub) {
      const delivery = decodeBusMessage(msg.data, WebhookDelivery).payload;
      expect(delivery).toMatchObject({
        tenant: 'default',
        eventId: 'evt-0',
        eventType: 'command.completed',
        url: 'https://host.example/hook/0',
        subscriptionId: 'wh_sub',
        payload: { imei: '350612345678901', n: 0, nested: { ok: true } },
      });
    }
    const [row] = await h.sql`select replayed_at from webhook_dead_letters where id = 'dl-0'`;
    expect(row!.replayed_at).toBeInstanceOf(Date);

    const again = await h.call('POST', '/v1/webhooks/dead-letters/dl-0/replay');
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('ALREADY_REPLAYED');
    expect((await h.call('POST', '/v1/webhooks/dead-letters/dl-other/replay')).statusCode).toBe(404);
    expect((await h.call('POST', '/v1/webhooks/dead-letters/nope/replay')).statusCode).toBe(404);

    const open = (await h.call('GET', '/v1/webhooks/dead-letters?replayed=false')).json().items;
    expect(open.map((d: { id: string }) => d.id)).toEqual(['dl-2', 'dl-1']);
    const done = (await h.call('GET', '/v1/webhooks/dead-letters?replayed=true')).json().items;
    expect(done.map((d: { id: string }) => d.id)).toEqual(['dl-0']);
  });

  it('replays a dead letter again after it died again (the notifier reopened it): a new message, not a duplicate', async () => {
    await h.sql`
      insert into webhook_dead_letters (tenant_id, id, event_id, event_type, target_url, path, payload, attempts, last_error)
      values ('default', 'dl-twice', 'evt-twice', 'command.failed', 'https://host.example/twice', '/twice',
              ${h.sql.json({ n: 1 })}, 5, 'HTTP 503')`;
    const { streams, subjects } = jetStreamTopology({ root: h.env.subjectRoot });
    const { jsm } = h.svc.ctx.nats;
    const stored = async () =>
      (await jsm.streams.info(streams.NOTIFY.name, { subjects_filter: '>' })).state.subjects?.[
        subjects.notify('default' as never, 'delivery')
      ] ?? 0;
    const before = await stored();

    expect((await h.call('POST', '/v1/webhooks/dead-letters/dl-twice/replay')).statusCode).toBe(200);
    expect(await stored()).toBe(before + 1);
    // What the notifier does when the replayed delivery fails its last attempt again.
    await h.sql`update webhook_dead_letters set dead_at = now() + interval '1 second', replayed_at = null
                where id = 'dl-twice'`;
    expect((await h.call('POST', '/v1/webhooks/dead-letters/dl-twice/replay')).statusCode).toBe(200);
    expect(await stored()).toBe(before + 2);
  });

  it('lists the retries held for failing hosts, per host and per tenant, without touching them', async () => {
    const { subjects } = jetStreamTopology({ root: h.env.subjectRoot });
    const { js } = h.svc.ctx.nats;
    const iso = (sec: number) => new Date(sec * 1000).toISOString();
    const held = async () => (await h.call('GET', '/v1/webhooks/held')).json().items;
    expect(await held()).toEqual([]);

    // What the notifier stores when it holds a retry: the delivery as it was, under the host's subject.
    let n = 0;
    const hold = async (tenant: string, hostKey: string, dueAtSec: number, url: string, count: number) => {
      for (let i = 0; i < count; i++) {
        const delivery: WebhookDelivery = {
          tenant: parseTenantId(tenant),
          eventId: `evt-held-${n++}`,
          eventType: 'command.completed',
          url,
          payload: { n },
          createdAt: Date.now(),
        };
        await js.publish(
          subjects.notifyHeld(parseTenantId(tenant), hostKey, dueAtSec),
          encodeBusMessage(PROTO.EVENT, MSG_TYPE.EVENT.WEBHOOK, delivery),
        );
      }
    };
    await hold('default', 'aaaa000000000001', 2_000_000_000, 'https://down.example:8443/hooks/a', 3);
    await hold('default', 'aaaa000000000001', 2_000_000_060, 'https://down.example:8443/hooks/b', 2);
    await hold('default', 'bbbb000000000002', 1_999_999_990, 'http://other.example/x', 1);
    await hold('tenant-d', 'cccc000000000003', 2_000_000_000, 'https://d.example/x', 4);

    const expected = [
      { host: 'http://other.example', held: 1, nextDueAt: iso(1_999_999_990), lastDueAt: iso(1_999_999_990) },
      {
        host: 'https://down.example:8443',
        held: 5,
        nextDueAt: iso(2_000_000_000),
        lastDueAt: iso(2_000_000_060),
      },
    ];
    expect(await held()).toEqual(expected);
    // Reading changed nothing: the same answer again.
    expect(await held()).toEqual(expected);
    expect((await h.call('GET', '/v1/webhooks/held', { key: OTHER_KEY })).json().items).toEqual([
      { host: 'https://d.example', held: 4, nextDueAt: iso(2_000_000_000), lastDueAt: iso(2_000_000_000) },
    ]);
    expect((await h.call('GET', '/v1/webhooks/held', { key: null })).statusCode).toBe(401);
  });
});
