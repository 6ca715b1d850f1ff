import { createHash } from 'node:crypto';
import { jetStreamTopology, objectStoreStreamName } from '@fleetwire/protocol';
import {
  connectNats,
  connectPostgres,
  createLogger,
  migrate,
  type NatsHandle,
  provision,
  provisioningFor,
  type Sql,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { createTestEnv, type TestEnv } from '@fleetwire/testkit';
import { DeviceLogStore } from '../src/index.ts';

export interface LogTestContext {
  env: TestEnv;
  sql: Sql;
  nats: NatsHandle;
  bucket: string;
  store: DeviceLogStore;
  /** Messages (chunks and metadata) in the bucket's stream. */
  storedMessages(): Promise<number>;
  close(): Promise<void>;
}

/** A migrated database, the device log bucket provisioned, and a store on them. */
export async function startLogContext(label: string, retentionMs?: number): Promise<LogTestContext> {
  const log = createLogger(`${label}-test`, 't', 'silent');
  const env = await createTestEnv(label);
  const topology = jetStreamTopology({ root: env.subjectRoot, storage: 'memory' });
  const sql = connectPostgres(env.databaseUrl, { appName: `${label}-test`, max: 4 });
  await migrate(sql, migrations(), log);
  const nats = await connectNats(env.natsUrl, `${label}-test`, log);
  await provision(nats, provisioningFor(topology, { objectStores: ['deviceLogs'] }), log);
  const { bucket } = topology.objectStores.deviceLogs;
  const store = await DeviceLogStore.open({ sql, js: nats.js, bucket, retentionMs, log });
  return {
    env,
    sql,
    nats,
    bucket,
    store,
    storedMessages: async () => (await nats.jsm.streams.info(objectStoreStreamName(bucket))).state.messages,
    async close() {
      await nats.nc.close();
      await sql.end();
    },
  };
}

/**
 * `total` pseudo-random bytes in `chunkSize` pieces, generated as they are read (a counter hashed
 * with SHA-256), so a test can stream megabytes without holding them; `sha256()` is the digest of
 * what was produced. `onChunk` runs before each chunk is handed out.
 */
export function generatedBytes(
  total: number,
  chunkSize: number,
  onChunk: (index: number) => void | Promise<void> = () => {},
) {
  const hash = createHash('sha256');
  const state = { produced: 0, closed: false };
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for (let i = 0; state.produced < total; i++) {
        await onChunk(i);
        const size = Math.min(chunkSize, total - state.produced);
        const chunk = Buffer.alloc(size);
        for (let off = 0; off < size; off += 32) {
          createHash('sha256').update(`${i}:${off}`).digest().copy(chunk, off);
        }
        hash.update(chunk);
        state.produced += size;
        yield chunk;
      }
    } finally {
      state.closed = true;
    }
  }
  let digest: string | undefined;
  return { stream: chunks(), state, sha256: () => (digest ??= hash.digest('hex')) };
}

export async function registerDevice(sql: Sql, tenant: string, id: string): Promise<void> {
  await sql`insert into tenants (id, name) values (${tenant}, ${tenant}) on conflict do nothing`;
  await sql`insert into devices (tenant_id, id, kind) values (${tenant}, ${id}, 'ws')`;
}

/** Reads a Node stream to the end, returning its size and hex SHA-256. */
export async function digestOf(stream: AsyncIterable<Uint8Array>): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    hash.update(chunk);
  }
  return { size, sha256: hash.digest('hex') };
}
