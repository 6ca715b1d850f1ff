import { type DeviceId, jetStreamTopology, presenceKey, type TenantId } from '@fleetwire/protocol';
import { connectTestNats, createTestEnv, eventually, type TestEnv, testSql } from '@fleetwire/testkit';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceClient } from './device-client.ts';
import { baseUrlOf, type RunningEdge, registerDevice, sessionToken, startEdge } from './support.ts';

const TENANT = 'default' as TenantId;

/** An edge whose lease vanished (it was cut off for a whole TTL) drops its devices so they reconnect. */
describe('edge-ws lease (real NATS, PostgreSQL and ws clients)', () => {
  let env: TestEnv;
  let sql: postgres.Sql;
  let nc: NatsConnection;
  let edge: RunningEdge;

  beforeAll(async () => {
    env = await createTestEnv('edge_ws_lease');
    edge = await startEdge(env, { FW_EDGE_ID: 'edge-leased', FW_EDGE_LEASE_TTL: '1s' });
    sql = testSql(env);
    nc = await connectTestNats(env);
  });

  afterAll(async () => {
    await edge?.stop();
    await nc?.close();
    await sql?.end();
  });

  it('holds a lease while running, and closes every connection with 1012 when it is lost', async () => {
    const kvm = new Kvm(jetstream(nc));
    const topology = jetStreamTopology({ root: env.subjectRoot });
    const edges = await kvm.open(topology.kv.edges.bucket);
    const presence = await kvm.open(topology.kv.presence.bucket);
    expect((await edges.get('edge-leased'))?.json()).toMatchObject({
      edgeId: 'edge-leased',
      transport: 'ws',
    });

    const base = baseUrlOf(edge);
    const credential = await registerDevice(sql, 'gw-leased');
    const client = await DeviceClient.connect(base, {
      token: await sessionToken(base, 'gw-leased', credential),
    });
    const { accept } = await client.open();
    const epoch = accept.hdr.props?.epoch as number;

    await edges.purge('edge-leased');
    expect(await client.closed).toMatchObject({ code: 1012 });
    await eventually(async () => (await edges.get('edge-leased'))?.operation === 'PUT' || undefined);

    // The device comes back on the same edge with a newer epoch and is online again.
    const again = await DeviceClient.connect(base, {
      token: await sessionToken(base, 'gw-leased', credential),
    });
    const reopened = await again.open();
    expect(reopened.accept.hdr.props?.epoch as number).toBeGreaterThan(epoch);
    expect((await presence.get(presenceKey(TENANT, 'gw-leased' as DeviceId)))?.json()).toMatchObject({
      state: 'online',
      edgeId: 'edge-leased',
    });
    again.ws.close();
  });
});
