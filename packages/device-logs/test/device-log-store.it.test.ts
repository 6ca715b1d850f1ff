import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidCursorError, LogTooLargeError, objectNameOf, UnknownDeviceError } from '../src/index.ts';
import { digestOf, generatedBytes, type LogTestContext, registerDevice, startLogContext } from './support.ts';

const MiB = 1024 * 1024;

describe('DeviceLogStore (real PostgreSQL and NATS object store)', () => {
  let ctx: LogTestContext;

  beforeAll(async () => {
    ctx = await startLogContext('devlogs');
    await registerDevice(ctx.sql, 'default', 'gw-1');
    await registerDevice(ctx.sql, 'default', 'gw-2');
    await registerDevice(ctx.sql, 'acme', 'gw-1');
  });
  afterAll(() => ctx?.close());

  const rowCount = async () => (await ctx.sql`select count(*)::int as n from device_logs`)[0]!.n as number;

  it('streams a several-MB upload into the object store and back, with its SHA-256', async () => {
    const before = await ctx.storedMessages();
    let writtenBeforeLastChunk = 0;
    const total = 6 * MiB + 12_345;
    const source = generatedBytes(total, 64 * 1024, async (i) => {
      // Just before the last chunk is produced: the earlier ones must already be in the bucket.
      if (i === Math.floor(total / (64 * 1024)))
        writtenBeforeLastChunk = (await ctx.storedMessages()) - before;
    });
    const stored = await ctx.store.store({
      tenant: 'default',
      deviceId: 'gw-1',
      fileName: '../../var/log/device.tar.gz',
      contentType: 'application/gzip',
      stream: source.stream,
      maxBytes: 10 * MiB,
    });
    expect(stored).toMatchObject({ sizeBytes: total, sha256: source.sha256() });
    expect(stored.logId).toMatch(/^log_[A-Za-z0-9_-]+$/);
    expect(writtenBeforeLastChunk).toBeGreaterThan(40);

    const [row] = await ctx.sql`select * from device_logs where id = ${stored.logId}`;
    expect(row).toMatchObject({
      tenant_id: 'default',
      device_id: 'gw-1',
      file_name: 'device.tar.gz',
      content_type: 'application/gzip',
      sha256: source.sha256(),
      object_name: objectNameOf('default', 'gw-1', stored.logId),
    });

    const opened = await ctx.store.open('default', 'gw-1', stored.logId);
    expect(opened?.meta).toEqual({
      id: stored.logId,
      deviceId: 'gw-1',
      fileName: 'device.tar.gz',
      contentType: 'application/gzip',
      sizeBytes: total,
      sha256: source.sha256(),
      createdAt: stored.createdAt,
    });
    expect(await digestOf(opened!.stream)).toEqual({ size: total, sha256: source.sha256() });
  });

  it('accepts a Node Readable and an empty file', async () => {
    const stored = await ctx.store.store({
      tenant: 'default',
      deviceId: 'gw-2',
      fileName: 'empty.log',
      contentType: 'not a content type',
      stream: Readable.from([]),
      maxBytes: 100,
    });
    expect(stored.sizeBytes).toBe(0);
    const opened = await ctx.store.open('default', 'gw-2', stored.logId);
    expect(opened!.meta.contentType).toBe('application/octet-stream');
    expect((await digestOf(opened!.stream)).size).toBe(0);
    expect(await ctx.store.delete('default', 'gw-2', stored.logId)).toBe(true);
  });

  it('refuses an upload past maxBytes: no object, no row, source closed', async () => {
    const [rowsBefore, messagesBefore] = [await rowCount(), await ctx.storedMessages()];
    const source = generatedBytes(3 * MiB, 64 * 1024);
    const err = await ctx.store
      .store({
        tenant: 'default',
        deviceId: 'gw-1',
        fileName: 'big.log',
        contentType: 'text/plain',
        stream: source.stream,
        maxBytes: MiB,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogTooLargeError);
    expect((err as LogTooLargeError).maxBytes).toBe(MiB);
    // It stopped reading at the limit (a chunk past 1 MiB), and closed the generator.
    expect(source.state.produced).toBeLessThanOrEqual(MiB + 64 * 1024);
    expect(source.state.closed).toBe(true);
    expect(await rowCount()).toBe(rowsBefore);
    expect(await ctx.storedMessages()).toBe(messagesBefore);
  });

  it('keeps an upload of exactly maxBytes', async () => {
    const source = generatedBytes(256 * 1024, 10_000);
    const stored = await ctx.store.store({
      tenant: 'default',
      deviceId: 'gw-2',
      fileName: 'exact.log',
      contentType: 'text/plain',
      stream: source.stream,
      maxBytes: 256 * 1024,
    });
    expect(stored.sizeBytes).toBe(256 * 1024);
    await ctx.store.delete('default', 'gw-2', stored.logId);
  });

  it('refuses an unknown device before reading a byte', async () => {
    const [rowsBefore, messagesBefore] = [await rowCount(), await ctx.storedMessages()];
    for (const [tenant, deviceId] of [
      ['default', 'ghost'],
      ['other-tenant', 'gw-2'],
    ] as const) {
      const source = generatedBytes(1000, 100);
      const err = await ctx.store
        .store({
          tenant,
          deviceId,
          fileName: 'x',
          contentType: 'text/plain',
          stream: source.stream,
          maxBytes: 10_000,
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnknownDeviceError);
      expect(err).toMatchObject({ code: 'UNKNOWN_DEVICE', deviceId });
      expect(source.state.produced).toBe(0);
    }
    expect(await rowCount()).toBe(rowsBefore);
    expect(await ctx.storedMessages()).toBe(messagesBefore);
  });

  it('leaves nothing behind when the source fails midway', async () => {
    const [rowsBefore, messagesBefore] = [await rowCount(), await ctx.storedMessages()];
    const source = generatedBytes(2 * MiB, 64 * 1024, (i) => {
      if (i === 10) throw new Error('client went away');
    });
    await expect(
      ctx.store.store({
        tenant: 'default',
        deviceId: 'gw-1',
        fileName: 'cut.log',
        contentType: 'text/plain',
        stream: source.stream,
        maxBytes: 10 * MiB,
      }),
    ).rejects.toThrow('client went away');
    expect(await rowCount()).toBe(rowsBefore);
    expect(await ctx.storedMessages()).toBe(messagesBefore);
  });

  it('lists newest first, page by page, per tenant and device', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { logId } = await ctx.store.store({
        tenant: 'acme',
        deviceId: 'gw-1',
        fileName: `log-${i}.txt`,
        contentType: 'text/plain',
        stream: Readable.from([Buffer.from(`entry ${i}\n`)]),
        maxBytes: 1000,
      });
      ids.push(logId);
    }
    // Two rows in the same microsecond: the id breaks the tie, no row is skipped or repeated.
    await ctx.sql`update device_logs set created_at = '2026-01-01T00:00:00.123456Z' where id in ${ctx.sql([ids[1]!, ids[2]!])}`;
    const expected = [ids[4], ids[3], ...[ids[1]!, ids[2]!].sort().reverse(), ids[0]];
    await ctx.sql`update device_logs set created_at = '2025-12-31T00:00:00Z' where id = ${ids[0]!}`;

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await ctx.store.list('acme', 'gw-1', { limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((l) => l.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(expected);

    const all = await ctx.store.list('acme', 'gw-1', { limit: 10 });
    expect(all.nextCursor).toBeNull();
    expect(all.items[0]).toMatchObject({ fileName: 'log-4.txt', sizeBytes: 8, contentType: 'text/plain' });
    expect(all.items[0]).not.toHaveProperty('objectName');
    // The same device id in another tenant sees none of them; neither does another device.
    const mine = (await ctx.store.list('default', 'gw-1', { limit: 50 })).items.map((l) => l.id);
    expect(mine.some((id) => ids.includes(id))).toBe(false);
    expect((await ctx.store.list('acme', 'gw-2', { limit: 10 })).items).toEqual([]);
    expect(await ctx.store.open('default', 'gw-1', ids[4]!)).toBeUndefined();

    for (const bad of ['garbage', Buffer.from('[1,2]').toString('base64url')]) {
      await expect(ctx.store.list('acme', 'gw-1', { limit: 2, cursor: bad })).rejects.toBeInstanceOf(
        InvalidCursorError,
      );
    }
  });

  it('deletes one log, or all of a device, bytes included', async () => {
    const put = async (name: string) =>
      (
        await ctx.store.store({
          tenant: 'default',
          deviceId: 'gw-2',
          fileName: name,
          contentType: 'text/plain',
          stream: Readable.from([Buffer.from(name)]),
          maxBytes: 100,
        })
      ).logId;
    const messagesBefore = await ctx.storedMessages();
    const [a, b, c] = [await put('a'), await put('b'), await put('c')];
    expect(await ctx.store.delete('default', 'gw-2', a)).toBe(true);
    expect(await ctx.store.delete('default', 'gw-2', a)).toBe(false);
    expect(await ctx.store.open('default', 'gw-2', a)).toBeUndefined();
    expect(await ctx.store.deleteAllOf('default', 'gw-2')).toBe(2);
    for (const id of [b, c]) expect(await ctx.store.open('default', 'gw-2', id)).toBeUndefined();
    // A deleted object keeps only its tombstone (one metadata message), no chunks.
    expect(await ctx.storedMessages()).toBe(messagesBefore + 3);
  });

  it('fails the download stream when the bytes are not the ones recorded', async () => {
    const { logId } = await ctx.store.store({
      tenant: 'default',
      deviceId: 'gw-1',
      fileName: 'tampered.log',
      contentType: 'text/plain',
      stream: Readable.from([Buffer.from('original bytes')]),
      maxBytes: 100,
    });
    await ctx.sql`update device_logs set sha256 = ${'0'.repeat(64)} where id = ${logId}`;
    const opened = await ctx.store.open('default', 'gw-1', logId);
    await expect(digestOf(opened!.stream)).rejects.toThrow(/corrupt/);
  });

  it('hides rows older than the retention, whose bytes the bucket TTL removed', async () => {
    const short = await startLogContext('devlogs_ttl', 60_000);
    try {
      await registerDevice(short.sql, 'default', 'gw-9');
      const { logId } = await short.store.store({
        tenant: 'default',
        deviceId: 'gw-9',
        fileName: 'old.log',
        contentType: 'text/plain',
        stream: Readable.from([Buffer.from('old')]),
        maxBytes: 100,
      });
      expect((await short.store.list('default', 'gw-9', { limit: 5 })).items).toHaveLength(1);
      await short.sql`update device_logs set created_at = now() - interval '2 minutes' where id = ${logId}`;
      expect((await short.store.list('default', 'gw-9', { limit: 5 })).items).toEqual([]);
      expect(await short.store.open('default', 'gw-9', logId)).toBeUndefined();
    } finally {
      await short.close();
    }
  });

  it('prunes the rows of expired logs, in batches, and keeps the live ones', async () => {
    const short = await startLogContext('devlogs_prune', 60_000);
    try {
      await registerDevice(short.sql, 'default', 'gw-8');
      const upload = (fileName: string) =>
        short.store.store({
          tenant: 'default',
          deviceId: 'gw-8',
          fileName,
          contentType: 'text/plain',
          stream: Readable.from([Buffer.from(fileName)]),
          maxBytes: 100,
        });
      const expired = [await upload('a.log'), await upload('b.log'), await upload('c.log')];
      const live = await upload('live.log');
      const ids = expired.map((e) => e.logId);
      await short.sql`update device_logs set created_at = now() - interval '2 minutes' where id in ${short.sql(ids)}`;

      expect(await short.store.pruneExpired(2)).toBe(3);
      const left = await short.sql`select id from device_logs where device_id = 'gw-8'`;
      expect(left.map((r) => r.id)).toEqual([live.logId]);
      expect(await short.store.pruneExpired(2)).toBe(0);
      expect(await short.store.open('default', 'gw-8', live.logId)).toBeDefined();
    } finally {
      await short.close();
    }
  });

  it('prunes nothing without a retention', async () => {
    await registerDevice(ctx.sql, 'default', 'gw-7');
    const { logId } = await ctx.store.store({
      tenant: 'default',
      deviceId: 'gw-7',
      fileName: 'keep.log',
      contentType: 'text/plain',
      stream: Readable.from([Buffer.from('keep')]),
      maxBytes: 100,
    });
    await ctx.sql`update device_logs set created_at = now() - interval '400 days' where id = ${logId}`;
    expect(await ctx.store.pruneExpired()).toBe(0);
    expect(await ctx.sql`select 1 from device_logs where id = ${logId}`).toHaveLength(1);
  });
});
