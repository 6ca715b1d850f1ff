import {
  type DeviceId,
  encodeBusMessage,
  jetStreamTopology,
  MSG_TYPE,
  PROTO,
  type TelemetryMessage,
  type TenantId,
} from '@fleetwire/protocol';
import { type RunningService, startService } from '@fleetwire/runtime';
import { connectTestNats, createTestEnv, eventually, type TestEnv, testSql } from '@fleetwire/testkit';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telemetry } from '../src/main.ts';

const DEVICE = '356307042441777' as DeviceId;
const TENANT = 'default' as TenantId;

/**
 * The batch handler end to end: messages the direct path writes, ones it hands to the reference
 * path, and one PostgreSQL would refuse, published together so that they share batches.
 */
describe('telemetry writer (real NATS and PostgreSQL)', () => {
  let env: TestEnv;
  let service: RunningService<typeof telemetry.config>;
  let nc: NatsConnection;
  let sql: postgres.Sql;

  beforeAll(async () => {
    env = await createTestEnv('writer');
    service = await startService(telemetry, env.serviceEnv());
    nc = await connectTestNats(env);
    sql = testSql(env);
    await sql`insert into devices (tenant_id, id, kind) values (${TENANT}, ${DEVICE}, 'tracker')`;
  });

  afterAll(async () => {
    await service?.stop();
    await nc?.close();
    await sql?.end({ timeout: 1 });
  });

  it('stores what both paths read, byte-exact jsonb, and terminates a message the database would refuse', async () => {
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
    const message = (deviceTime: number, extra: object): TelemetryMessage => ({
      tenant: TENANT,
      deviceId: DEVICE,
      source: 'teltonika',
      codec: 0x8e,
      records: [{ deviceTime, receivedAt: t0 + 100_000, ...extra }],
    });
    const direct = message(t0, {
      position: { lat: -33.5, lon: -70.25, alt: 520.4, angle: 359.6, satellites: 9, speed: 47.5 },
      io: { '1': 1, '78': 'ff00aa', '240': 2 ** 40 },
      attributes: { ignition: true, label: 'Zürich "Ω" 🚚' },
    });
    // '007' is not an array index: its key order is JSON.stringify's business, not the direct path's.
    const reference = message(t0 + 1000, { io: { '007': 7, '3': 3 }, attributes: { x: -0.5 } });
    const refused = message(t0 + 2000, { position: { lat: 1, lon: 2, alt: 1e12 } });
    const js = jetstream(nc);
    const subject = jetStreamTopology({ root: env.subjectRoot }).subjects.up(TENANT, DEVICE, 'telemetry');
    for (const m of [direct, refused, reference])
      await js.publish(subject, encodeBusMessage(PROTO.TELEMETRY, MSG_TYPE.TELEMETRY.RECORD, m));

    const rows = await eventually(async () => {
      const found = await sql<{ t: number; io: string; attributes: string; altitude: number | null }[]>`
        select extract(epoch from device_time) * 1000 as t, io::text, attributes::text, altitude
        from telemetry where device_id = ${DEVICE} order by device_time`;
      return found.length >= 2 && found;
    });
    expect(rows.map((r) => Number(r.t))).toEqual([t0, t0 + 1000]);
    expect(rows[0]).toMatchObject({
      io: '{"1": 1, "78": "ff00aa", "240": 1099511627776}',
      attributes: '{"label": "Zürich \\"Ω\\" 🚚", "ignition": true}',
      altitude: 520,
    });
    expect(rows[1]).toMatchObject({ io: '{"3": 3, "007": 7}', attributes: '{"x": -0.5}', altitude: null });

    // The refused message is terminated, not left to be redelivered forever.
    const spec = jetStreamTopology({ root: env.subjectRoot }).consumers.telemetryWriter;
    const jsm = await jetstreamManager(nc);
    await eventually(async () => {
      const info = await jsm.consumers.info(spec.streamName, spec.durableName);
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.num_redelivered === 0;
    });
    // device_state from the light records: the newest one's position (none), attributes merged.
    const state = await eventually(async () => {
      const [row] = await sql<{ t: number; latitude: number | null; attributes: object }[]>`
        select extract(epoch from device_time) * 1000 as t, latitude, attributes
        from device_state where device_id = ${DEVICE}`;
      return row !== undefined && Number(row.t) === t0 + 1000 && row;
    });
    expect(state.latitude).toBeNull();
    expect(state.attributes).toEqual({ ignition: true, label: 'Zürich "Ω" 🚚', x: -0.5 });
  });
});
