import { createHash } from 'node:crypto';
import { hashSecret } from '@fleetwire/runtime';
import { createTestEnv, type TestEnv, testSql } from '@fleetwire/testkit';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgIdentityStore } from '../src/adapters/identity.ts';
import { DeviceClient, postJson, type Refusal } from './device-client.ts';
import { baseUrlOf, type RunningEdge, registerDevice, sessionToken, startEdge } from './support.ts';

const LOG_MAX_BYTES = 64 * 1024;

describe('edge-ws identity: sessions, upgrades and log uploads (real PostgreSQL, NATS, HTTP)', () => {
  let env: TestEnv;
  let sql: postgres.Sql;
  let edge: RunningEdge;
  /** A second instance whose sessions expire at once. */
  let shortLived: RunningEdge;
  let base: string;
  const sessions = () => `${base}/device/v1/sessions`;

  beforeAll(async () => {
    env = await createTestEnv('edge_ws_sessions');
    [edge, shortLived] = await Promise.all([
      startEdge(env, { FW_WS_LOG_MAX_BYTES: String(LOG_MAX_BYTES) }),
      startEdge(env, { FW_WS_SESSION_TTL: '1ms' }),
    ]);
    base = baseUrlOf(edge);
    sql = testSql(env);
  });

  afterAll(async () => {
    await Promise.all([edge?.stop(), shortLived?.stop()]);
    await sql?.end();
  });

  it("starts a session with the device's credential: token and cookie, identity recorded, only hashes stored", async () => {
    const credential = await registerDevice(sql, 'gw-cred');
    const identity = { serial: 'SN-1', mac: 'aa:bb:cc:dd:ee:ff', localIp: '10.0.0.7', firmware: '1.4.2' };
    const res = await postJson(sessions(), { deviceId: 'gw-cred', credential, identity });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      deviceId: 'gw-cred',
      tenant: 'default',
      heartbeatMs: 300,
      connectPath: '/device/v1/connect',
    });
    expect(res.body).not.toHaveProperty('credential');
    const token = res.body.token as string;
    expect(token).toMatch(/^fws_/);
    expect(res.body.sessionId).toMatch(/^ses_/);
    const expiresAt = Date.parse(res.body.expiresAt as string);
    expect(expiresAt - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(res.headers.get('set-cookie')).toMatch(new RegExp(`^fw_session=${token}; Path=/device; HttpOnly`));

    const [session] = await sql`select * from device_sessions where id = ${res.body.sessionId as string}`;
    expect(session).toMatchObject({
      tenant_id: 'default',
      device_id: 'gw-cred',
      token_hash: hashSecret(token),
    });
    expect(JSON.stringify(session)).not.toContain(token);
    const [device] = await sql`select identity from devices where id = 'gw-cred'`;
    expect(device!.identity).toEqual(identity);
  });

  it('registers a device with a provisioning key: the credential is returned once and only its hash is kept', async () => {
    const key = 'fwp_test-fleet-key';
    await sql`insert into provisioning_keys (tenant_id, id, name, key_hash) values ('default', 'pk1', 'fleet', ${hashSecret(key)})`;
    const res = await postJson(sessions(), {
      deviceId: 'gw-prov',
      provisioningKey: key,
      identity: { model: 'X1' },
    });
    expect(res.status).toBe(201);
    const credential = res.body.credential as string;
    expect(credential).toMatch(/^fwd_/);
    const [device] = await sql`select * from devices where id = 'gw-prov'`;
    expect(device).toMatchObject({
      kind: 'ws',
      credential_hash: hashSecret(credential),
      identity: { model: 'X1' },
    });
    expect(device!.credential_issued_at).toBeInstanceOf(Date);

    // Later sessions use the credential; the key never opens one for an existing device.
    const later = await postJson(sessions(), { deviceId: 'gw-prov', credential });
    expect(later.status).toBe(201);
    expect(later.body).not.toHaveProperty('credential');
    const again = await postJson(sessions(), { deviceId: 'gw-prov', provisioningKey: key });
    expect(again).toMatchObject({ status: 409, body: { error: 'already_provisioned' } });

    // A revoked key registers nothing more.
    await sql`update provisioning_keys set revoked_at = now() where id = 'pk1'`;
    const revoked = await postJson(sessions(), { deviceId: 'gw-prov-2', provisioningKey: key });
    expect(revoked).toMatchObject({ status: 401, body: { error: 'bad_provisioning_key' } });
    expect((await sql`select 1 from devices where id = 'gw-prov-2'`).length).toBe(0);
  });

  it("tells the device its fleet's heartbeat when the tenant sets one, in the session and in accept", async () => {
    await sql`insert into tenants (id, name, ws_heartbeat_ms) values ('acme', 'Acme', 2000)`;
    const credential = await registerDevice(sql, 'gw-acme', 'acme');
    const res = await postJson(sessions(), { deviceId: 'gw-acme', credential });
    expect(res.body).toMatchObject({ tenant: 'acme', heartbeatMs: 2000 });
    const client = await DeviceClient.connect(base, { token: res.body.token as string });
    const { accept } = await client.open();
    expect(accept.hdr.props).toMatchObject({ heartbeatMs: 2000, deviceId: 'gw-acme' });
    await client.close();
  });

  it('removes sessions that expired more than a day ago, and only those', async () => {
    await sql`
      insert into device_sessions (id, tenant_id, device_id, token_hash, expires_at) values
        ('ses_old', 'default', 'gw-cred', 'h-old', now() - interval '25 hours'),
        ('ses_recent', 'default', 'gw-cred', 'h-recent', now() - interval '23 hours')`;
    const removed = await new PgIdentityStore(sql).removeExpiredSessions(24 * 3600_000);
    expect(removed).toBe(1);
    const left = await sql`select id from device_sessions where id in ('ses_old', 'ses_recent')`;
    expect(left.map((r) => r.id)).toEqual(['ses_recent']);
  });

  it('refuses session starts with the documented codes, naming bad fields', async () => {
    const credential = await registerDevice(sql, 'gw-refuse');
    const cases: Array<[unknown, number, string, string?]> = [
      [{ deviceId: 'gw refuse', credential }, 400, 'invalid_request', 'deviceId'],
      [{ credential }, 400, 'invalid_request', 'deviceId'],
      [
        { deviceId: 'gw-refuse', credential, identity: { mac: 'x'.repeat(129) } },
        400,
        'invalid_request',
        'identity.mac',
      ],
      [{ deviceId: 'gw-refuse', credential, colour: 'red' }, 400, 'invalid_request', 'colour'],
      [{ deviceId: 'gw-refuse', credential: 42 }, 400, 'invalid_request', 'credential'],
      [{ deviceId: 'gw-refuse' }, 400, 'invalid_request', 'credential'],
      [{ deviceId: 'gw-refuse', credential: 'fwd_not-it' }, 401, 'bad_credential'],
      [{ deviceId: 'gw-cred', credential }, 401, 'bad_credential'],
      [{ deviceId: 'gw-nobody', credential: 'fwd_not-it' }, 401, 'unknown_device'],
      [{ deviceId: 'gw-nobody' }, 401, 'unknown_device'],
      [{ deviceId: 'gw-nobody', provisioningKey: 'fwp_nope' }, 401, 'bad_provisioning_key'],
    ];
    for (const [body, status, error, field] of cases) {
      const res = await postJson(sessions(), body);
      expect(
        { status: res.status, error: res.body.error, field: res.body.field },
        JSON.stringify(body),
      ).toEqual({
        status,
        error,
        field,
      });
      expect(typeof res.body.message).toBe('string');
    }
    const malformed = await fetch(sessions(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"deviceId":',
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: 'invalid_request', field: 'body' });
  });

  it("answers the seed device's GET /devices/devicesopen in the seed's shape", async () => {
    const credential = await registerDevice(sql, '251306200097');
    const query = new URLSearchParams({
      pts: String(Date.now()),
      'S[S]': credential,
      'S[lang]': 'tr',
      'S[serial_no]': '251306200097',
      'S[serial_no_hw]': '724564889999',
      d_mac_id: '02:42:ac:11:00:02',
      d_local_ip: '172.17.0.2',
      d_firmware: 'SAMPLE_DEVICE',
    });
    const res = await fetch(`${base}/devices/devicesopen?${query}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; data: Record<string, unknown> };
    expect(body).toMatchObject({
      status: 'succes',
      data: { result: 'done', devices_id: '251306200097', devices_last_state: 'opened' },
    });
    const token = body.data.S as string;
    expect(token).toMatch(/^fws_/);
    const [device] = await sql`select identity from devices where id = '251306200097'`;
    expect(device!.identity).toEqual({
      serial: '251306200097',
      hwSerial: '724564889999',
      mac: '02:42:ac:11:00:02',
      localIp: '172.17.0.2',
      firmware: 'SAMPLE_DEVICE',
    });
    // The token works with the seed's cookie.
    const client = await DeviceClient.connect(base, { cookie: `S=${token}` });
    await client.open();
    await client.close();

    const bad = await fetch(
      `${base}/devices/devicesopen?${new URLSearchParams({ 'S[S]': 'fwd_x', 'S[serial_no]': '251306200097' })}`,
    );
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ error: 'bad_credential' });
  });

  it('answers every caller of a batched session start and upgrade check with its own outcome', async () => {
    // Concurrent requests share one statement per event-loop turn: each must still get its own answer.
    const ids = Array.from({ length: 12 }, (_, i) => `gw-batch-${i}`);
    const credentials = await Promise.all(ids.map((id) => registerDevice(sql, id)));
    const starts = await Promise.all(
      ids.map((deviceId, i) =>
        postJson(sessions(), {
          deviceId,
          // Every third device sends another device's credential; every other one reports an identity.
          credential: i % 3 === 2 ? credentials[(i + 1) % ids.length] : credentials[i],
          ...(i % 2 === 0 ? { identity: { serial: `SN-${i}` } } : {}),
        }),
      ),
    );
    for (const [i, res] of starts.entries()) {
      if (i % 3 === 2) {
        expect(res, ids[i]).toMatchObject({ status: 401, body: { error: 'bad_credential' } });
        continue;
      }
      expect(res.status, ids[i]).toBe(201);
      expect(res.body.deviceId).toBe(ids[i]);
      const [row] =
        await sql`select device_id from device_sessions where id = ${res.body.sessionId as string}`;
      expect(row?.device_id).toBe(ids[i]);
    }
    const identities = await sql`select id, identity from devices where id = any(${ids}) order by id`;
    for (const { id, identity } of identities) {
      const i = Number(id.split('-').at(-1));
      expect(identity, id).toEqual(i % 2 === 0 && i % 3 !== 2 ? { serial: `SN-${i}` } : {});
    }
    const tokens = starts.filter((r) => r.status === 201).map((r) => r.body.token as string);
    const attempts = await Promise.all(
      [...tokens, 'fws_not-a-session'].map((token) => DeviceClient.attempt(base, { token })),
    );
    for (const attempt of attempts.slice(0, -1)) {
      expect(attempt).toBeInstanceOf(DeviceClient);
      await (attempt as DeviceClient).close();
    }
    expect(attempts.at(-1)).toMatchObject({ status: 401, body: { error: 'session_unknown' } });
  });

  it('refuses upgrades before any frame: subprotocol, missing, unknown, expired, revoked, deprovisioned', async () => {
    const credential = await registerDevice(sql, 'gw-up');
    const live = await sessionToken(base, 'gw-up', credential);
    const expired = await sessionToken(baseUrlOf(shortLived), 'gw-up', credential);
    const revoked = await sessionToken(base, 'gw-up', credential);
    await sql`update device_sessions set revoked_at = now() where token_hash = ${hashSecret(revoked)}`;

    const refused = async (opts: Parameters<typeof DeviceClient.attempt>[1]): Promise<Refusal> => {
      const result = await DeviceClient.attempt(base, opts);
      if (result instanceof DeviceClient) {
        await result.close();
        throw new Error('upgrade accepted');
      }
      return result;
    };
    expect(await refused({ token: live, protocols: ['chat'] })).toMatchObject({
      status: 400,
      body: { error: 'subprotocol_required' },
    });
    expect(await refused({})).toMatchObject({ status: 401, body: { error: 'session_missing' } });
    expect(await refused({ token: 'fws_unknown' })).toMatchObject({
      status: 401,
      body: { error: 'session_unknown' },
    });
    expect(await refused({ token: expired })).toMatchObject({
      status: 401,
      body: { error: 'session_expired' },
    });
    expect(await refused({ token: revoked })).toMatchObject({
      status: 401,
      body: { error: 'session_revoked' },
    });
    expect(await refused({ token: live, path: '/socket.io/' })).toMatchObject({ status: 404 });

    // The live session connects (bearer, then cookie) ...
    for (const opts of [{ token: live }, { cookie: `fw_session=${live}` }]) {
      const ok = await DeviceClient.connect(base, opts);
      await ok.open();
      await ok.close();
    }
    // ... until its credential is re-issued, and then once the device is deleted.
    await sql`update devices set credential_issued_at = now() + interval '1 second' where id = 'gw-up'`;
    expect(await refused({ token: live })).toMatchObject({
      status: 403,
      body: { error: 'device_deprovisioned' },
    });
    const fresh = await registerDevice(sql, 'gw-gone');
    const gone = await sessionToken(base, 'gw-gone', fresh);
    await sql`delete from devices where id = 'gw-gone'`;
    expect(await refused({ token: gone })).toMatchObject({
      status: 403,
      body: { error: 'device_deprovisioned' },
    });

    const metrics = await (await fetch(`http://127.0.0.1:${edge.opsPort}/metrics`)).text();
    expect(metrics).toMatch(
      /fleetwire_edge_ws_upgrades_refused_total\{[^}]*reason="session_expired"[^}]*\} 1/,
    );
  });

  it('streams a log upload into the log store: 201 and a row; 413 past the limit leaving nothing', async () => {
    const credential = await registerDevice(sql, 'gw-logs');
    const token = await sessionToken(base, 'gw-logs', credential);
    const upload = (path: string, bytes: Uint8Array, headers: Record<string, string>) => {
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: 'application/json' }), 'LogRecords.txt');
      return fetch(`${base}${path}`, { method: 'POST', body: form, headers });
    };
    const content = new TextEncoder().encode(JSON.stringify([{ level: 'LOG', message: 'hello' }]));
    const ok = await upload('/device/v1/logs', content, { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(201);
    const stored = (await ok.json()) as { logId: string; sizeBytes: number; sha256: string };
    expect(stored.sizeBytes).toBe(content.length);
    expect(stored.sha256).toBe(hashOf(content));
    const [row] = await sql`select * from device_logs where id = ${stored.logId}`;
    expect(row).toMatchObject({ device_id: 'gw-logs', tenant_id: 'default', file_name: 'LogRecords.txt' });

    // The seed's path and cookie.
    const seed = await upload('/deviceslog/devlogup', content, { cookie: `S=${token}` });
    expect(seed.status).toBe(201);

    const rowsBefore = (await sql`select count(*)::int as n from device_logs where device_id = 'gw-logs'`)[0]!
      .n;
    const tooLarge = await upload('/device/v1/logs', new Uint8Array(LOG_MAX_BYTES + 1).fill(65), {
      authorization: `Bearer ${token}`,
    });
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: 'log_too_large' });
    const rowsAfter = (await sql`select count(*)::int as n from device_logs where device_id = 'gw-logs'`)[0]!
      .n;
    expect(rowsAfter).toBe(rowsBefore);

    const exactly = await upload('/device/v1/logs', new Uint8Array(LOG_MAX_BYTES).fill(66), {
      authorization: `Bearer ${token}`,
    });
    expect(exactly.status).toBe(201);

    const anonymous = await upload('/device/v1/logs', content, {});
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: 'session_missing' });
    const noFile = await fetch(`${base}/device/v1/logs`, {
      method: 'POST',
      body: (() => {
        const f = new FormData();
        f.append('other', 'x');
        return f;
      })(),
      headers: { authorization: `Bearer ${token}` },
    });
    expect(noFile.status).toBe(400);
    expect(await noFile.json()).toMatchObject({ error: 'invalid_request', field: 'file' });
  });
});

function hashOf(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
