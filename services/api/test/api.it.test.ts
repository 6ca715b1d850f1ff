import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, addTenant, SEED_KEY, startApi } from './support.ts';

const OTHER_KEY = 'tenant-b-key-0123456789abcdef0123';

describe('REST API: auth, registry, telemetry, docs (real PostgreSQL + NATS)', () => {
  let h: ApiHarness;

  beforeAll(async () => {
    h = await startApi('api');
    await addTenant(h.sql, 'tenant-b', OTHER_KEY);
  });
  afterAll(() => h?.close());

  const deviceCount = async () => (await h.sql`select count(*)::int as n from devices`)[0]!.n as number;

  it('stores only the hash of IOT_API_KEY', async () => {
    const rows = await h.sql`select key_hash, name from api_keys where tenant_id = 'default'`;
    expect(rows).toEqual([
      { key_hash: createHash('sha256').update(SEED_KEY).digest('hex'), name: 'IOT_API_KEY' },
    ]);
  });

  it('answers 401 without a key or with a wrong one, and changes nothing', async () => {
    const before = await deviceCount();
    for (const key of [null, '', 'wrong-key']) {
      const res = await h.call('POST', '/v1/devices', { key, body: { id: 'intruder', kind: 'tracker' } });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('UNAUTHORIZED');
      expect((await h.call('DELETE', '/v1/api-keys/anything', { key })).statusCode).toBe(401);
    }
    expect((await h.call('GET', '/api/v1/devices', { key: 'nope' })).statusCode).toBe(401);
    expect(await deviceCount()).toBe(before);
  });

  it("keeps tenants apart: tenant B's key never sees tenant A's devices", async () => {
    expect(
      (await h.call('POST', '/v1/devices', { body: { id: 'a-only', kind: 'tracker' } })).statusCode,
    ).toBe(201);
    const b = await h.call('POST', '/v1/devices', { key: OTHER_KEY, body: { id: 'b-only', kind: 'ws' } });
    expect(b.statusCode).toBe(201);

    const listB = await h.call('GET', '/v1/devices', { key: OTHER_KEY });
    expect(listB.json().items.map((d: { id: string }) => d.id)).toEqual(['b-only']);
    expect((await h.call('GET', '/v1/devices/a-only', { key: OTHER_KEY })).statusCode).toBe(404);
    expect((await h.call('DELETE', '/v1/devices/a-only', { key: OTHER_KEY })).statusCode).toBe(404);
    expect((await h.call('GET', '/api/v1/devices/a-only', { key: OTHER_KEY })).statusCode).toBe(404);
    // The same id may exist in both tenants.
    expect(
      (await h.call('POST', '/v1/devices', { key: OTHER_KEY, body: { id: 'a-only', kind: 'ws' } }))
        .statusCode,
    ).toBe(201);
    expect((await h.call('GET', '/v1/devices/a-only')).json().kind).toBe('tracker');
  });

  it.each([
    ['missing id', { kind: 'tracker' }, 'body.id'],
    ['wrong type', { id: 12345, kind: 'tracker' }, 'body.id'],
    ['unknown kind', { id: 'x1', kind: 'satellite' }, 'body.kind'],
    ['bad tag', { id: 'x1', kind: 'tracker', tags: ['ok', 'not ok'] }, 'body.tags.1'],
    ['unknown field', { id: 'x1', kind: 'tracker', colour: 'red' }, 'body.colour'],
    ['bad id', { id: 'a/b', kind: 'tracker' }, 'body.id'],
  ])('refuses an invalid device body (%s) with 400 naming the field', async (_, body, field) => {
    const res = await h.call('POST', '/v1/devices', { body });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', field });
    expect(res.json().error.message).toContain(field);
  });

  it('refuses invalid seed command bodies naming the field', async () => {
    const missing = await h.call('POST', '/api/v1/command', { body: { command: 'getinfo' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.field).toBe('body.imei');
    const wrongType = await h.call('POST', '/api/v1/command', {
      body: { imei: '350612345678901', command: 7 },
    });
    expect(wrongType.json().error.field).toBe('body.command');
    const badJson = await h.call('POST', '/v1/devices', {
      body: '{"id":',
      headers: { 'content-type': 'application/json' },
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error.code).toBe('VALIDATION_ERROR');
  });

  it('answers 404 for an unknown device everywhere', async () => {
    for (const url of [
      '/v1/devices/ghost',
      '/v1/devices/ghost/state',
      '/v1/devices/ghost/telemetry',
      '/api/v1/devices/ghost',
    ]) {
      const res = await h.call('GET', url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.code).toBe('UNKNOWN_DEVICE');
    }
    expect((await h.call('PATCH', '/v1/devices/ghost', { body: { name: 'x' } })).statusCode).toBe(404);
    expect((await h.call('GET', '/v1/no-such-route')).statusCode).toBe(404);
  });

  it('creates, reads, updates and deletes a device', async () => {
    const created = await h.call('POST', '/v1/devices', {
      body: {
        id: 'crud1',
        kind: 'ws',
        name: 'Pump 1',
        tags: ['site:north'],
        metadata: { floor: 2, nested: { a: [1] } },
      },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({
      id: 'crud1',
      kind: 'ws',
      name: 'Pump 1',
      online: false,
      presence: null,
    });
    expect((await h.call('POST', '/v1/devices', { body: { id: 'crud1', kind: 'ws' } })).statusCode).toBe(409);

    const patched = await h.call('PATCH', '/v1/devices/crud1', {
      body: { tags: ['site:south', 'pump'], name: null },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      name: null,
      tags: ['site:south', 'pump'],
      metadata: { floor: 2, nested: { a: [1] } },
    });
    expect((await h.call('PATCH', '/v1/devices/crud1', { body: {} })).statusCode).toBe(400);

    const got = (await h.call('GET', '/v1/devices/crud1')).json();
    expect(got).toMatchObject({ id: 'crud1', tags: ['site:south', 'pump'], latestState: null });

    expect((await h.call('DELETE', '/v1/devices/crud1')).statusCode).toBe(204);
    expect((await h.call('GET', '/v1/devices/crud1')).statusCode).toBe(404);
  });

  it('filters by kind, tag, state and id prefix, and pages with a cursor', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `flt-${i}`);
    for (const [i, id] of ids.entries()) {
      const body = { id, kind: i % 2 ? 'ws' : 'tracker', tags: i < 3 ? ['red'] : ['blue'] };
      expect((await h.call('POST', '/v1/devices', { body })).statusCode).toBe(201);
    }
    await h.sql`
      insert into device_presence (tenant_id, device_id, state, epoch, edge_id, transport, remote_address, changed_at)
      values ('default', 'flt-1', 'online', 3, 'edge-1', 'tcp', '10.0.0.9:4000', now()),
             ('default', 'flt-2', 'offline', 2, 'edge-1', 'tcp', null, now())`;
    const ids$ = async (qs: string) =>
      (await h.call('GET', `/v1/devices?${qs}`)).json().items.map((d: { id: string }) => d.id);

    expect(await ids$('q=flt-&kind=ws')).toEqual(['flt-1', 'flt-3', 'flt-5']);
    expect(await ids$('q=flt-&tag=red')).toEqual(['flt-0', 'flt-1', 'flt-2']);
    expect(await ids$('q=flt-&state=online')).toEqual(['flt-1']);
    expect(await ids$('q=flt-&state=offline')).toEqual([
      'flt-0',
      'flt-2',
      'flt-3',
      'flt-4',
      'flt-5',
      'flt-6',
    ]);
    const online = (await h.call('GET', '/v1/devices/flt-1')).json();
    expect(online).toMatchObject({
      online: true,
      presence: { state: 'online', edgeId: 'edge-1', remoteAddress: '10.0.0.9:4000' },
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await h.call('GET', `/v1/devices?q=flt-&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      seen.push(...res.json().items.map((d: { id: string }) => d.id));
      cursor = res.json().nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);

    const bad = await h.call('GET', '/v1/devices?cursor=garbage');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('querystring.cursor');
    expect((await h.call('GET', '/v1/devices?state=sleeping')).json().error.field).toBe('querystring.state');
    expect((await h.call('GET', '/v1/devices?limit=0')).json().error.field).toBe('querystring.limit');
  });

  it('pages telemetry by device time within a range, and serves the latest state', async () => {
    await h.call('POST', '/v1/devices', { body: { id: 'tel1', kind: 'tracker' } });
    const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
    const rows = Array.from({ length: 10 }, (_, i) => ({
      tenant_id: 'default',
      device_id: 'tel1',
      device_time: new Date(t0 + Math.floor(i / 2) * 60_000),
      event_io: i % 2 ? 239 : 0,
      received_at: new Date(t0 + 3_600_000),
      latitude: 40 + i / 100,
      longitude: -3,
      io: h.sql.json({ '239': i % 2 }),
      attributes: h.sql.json({ n: i }),
      source: 'teltonika',
    }));
    await h.sql`insert into telemetry ${h.sql(rows, 'tenant_id', 'device_id', 'device_time', 'event_io', 'received_at', 'latitude', 'longitude', 'io', 'attributes', 'source')}`;

    const from = new Date(t0 + 60_000).toISOString();
    const to = new Date(t0 + 4 * 60_000).toISOString();
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const res = await h.call(
        'GET',
        `/v1/devices/tel1/telemetry?from=${from}&to=${to}&limit=4${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(res.statusCode).toBe(200);
      for (const r of res.json().items) seen.push(r.attributes.n);
      cursor = res.json().nextCursor;
    } while (cursor);
    // Minutes 1, 2 and 3, two records each (event IO 0 then 239): rows 2..7 in order.
    expect(seen).toEqual([2, 3, 4, 5, 6, 7]);
    const one = (await h.call('GET', '/v1/devices/tel1/telemetry?limit=1')).json().items[0];
    expect(one).toMatchObject({
      deviceTime: new Date(t0).toISOString(),
      eventIo: 0,
      latitude: 40,
      io: { '239': 0 },
      source: 'teltonika',
    });

    expect((await h.call('GET', '/v1/devices/tel1/state')).statusCode).toBe(404);
    await h.sql`
      insert into device_state (tenant_id, device_id, device_time, received_at, latitude, longitude, attributes)
      values ('default', 'tel1', ${new Date(t0)}, ${new Date(t0)}, 1.5, 2.5, ${h.sql.json({ ignition: true })})`;
    const state = await h.call('GET', '/v1/devices/tel1/state');
    expect(state.json()).toMatchObject({
      deviceId: 'tel1',
      latitude: 1.5,
      longitude: 2.5,
      attributes: { ignition: true },
    });
    expect((await h.call('GET', '/v1/devices/tel1')).json().latestState).toMatchObject({ latitude: 1.5 });
    expect((await h.call('GET', '/v1/devices/tel1/telemetry?from=yesterday')).json().error.field).toBe(
      'querystring.from',
    );
  });

  it('creates and revokes API keys of the calling tenant', async () => {
    const created = await h.call('POST', '/v1/api-keys', { body: { name: 'ci' } });
    expect(created.statusCode).toBe(201);
    const { id, key } = created.json();
    expect(key).toMatch(/^fwk_/);
    const [row] = await h.sql`select key_hash, tenant_id from api_keys where id = ${id}`;
    expect(row).toEqual({ key_hash: createHash('sha256').update(key).digest('hex'), tenant_id: 'default' });

    expect((await h.call('GET', '/v1/devices/a-only', { key })).statusCode).toBe(200);
    expect((await h.call('DELETE', `/v1/api-keys/${id}`, { key: OTHER_KEY })).statusCode).toBe(404);
    expect((await h.call('DELETE', `/v1/api-keys/${id}`)).statusCode).toBe(204);
    expect((await h.call('GET', '/v1/devices/a-only', { key })).statusCode).toBe(401);
  });

  it('publishes an OpenAPI document listing every route with its schemas, and serves /docs', async () => {
    const res = await h.call('GET', '/openapi.json', { key: null });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /healthz',
        'POST /v1/devices',
        'GET /v1/devices',
        'GET /v1/devices/{id}',
        'PATCH /v1/devices/{id}',
        'DELETE /v1/devices/{id}',
        'GET /v1/devices/{id}/state',
        'GET /v1/devices/{id}/telemetry',
        'POST /v1/devices/{id}/credential',
        'POST /v1/devices/{id}/sessions/revoke',
        'GET /v1/devices/{id}/logs',
        'GET /v1/devices/{id}/logs/{logId}',
        'POST /v1/provisioning-keys',
        'GET /v1/provisioning-keys',
        'DELETE /v1/provisioning-keys/{id}',
        'GET /v1/fleet',
        'PATCH /v1/fleet',
        'POST /v1/devices/{id}/commands',
        'GET /v1/commands',
        'GET /v1/commands/{id}',
        'POST /v1/commands/{id}/cancel',
        'POST /v1/webhooks',
        'GET /v1/webhooks',
        'GET /v1/webhooks/{id}',
        'DELETE /v1/webhooks/{id}',
        'GET /v1/webhooks/held',
        'GET /v1/webhooks/dead-letters',
        'POST /v1/webhooks/dead-letters/{id}/replay',
        'POST /v1/api-keys',
        'GET /v1/api-keys',
        'DELETE /v1/api-keys/{id}',
        'GET /api/v1/devices',
        'GET /api/v1/devices/{imei}',
        'GET /api/v1/stats',
        'POST /api/v1/command',
      ].sort(),
    );
    const create = doc.paths['/v1/devices'].post;
    expect(create.requestBody.content['application/json'].schema.required).toEqual(['id', 'kind']);
    expect(Object.keys(create.responses)).toEqual(expect.arrayContaining(['201', '400', '401', '409']));
    const seedCommand = doc.paths['/api/v1/command'].post;
    expect(Object.keys(seedCommand.requestBody.content['application/json'].schema.properties)).toEqual([
      'imei',
      'command',
      'metadata',
    ]);
    expect(doc.components.securitySchemes.apiKey).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'x-api-key',
    });

    const docs = await h.call('GET', '/docs', { key: null });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
    expect(docs.body).toContain('<html');
  });

  it('serves real HTTP on API_PORT: health without a key, the registry with one', async () => {
    const base = `http://127.0.0.1:${h.svc.instance.port}`;
    const health = await fetch(`${base}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect((await fetch(`${base}/api/v1/devices`)).status).toBe(401);
    const res = await fetch(`${base}/api/v1/devices`, { headers: { 'x-api-key': SEED_KEY } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { success: boolean; count: number; devices: { imei: string }[] };
    expect(body.success).toBe(true);
    expect(body.devices.find((d: { imei: string }) => d.imei === 'flt-1')).toMatchObject({
      connected: true,
      state: 'online',
    });
    expect(body.count).toBe(body.devices.length);
    const statsRes = await fetch(`${base}/api/v1/stats`, { headers: { 'x-api-key': SEED_KEY } });
    const stats = (await statsRes.json()) as { connections: { online: number; registered: number } };
    expect(stats.connections.online).toBe(1);
    expect(stats.connections.registered).toBe(body.count);
  });
});
