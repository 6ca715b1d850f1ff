import type { DeviceId } from '@fleetwire/protocol';
import { jetStreamTopology } from '@fleetwire/protocol';
import {
  connectNats,
  connectPostgres,
  createLogger,
  JetStreamPublisher,
  type Logger,
  migrate,
  type NatsHandle,
  provision,
  provisioningFor,
  type Sql,
} from '@fleetwire/runtime';
import { migrations } from '@fleetwire/schema';
import { createTestEnv, type TestEnv } from '@fleetwire/testkit';
import { CommandLedger } from '../src/ledger.ts';

export interface LedgerTestContext {
  env: TestEnv;
  sql: Sql;
  nats: NatsHandle;
  publisher: JetStreamPublisher;
  ledger: CommandLedger;
  log: Logger;
  topology: ReturnType<typeof jetStreamTopology>;
  close(): Promise<void>;
}

/**
 * A migrated database, the COMMANDS and DISPATCH streams and a ledger on them, with the given
 * trackers registered: what every ledger test starts from.
 */
export async function startLedgerContext(
  label: string,
  devices: readonly DeviceId[],
): Promise<LedgerTestContext> {
  const log = createLogger(`${label}-test`, 't', 'silent');
  const env = await createTestEnv(label);
  const topology = jetStreamTopology({ root: env.subjectRoot });
  const sql = connectPostgres(env.databaseUrl, { appName: `${label}-test`, max: 8 });
  await migrate(sql, migrations(), log);
  const nats = await connectNats(env.natsUrl, `${label}-test`, log);
  await provision(nats, provisioningFor(topology, { streams: ['COMMANDS', 'DISPATCH'] }), log);
  const publisher = new JetStreamPublisher(nats.nc);
  const ledger = new CommandLedger({ sql, publisher, subjects: topology.subjects, log });
  for (const id of devices)
    await sql`insert into devices (tenant_id, id, kind) values ('default', ${id}, 'tracker')`;
  return {
    env,
    sql,
    nats,
    publisher,
    ledger,
    log,
    topology,
    async close() {
      await ledger.flushMarks();
      await publisher.close();
      await nats.nc.close();
      await sql.end();
    },
  };
}
