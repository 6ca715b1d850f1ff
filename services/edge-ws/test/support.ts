import { hashSecret, newSecret, type RunningService, SECRET_KIND, startService } from '@fleetwire/runtime';
import type { TestEnv } from '@fleetwire/testkit';
import type postgres from 'postgres';
import { type EdgeWsInstance, edgeWs } from '../src/main.ts';
import { postJson } from './device-client.ts';

export type RunningEdge = RunningService<typeof edgeWs.config, EdgeWsInstance>;

/** Heartbeat 300 ms: a silent device is offline within a second. */
export const TEST_HEARTBEAT_MS = 300;

export async function startEdge(env: TestEnv, extra: Record<string, string> = {}): Promise<RunningEdge> {
  return startService(
    edgeWs,
    env.serviceEnv({
      FW_WS_PORT: '0',
      FW_WS_HEARTBEAT: `${TEST_HEARTBEAT_MS}ms`,
      FW_WS_DRAIN_SPREAD: '200ms',
      ...extra,
    }),
  );
}

export function baseUrlOf(edge: RunningEdge): string {
  return `http://127.0.0.1:${edge.instance.port}`;
}

/** A ws device registered the way the API does it: a credential whose hash only is stored. */
export async function registerDevice(
  sql: postgres.Sql,
  deviceId: string,
  tenant = 'default',
): Promise<string> {
  const credential = newSecret(SECRET_KIND.DEVICE_CREDENTIAL);
  await sql`
    insert into devices (tenant_id, id, kind, credential_hash, credential_issued_at)
    values (${tenant}, ${deviceId}, 'ws', ${hashSecret(credential)}, now())`;
  return credential;
}

/** Starts a session with the device's credential and returns its token. */
export async function sessionToken(baseUrl: string, deviceId: string, credential: string): Promise<string> {
  const res = await postJson(`${baseUrl}/device/v1/sessions`, { deviceId, credential });
  if (res.status !== 201) throw new Error(`session start failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}
