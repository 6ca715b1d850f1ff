import { createHash } from 'node:crypto';
import { decodeProtoMsg, jetStreamTopology, MSG_TYPE, PROTO } from '@fleetwire/protocol';
import { connectTestNats } from '@fleetwire/testkit';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, addTenant, startApi } from './support.ts';

const OTHER_KEY = 'tenant-d-key-0123456789abcdef0123';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('REST API: WebSocket device identity, sessions, provisioning keys, fleet settings', () => {
  let h: ApiHarness;
  let nc: NatsConnection;

  beforeAll(async () => {
    h = await startApi('apiid');
    nc = await connectTestNats(h.env);
    await addTenant(h.sql, 'tenant-d', OTHER_KEY);
  });
  afterAll(async () => {
    await nc?.close();
    await h?.close();
  });

  const credentialRow = async (tenant: string, id: string) =>
    (
      await h.sql`select credential_hash, credential_issued_at from devices where tenant_id = ${tenant} and id = ${id}`
    )[0];

  it('answers 401 on every identity route without a valid key, and changes nothing', async () => {
    await h.call('POST', '/v1/devices', { body: { id: 'guarded', kind: 'ws' } });
    const hashBefore = (await credentialRow('default', 'guarded'))!.credential_hash;
    const calls: [method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown][] = [
      ['POST', '/v1/devices/guarded/credential'],
      ['POST', '/v1/devices/guarded/sessions/revoke'],
      ['POST', '/v1/provisioning-keys', { name: 'x' }],
      ['GET', '/v1/provisioning-keys'],
      ['DELETE', '/v1/provisioning-keys/pvk_x'],
      ['GET', '/v1/fleet'],
      ['PATCH', '/v1/fleet', { wsHeartbeatMs: 1000 }],
      ['GET', '/v1/devices/guarded/logs'],
      ['GET', '/v1/devices/guarded/logs/log_x'],
    ];
    for (const [method, url, body] of calls) {
      for (const key of [null, 'wrong-key']) {
        const res = await h.call(method, url, { key, body });
        expect(res.statusCode, `${method} ${url}`).toBe(401);
        expect(res.json().error.code).toBe('UNAUTHORIZED');
      }
    }
    expect((await credentialRow('default', 'guarded'))!.credential_hash).toBe(hashBefore);
    expect((await h.sql`select count(*)::int as n from provisioning_keys`)[0]!.n).toBe(0);
    expect(
      (await h.sql`select ws_heartbeat_ms from tenants where id = 'default'`)[0]!.ws_heartbeat_ms,
    ).toBeNull();
  });

  it('issues a credential with a ws device, shown once and stored as its hash; trackers get none', async () => {
    const ws = await h.call('POST', '/v1/devices', { body: { id: 'gw-1', kind: 'ws', name: 'Gateway 1' } });
    expect(ws.statusCode).toBe(201);
    const { credential } = ws.json();
    expect(credential).toMatch(/^fwd_[A-Za-z0-9_-]{40,}$/);
    const row = await credentialRow('default', 'gw-1');
    expect(row!.credential_hash).toBe(sha256(credential));
    expect(row!.credential_issued_at).toBeInstanceOf(Date);

    const tracker = await h.call('POST', '/v1/devices', { body: { id: '350612345678901', kind: 'tracker' } });
    expect(tracker.statusCode).toBe(201);
    expect(tracker.json()).not.toHaveProperty('credential');
    expect(await credentialRow('default', '350612345678901')).toEqual({
      credential_hash: null,
      credential_issued_at: null,
    });

    // Never readable again: not in the detail, the list, nor the seed API.
    for (const url of ['/v1/devices/gw-1', '/v1/devices?q=gw-', '/api/v1/devices/gw-1', '/api/v1/devices']) {
      const res = await h.call('GET', url);
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).not.toContain(credential);
      expect(res.body, url).not.toContain(row!.credential_hash);
      expect(res.body, url).not.toMatch(/credential_?hash/i);
    }
    const detail = (await h.call('GET', '/v1/devices/gw-1')).json();
    expect(detail).toMatchObject({
      id: 'gw-1',
      identity: {},
      credentialIssuedAt: (row!.credential_issued_at as Date).toISOString(),
    });
    expect(detail).not.toHaveProperty('credential');
    expect((await h.call('GET', '/v1/devices/350612345678901')).json().credentialIssuedAt).toBeNull();
  });

  it('shows the identity the device reported', async () => {
    const identity = { serial: 'SN-77', mac: '00:11:22:33:44:55', firmware: '2.4.1', model: 'GW-X' };
    await h.sql`update devices set identity = ${h.sql.json(identity)} where tenant_id = 'default' and id = 'gw-1'`;
    expect((await h.call('GET', '/v1/devices/gw-1')).json().identity).toEqual(identity);
  });

  it('re-issues a credential: the old hash is gone, only for ws devices of the tenant', async () => {
    const before = await credentialRow('default', 'gw-1');
    const res = await h.call('POST', '/v1/devices/gw-1/credential');
    expect(res.statusCode).toBe(200);
    const { credential, issuedAt } = res.json();
    expect(credential).toMatch(/^fwd_/);
    const after = await credentialRow('default', 'gw-1');
    expect(after!.credential_hash).toBe(sha256(credential));
    expect(after!.credential_hash).not.toBe(before!.credential_hash);
    expect((after!.credential_issued_at as Date).toISOString()).toBe(issuedAt);
    expect((await h.call('GET', '/v1/devices/gw-1')).json().credentialIssuedAt).toBe(issuedAt);
    // Nothing else can still match the old credential.
    expect(
      (await h.sql`select 1 from devices where credential_hash = ${before!.credential_hash}`).length,
    ).toBe(0);

    const tracker = await h.call('POST', '/v1/devices/350612345678901/credential');
    expect(tracker.statusCode).toBe(409);
    expect(tracker.json().error.code).toBe('CONFLICT');
    expect(await credentialRow('default', '350612345678901')).toMatchObject({ credential_hash: null });

    const unknown = await h.call('POST', '/v1/devices/ghost/credential');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatchObject({
      code: 'UNKNOWN_DEVICE',
      message: expect.stringContaining('ghost'),
    });
    expect((await h.call('POST', '/v1/devices/gw-1/credential', { key: OTHER_KEY })).statusCode).toBe(404);
    expect((await credentialRow('default', 'gw-1'))!.credential_hash).toBe(sha256(credential));
    expect((await h.call('POST', '/v1/devices/a%2Fb/credential')).json().error.field).toBe('params.id');
  });

  it('closes the live connection when the credential is replaced or the device is deleted', async () => {
    await h.call('POST', '/v1/devices', { body: { id: 'gw-close', kind: 'ws' } });
    const { subjects } = jetStreamTopology({ root: h.env.subjectRoot });
    const orders: unknown[] = [];
    const sub = nc.subscribe(subjects.down('default' as never, 'gw-close' as never), {
      max: 2,
      timeout: 10_000,
      callback: (_err, msg) => {
        if (msg) orders.push(decodeProtoMsg(msg.data).hdr.props);
      },
    });
    await nc.flush();
    expect((await h.call('POST', '/v1/devices/gw-close/credential')).statusCode).toBe(200);
    expect((await h.call('DELETE', '/v1/devices/gw-close')).statusCode).toBe(204);
    await sub.closed;
    expect(orders).toEqual([
      { epoch: Number.MAX_SAFE_INTEGER, reason: 'credential replaced' },
      { epoch: Number.MAX_SAFE_INTEGER, reason: 'device deprovisioned' },
    ]);
  });

  it('revokes live sessions and orders the edge holding the device to close it', async () => {
    await h.call('POST', '/v1/devices', { key: OTHER_KEY, body: { id: 'gw-1', kind: 'ws' } });
    await h.call('POST', '/v1/devices', { body: { id: 'gw-2', kind: 'ws' } });
    const session = (id: string, tenant: string, device: string, expires: string, revoked: string | null) =>
      h.sql`
        insert into device_sessions (id, tenant_id, device_id, token_hash, expires_at, revoked_at)
        values (${id}, ${tenant}, ${device}, ${sha256(id)}, now() + ${expires}::interval,
                ${revoked === null ? null : h.sql`now() - ${revoked}::interval`})`;
    await session('ses_live1', 'default', 'gw-1', '1 hour', null);
    await session('ses_live2', 'default', 'gw-1', '2 hours', null);
    await session('ses_expired', 'default', 'gw-1', '-1 hour', null);
    await session('ses_revoked', 'default', 'gw-1', '1 hour', '1 minute');
    await session('ses_other_dev', 'default', 'gw-2', '1 hour', null);
    await session('ses_other_tenant', 'tenant-d', 'gw-1', '1 hour', null);
    const revokedAt = async (id: string) =>
      (await h.sql`select revoked_at from device_sessions where id = ${id}`)[0]!.revoked_at as Date | null;
    const earlier = await revokedAt('ses_revoked');

    const { subjects } = jetStreamTopology({ root: h.env.subjectRoot });
    const sub = nc.subscribe(subjects.down('default' as never, 'gw-1' as never), { max: 1, timeout: 10_000 });
    const other = nc.subscribe(subjects.downFor('tenant-d' as never));
    await nc.flush();

    const res = await h.call('POST', '/v1/devices/gw-1/sessions/revoke');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ revoked: 2 });

    for await (const msg of sub) {
      const order = decodeProtoMsg(msg.data);
      expect(order.hdr).toEqual({
        proto: PROTO.CONTROL,
        typ: MSG_TYPE.CONTROL.CLOSE,
        props: { epoch: Number.MAX_SAFE_INTEGER, reason: 'session revoked' },
      });
      expect(order.body).toBeUndefined();
    }
    expect(await revokedAt('ses_live1')).toBeInstanceOf(Date);
    expect(await revokedAt('ses_live2')).toBeInstanceOf(Date);
    expect(await revokedAt('ses_expired')).toBeNull();
    expect(await revokedAt('ses_revoked')).toEqual(earlier);
    expect(await revokedAt('ses_other_dev')).toBeNull();
    expect(await revokedAt('ses_other_tenant')).toBeNull();

    // Again: nothing left to revoke, the close order still goes out (the connection may outlive its session).
    const again = nc.subscribe(subjects.down('default' as never, 'gw-1' as never), {
      max: 1,
      timeout: 10_000,
    });
    await nc.flush();
    expect((await h.call('POST', '/v1/devices/gw-1/sessions/revoke')).json()).toEqual({ revoked: 0 });
    for await (const msg of again) expect(decodeProtoMsg(msg.data).hdr.typ).toBe('close');

    expect((await h.call('POST', '/v1/devices/350612345678901/sessions/revoke')).statusCode).toBe(409);
    expect((await h.call('POST', '/v1/devices/ghost/sessions/revoke')).json().error.code).toBe(
      'UNKNOWN_DEVICE',
    );
    await nc.flush();
    expect(other.getProcessed()).toBe(0);
    other.unsubscribe();
  });

  it('creates, lists (without key material) and revokes provisioning keys per tenant', async () => {
    const created = await h.call('POST', '/v1/provisioning-keys', { body: { name: 'factory line 1' } });
    expect(created.statusCode).toBe(201);
    const { id, key, name, createdAt } = created.json();
    expect(key).toMatch(/^fwp_[A-Za-z0-9_-]{40,}$/);
    expect(name).toBe('factory line 1');
    expect(Date.parse(createdAt)).not.toBeNaN();
    const [row] = await h.sql`select tenant_id, key_hash, revoked_at from provisioning_keys where id = ${id}`;
    expect(row).toEqual({ tenant_id: 'default', key_hash: sha256(key), revoked_at: null });

    const list = await h.call('GET', '/v1/provisioning-keys');
    expect(list.json()).toEqual({ items: [{ id, name: 'factory line 1', createdAt }] });
    expect(list.body).not.toContain(key);
    expect(list.body).not.toContain(sha256(key));
    expect((await h.call('GET', '/v1/provisioning-keys', { key: OTHER_KEY })).json()).toEqual({ items: [] });

    expect((await h.call('DELETE', `/v1/provisioning-keys/${id}`, { key: OTHER_KEY })).statusCode).toBe(404);
    expect((await h.call('DELETE', `/v1/provisioning-keys/${id}`)).statusCode).toBe(204);
    expect(
      (await h.sql`select revoked_at from provisioning_keys where id = ${id}`)[0]!.revoked_at,
    ).toBeInstanceOf(Date);
    expect((await h.call('GET', '/v1/provisioning-keys')).json()).toEqual({ items: [] });
    const again = await h.call('DELETE', `/v1/provisioning-keys/${id}`);
    expect(again.statusCode).toBe(404);
    expect(again.json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining(id) });
  });

  it.each([
    ['missing name', {}, 'body.name'],
    ['empty name', { name: '' }, 'body.name'],
    ['wrong type', { name: 5 }, 'body.name'],
    ['unknown field', { name: 'x', key: 'mine' }, 'body.key'],
  ])('refuses a provisioning key body (%s) with 400 naming the field', async (_, body, field) => {
    const res = await h.call('POST', '/v1/provisioning-keys', { body });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', field });
  });

  it("sets the fleet's WebSocket heartbeat for the calling tenant only", async () => {
    expect((await h.call('GET', '/v1/fleet')).json()).toMatchObject({ id: 'default', wsHeartbeatMs: null });
    const set = await h.call('PATCH', '/v1/fleet', { body: { wsHeartbeatMs: 15_000 } });
    expect(set.statusCode).toBe(200);
    expect(set.json()).toMatchObject({ id: 'default', wsHeartbeatMs: 15_000 });
    expect((await h.sql`select ws_heartbeat_ms from tenants where id = 'default'`)[0]!.ws_heartbeat_ms).toBe(
      15_000,
    );
    expect((await h.call('GET', '/v1/fleet')).json().wsHeartbeatMs).toBe(15_000);
    expect((await h.call('GET', '/v1/fleet', { key: OTHER_KEY })).json()).toMatchObject({
      id: 'tenant-d',
      wsHeartbeatMs: null,
    });
    expect(
      (await h.call('PATCH', '/v1/fleet', { body: { wsHeartbeatMs: null } })).json().wsHeartbeatMs,
    ).toBeNull();
    expect((await h.call('PATCH', '/v1/fleet', { body: { wsHeartbeatMs: 1000 } })).json().wsHeartbeatMs).toBe(
      1000,
    );
  });

  it.each([
    ['below the range', { wsHeartbeatMs: 999 }],
    ['above the range', { wsHeartbeatMs: 600_001 }],
    ['not an integer', { wsHeartbeatMs: 1500.5 }],
    ['a string', { wsHeartbeatMs: '5000' }],
    ['missing', {}],
  ])('refuses a fleet heartbeat %s with 400 naming body.wsHeartbeatMs', async (_, body) => {
    const res = await h.call('PATCH', '/v1/fleet', { body });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'VALIDATION_ERROR', field: 'body.wsHeartbeatMs' });
    expect((await h.call('GET', '/v1/fleet')).json().wsHeartbeatMs).toBe(1000);
  });
});
