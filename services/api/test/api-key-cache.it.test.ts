import { type RunningService, startService } from '@fleetwire/runtime';
import { eventually } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY_CACHE_TTL_MS, ApiKeyStore } from '../src/adapters/api-key-store.ts';
import { type ApiInstance, api } from '../src/main.ts';
import { type ApiHarness, SEED_KEY, startApi } from './support.ts';

describe('API key lookups are cached, and a revocation reaches every instance promptly', () => {
  let h: ApiHarness;
  /** A second API instance on the same database, as in a deployment with two replicas. */
  let other: RunningService<typeof api.config, ApiInstance>;
  const callOther = (key: string) =>
    other.instance.app.inject({ method: 'GET', url: '/v1/devices', headers: { 'x-api-key': key } });

  beforeAll(async () => {
    h = await startApi('api-key-cache');
    other = await startService(api, h.env.serviceEnv({ API_PORT: '0', IOT_API_KEY: SEED_KEY }));
  });
  afterAll(async () => {
    await other?.stop();
    await h?.close();
  });

  const createKey = async () => (await h.call('POST', '/v1/api-keys', { body: { name: 'replica' } })).json();

  it('a key revoked on one instance stops working on the other well within the cache TTL', async () => {
    const { id, key } = await createKey();
    expect((await callOther(key)).statusCode).toBe(200); // now cached on the other instance
    expect((await h.call('DELETE', `/v1/api-keys/${id}`)).statusCode).toBe(204);
    const revokedAt = Date.now();
    await eventually(
      async () => (await callOther(key)).statusCode === 401,
      3_000,
      'revoked on the other instance',
    );
    expect(Date.now() - revokedAt).toBeLessThan(API_KEY_CACHE_TTL_MS);
  });

  it('a key revoked or deleted by SQL, outside the API, stops working promptly too', async () => {
    const first = await createKey();
    const second = await createKey();
    for (const { key } of [first, second])
      expect((await h.call('GET', '/v1/devices', { key })).statusCode).toBe(200);
    await h.sql`update api_keys set revoked_at = now() where id = ${first.id}`;
    await h.sql`delete from api_keys where id = ${second.id}`;
    for (const { key } of [first, second]) {
      await eventually(async () => (await h.call('GET', '/v1/devices', { key })).statusCode === 401, 3_000);
    }
  });

  it('reuses a lookup for the TTL without asking PostgreSQL, and never caches an unknown key', async () => {
    const store = new ApiKeyStore(h.sql, { cacheTtlMs: 400 }); // not listening: only the TTL bounds it
    const { id, key } = await createKey();
    expect(await store.authenticate(key)).toEqual({ tenant: 'default', keyId: id });
    await h.sql`update api_keys set revoked_at = now() where id = ${id}`;
    expect(await store.authenticate(key)).toEqual({ tenant: 'default', keyId: id });
    await eventually(async () => (await store.authenticate(key)) === undefined, 3_000, 'TTL expiry');

    const late = 'fwk_created-after-a-failed-lookup-0123456789';
    expect(await store.authenticate(late)).toBeUndefined();
    await store.ensure('default', late, 'late');
    expect(await store.authenticate(late)).toMatchObject({ tenant: 'default' });
  });
});
