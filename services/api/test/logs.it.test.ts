import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { DeviceLogStore } from '@fleetwire/device-logs';
import { jetStreamTopology, objectChunkSubject, objectStoreStreamName } from '@fleetwire/protocol';
import { eventually } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, addTenant, SEED_KEY, startApi } from './support.ts';

const OTHER_KEY = 'tenant-e-key-0123456789abcdef0123';
const MiB = 1024 * 1024;

describe('REST API: device logs (listed from PostgreSQL, streamed from the object store)', () => {
  let h: ApiHarness;
  let logs: DeviceLogStore;
  let bucket: string;

  beforeAll(async () => {
    h = await startApi('apilogs');
    await addTenant(h.sql, 'tenant-e', OTHER_KEY);
    bucket = jetStreamTopology({ root: h.env.subjectRoot }).objectStores.deviceLogs.bucket;
    // What edge-ws does with an upload; the API provisioned the bucket at start.
    logs = await DeviceLogStore.open({ sql: h.svc.ctx.sql!, js: h.svc.ctx.nats.js, bucket });
    for (const id of ['gw-1', 'gw-2']) await h.call('POST', '/v1/devices', { body: { id, kind: 'ws' } });
  });
  afterAll(() => h?.close());

  const upload = (deviceId: string, fileName: string, bytes: Buffer, contentType = 'text/plain') =>
    logs.store({
      tenant: 'default',
      deviceId,
      fileName,
      contentType,
      stream: Readable.from([bytes]),
      maxBytes: 8 * MiB,
    });

  it('streams a stored log with its type, length and file name', async () => {
    const bytes = randomBytes(3 * MiB + 7);
    const stored = await upload('gw-1', 'journal-ü "today".tar.gz', bytes, 'application/gzip');

    const res = await fetch(`http://127.0.0.1:${h.svc.instance.port}/v1/devices/gw-1/logs/${stored.logId}`, {
      headers: { 'x-api-key': SEED_KEY },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="journal-_ _today_.tar.gz"; filename*=UTF-8''${encodeURIComponent('journal-ü "today".tar.gz')}`,
    );
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(bytes.length);
    expect(createHash('sha256').update(body).digest('hex')).toBe(stored.sha256);
    expect(body.equals(bytes)).toBe(true);
  });

  it('documents the download as a binary answer', async () => {
    const doc = (await h.call('GET', '/openapi.json', { key: null })).json();
    const download = doc.paths['/v1/devices/{id}/logs/{logId}'].get;
    expect(download.responses['200'].content['application/octet-stream'].schema).toMatchObject({
      type: 'string',
      format: 'binary',
    });
    expect(Object.keys(download.responses)).toEqual(expect.arrayContaining(['200', '401', '404']));
  });

  it('lists logs newest first with paging', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await upload('gw-2', `l${i}.txt`, Buffer.from(`log ${i}`))).logId);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await h.call('GET', `/v1/devices/gw-2/logs?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.statusCode).toBe(200);
      seen.push(...res.json().items.map((l: { id: string }) => l.id));
      cursor = res.json().nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    const [first] = (await h.call('GET', '/v1/devices/gw-2/logs?limit=1')).json().items;
    expect(first).toEqual({
      id: ids[4],
      deviceId: 'gw-2',
      fileName: 'l4.txt',
      contentType: 'text/plain',
      sizeBytes: 5,
      sha256: createHash('sha256').update('log 4').digest('hex'),
      createdAt: expect.any(String),
    });
    expect(first).not.toHaveProperty('objectName');
  });

  it('refuses a bad cursor or limit naming the field', async () => {
    const bad = await h.call('GET', '/v1/devices/gw-2/logs?cursor=garbage');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'querystring.cursor' });
    expect((await h.call('GET', '/v1/devices/gw-2/logs?limit=0')).json().error.field).toBe(
      'querystring.limit',
    );
    expect((await h.call('GET', '/v1/devices/gw-2/logs?colour=red')).json().error.field).toBe(
      'querystring.colour',
    );
    expect((await h.call('GET', '/v1/devices/gw-2/logs/not.an.id')).json().error.field).toBe('params.logId');
  });

  it('answers named 404s and keeps tenants apart', async () => {
    const { logId } = await upload('gw-1', 'secret.log', Buffer.from('tenant default only'));
    const unknownDevice = await h.call('GET', '/v1/devices/ghost/logs');
    expect(unknownDevice.statusCode).toBe(404);
    expect(unknownDevice.json().error).toMatchObject({
      code: 'UNKNOWN_DEVICE',
      message: expect.stringContaining('ghost'),
    });
    const unknownDownload = await h.call('GET', `/v1/devices/ghost/logs/${logId}`);
    expect(unknownDownload.json().error.code).toBe('UNKNOWN_DEVICE');
    const unknownLog = await h.call('GET', '/v1/devices/gw-1/logs/log_nothere');
    expect(unknownLog.statusCode).toBe(404);
    expect(unknownLog.json().error).toMatchObject({
      code: 'NOT_FOUND',
      message: 'log "log_nothere" not found',
    });
    // The log of gw-1 is not reachable through another device id.
    expect((await h.call('GET', `/v1/devices/gw-2/logs/${logId}`)).json().error.code).toBe('NOT_FOUND');

    // Tenant E has a device with the same id: it sees none of tenant default's logs.
    await h.call('POST', '/v1/devices', { key: OTHER_KEY, body: { id: 'gw-1', kind: 'ws' } });
    expect((await h.call('GET', '/v1/devices/gw-1/logs', { key: OTHER_KEY })).json()).toEqual({
      items: [],
      nextCursor: null,
    });
    const cross = await h.call('GET', `/v1/devices/gw-1/logs/${logId}`, { key: OTHER_KEY });
    expect(cross.statusCode).toBe(404);
    expect(cross.body).not.toContain('tenant default only');
  });

  it("deletes a device's logs, bytes included, with the device", async () => {
    await h.call('POST', '/v1/devices', { body: { id: 'gw-doomed', kind: 'ws' } });
    const { logId } = await upload('gw-doomed', 'last-words.log', Buffer.from('bye'));
    const stream = objectStoreStreamName(bucket);
    const chunks = async () =>
      (await h.svc.ctx.nats.jsm.streams.info(stream, { subjects_filter: objectChunkSubject(bucket, '>') }))
        .state.num_subjects ?? 0;
    const before = await chunks();
    expect((await h.call('DELETE', '/v1/devices/gw-doomed')).statusCode).toBe(204);
    expect(await chunks()).toBe(before - 1);
    expect((await h.sql`select 1 from device_logs where id = ${logId}`).length).toBe(0);
  });
});

describe('REST API: expired device log rows are pruned (FW_DEVICE_LOG_PRUNE_EVERY)', () => {
  let h: ApiHarness;

  beforeAll(async () => {
    h = await startApi('apilogprune', { FW_DEVICE_LOG_PRUNE_EVERY: '1s' });
    await h.call('POST', '/v1/devices', { body: { id: 'gw-old', kind: 'ws' } });
  });
  afterAll(() => h?.close());

  it('deletes rows older than the bucket TTL and keeps the others', async () => {
    const bucket = jetStreamTopology({ root: h.env.subjectRoot }).objectStores.deviceLogs.bucket;
    const store = await DeviceLogStore.open({ sql: h.svc.ctx.sql!, js: h.svc.ctx.nats.js, bucket });
    const upload = (fileName: string) =>
      store.store({
        tenant: 'default',
        deviceId: 'gw-old',
        fileName,
        contentType: 'text/plain',
        stream: Readable.from([Buffer.from(fileName)]),
        maxBytes: 100,
      });
    const old = await upload('old.log');
    const fresh = await upload('fresh.log');
    await h.sql`update device_logs set created_at = now() - interval '31 days' where id = ${old.logId}`;

    await eventually(
      async () => (await h.sql`select 1 from device_logs where id = ${old.logId}`).length === 0,
      10_000,
      'expired row pruned',
    );
    const listed = (await h.call('GET', '/v1/devices/gw-old/logs')).json();
    expect(listed.items.map((l: { id: string }) => l.id)).toEqual([fresh.logId]);
  });
});
