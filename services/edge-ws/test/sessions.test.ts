import type { DeviceId, SessionId, TenantId } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { DeviceError } from '../src/domain/errors.ts';
import {
  authenticate,
  checkSession,
  type IdentityStore,
  type SessionInput,
  type SessionRecord,
  sessionTokenFrom,
  startSession,
} from '../src/domain/sessions.ts';

const opts = { ttlMs: 60_000, defaultHeartbeatMs: 5_000 };
const id = (s: string) => s as DeviceId;

/** A registry in memory: devices by credential, provisioning keys by key, sessions opened. */
class FakeIdentity implements IdentityStore {
  devices = new Map<string, { tenant: TenantId; deviceId: DeviceId; kind: string; credential?: string }>();
  keys = new Map<string, TenantId>();
  opened: Array<SessionInput & { tenant: TenantId }> = [];
  tenantHeartbeatMs: number | null = null;
  sessions = new Map<string, SessionRecord>();

  async openSessionWithCredential(credential: string, input: SessionInput) {
    const d = [...this.devices.values()].find((x) => x.credential === credential);
    if (!d || d.deviceId !== input.deviceId || d.kind !== 'ws') return undefined;
    return this.#open(d.tenant, input);
  }
  async deviceIdTaken(deviceId: DeviceId) {
    return this.devices.has(deviceId);
  }
  async provisioningKeyTenant(key: string) {
    return this.keys.get(key);
  }
  async registerAndOpenSession(tenant: TenantId, input: SessionInput) {
    if (this.devices.has(input.deviceId)) return undefined;
    const credential = `fwd_new_${input.deviceId}`;
    this.devices.set(input.deviceId, { tenant, deviceId: input.deviceId, kind: 'ws', credential });
    return { ...this.#open(tenant, input), credential };
  }
  #open(tenant: TenantId, input: SessionInput) {
    this.opened.push({ ...input, tenant });
    return {
      tenant,
      token: `tok-${this.opened.length}`,
      sessionId: `ses_${this.opened.length}` as SessionId,
      expiresAt: new Date(0),
      tenantHeartbeatMs: this.tenantHeartbeatMs,
    };
  }
  async findSession(token: string) {
    return this.sessions.get(token);
  }
}

function fleet(): FakeIdentity {
  const store = new FakeIdentity();
  store.devices.set('gw-1', {
    tenant: 'acme' as TenantId,
    deviceId: id('gw-1'),
    kind: 'ws',
    credential: 'fwd_gw1',
  });
  store.devices.set('356307042441013', {
    tenant: 'acme' as TenantId,
    deviceId: id('356307042441013'),
    kind: 'tracker',
    credential: 'fwd_tracker',
  });
  store.keys.set('fwp_fleet', 'acme' as TenantId);
  return store;
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; status: number; field?: string }> {
  const err = await p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeviceError);
  const d = err as DeviceError;
  return { code: d.code, status: d.status, ...(d.field ? { field: d.field } : {}) };
}

describe('startSession', () => {
  it("opens a session with the device's own credential, in the device's tenant", async () => {
    const store = fleet();
    const identity = { firmware: '2.0' };
    const grant = await startSession(store, { deviceId: id('gw-1'), credential: 'fwd_gw1', identity }, opts);
    expect(grant).toMatchObject({ tenant: 'acme', deviceId: 'gw-1', token: 'tok-1', heartbeatMs: 5_000 });
    expect(grant.credential).toBeUndefined();
    expect(store.opened).toEqual([{ tenant: 'acme', deviceId: 'gw-1', identity, ttlMs: 60_000 }]);
  });

  it("uses the tenant's heartbeat when it has one", async () => {
    const store = fleet();
    store.tenantHeartbeatMs = 15_000;
    const grant = await startSession(store, { deviceId: id('gw-1'), credential: 'fwd_gw1' }, opts);
    expect(grant.heartbeatMs).toBe(15_000);
  });

  it('provisions an unknown device with a provisioning key and hands out its credential once', async () => {
    const store = fleet();
    const grant = await startSession(store, { deviceId: id('gw-new'), provisioningKey: 'fwp_fleet' }, opts);
    expect(grant).toMatchObject({ tenant: 'acme', deviceId: 'gw-new', credential: 'fwd_new_gw-new' });
    const again = await startSession(store, { deviceId: id('gw-new'), credential: grant.credential }, opts);
    expect(again.credential).toBeUndefined();
  });

  it('refuses each case with its code', async () => {
    const store = fleet();
    const cases: Array<
      [Parameters<typeof startSession>[1], { code: string; status: number; field?: string }]
    > = [
      [
        { deviceId: id('gw-1'), credential: 'fwd_wrong' },
        { code: 'bad_credential', status: 401 },
      ],
      // Another device's credential is not this device's.
      [
        { deviceId: id('gw-1'), credential: 'fwd_tracker' },
        { code: 'bad_credential', status: 401 },
      ],
      // A tracker has no WebSocket sessions even with its own credential.
      [
        { deviceId: id('356307042441013'), credential: 'fwd_tracker' },
        { code: 'bad_credential', status: 401 },
      ],
      [
        { deviceId: id('gw-9'), credential: 'fwd_x' },
        { code: 'unknown_device', status: 401 },
      ],
      [{ deviceId: id('gw-9') }, { code: 'unknown_device', status: 401 }],
      [{ deviceId: id('gw-1') }, { code: 'invalid_request', status: 400, field: 'credential' }],
      [
        { deviceId: id('gw-9'), provisioningKey: 'fwp_revoked' },
        { code: 'bad_provisioning_key', status: 401 },
      ],
      // A leaked fleet key does not open a session for a device that exists.
      [
        { deviceId: id('gw-1'), provisioningKey: 'fwp_fleet' },
        { code: 'already_provisioned', status: 409 },
      ],
      // Nor does a wrong credential plus the key.
      [
        { deviceId: id('gw-1'), credential: 'fwd_wrong', provisioningKey: 'fwp_fleet' },
        { code: 'bad_credential', status: 401 },
      ],
    ];
    for (const [request, expected] of cases) {
      expect(await refusal(startSession(store, request, opts)), JSON.stringify(request)).toEqual(expected);
    }
    expect(store.opened).toEqual([]);
  });

  it('provisions when a stale credential comes with the key for a device that does not exist yet', async () => {
    const store = fleet();
    const grant = await startSession(
      store,
      { deviceId: id('gw-2'), credential: 'fwd_lost', provisioningKey: 'fwp_fleet' },
      opts,
    );
    expect(grant.credential).toBeDefined();
  });
});

describe('checkSession', () => {
  const record: SessionRecord = {
    sessionId: 'ses_1' as SessionId,
    tenant: 'acme' as TenantId,
    deviceId: id('gw-1'),
    revoked: false,
    expired: false,
    deprovisioned: false,
    tenantHeartbeatMs: null,
  };

  it('lets a live session through with the heartbeat to use', () => {
    expect(checkSession(record, 5_000)).toEqual({
      sessionId: 'ses_1',
      tenant: 'acme',
      deviceId: 'gw-1',
      heartbeatMs: 5_000,
    });
    expect(checkSession({ ...record, tenantHeartbeatMs: 2_000 }, 5_000).heartbeatMs).toBe(2_000);
  });

  it('names why a session may not be used, most permanent first', async () => {
    const code = (r: SessionRecord | undefined) => {
      try {
        checkSession(r, 5_000);
        return 'ok';
      } catch (err) {
        return `${(err as DeviceError).status} ${(err as DeviceError).code}`;
      }
    };
    expect(code(undefined)).toBe('401 session_unknown');
    expect(code({ ...record, expired: true })).toBe('401 session_expired');
    expect(code({ ...record, revoked: true, expired: true })).toBe('401 session_revoked');
    expect(code({ ...record, deprovisioned: true, revoked: true })).toBe('403 device_deprovisioned');
  });

  it('authenticate refuses a request without a token before looking anything up', async () => {
    const store = fleet();
    expect(await refusal(authenticate(store, {}, 5_000))).toEqual({ code: 'session_missing', status: 401 });
    store.sessions.set('tok', record);
    expect((await authenticate(store, { authorization: 'Bearer tok' }, 5_000)).deviceId).toBe('gw-1');
  });
});

describe('sessionTokenFrom', () => {
  it('reads the bearer token, the fw_session cookie or the seed cookie S', () => {
    expect(sessionTokenFrom({ authorization: 'Bearer fws_abc' })).toBe('fws_abc');
    expect(sessionTokenFrom({ authorization: 'bearer   fws_abc ' })).toBe('fws_abc');
    expect(sessionTokenFrom({ cookie: 'a=1; fw_session=fws_c; S=fws_s' })).toBe('fws_c');
    expect(sessionTokenFrom({ cookie: 'S=fws_seed' })).toBe('fws_seed');
    expect(sessionTokenFrom({ cookie: 'S="fws_quoted"' })).toBe('fws_quoted');
    expect(sessionTokenFrom({ authorization: 'Bearer fws_h', cookie: 'fw_session=fws_c' })).toBe('fws_h');
  });

  it('finds nothing in other schemes or cookies', () => {
    expect(sessionTokenFrom({})).toBeUndefined();
    expect(sessionTokenFrom({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined();
    expect(sessionTokenFrom({ cookie: 'SS=x; fw_sessionx=y; S=' })).toBeUndefined();
  });
});
