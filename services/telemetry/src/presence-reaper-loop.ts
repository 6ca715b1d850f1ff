import type { JetStreamTopology } from '@fleetwire/protocol';
import {
  type JetStreamPublisher,
  type Logger,
  type NatsHandle,
  runEvery,
  type Sql,
} from '@fleetwire/runtime';
import { Kvm } from '@nats-io/kv';
import { stalePresencePorts } from './adapters/stale-presence.ts';
import { ReapPlanner, sweepStalePresence } from './presence-reaper.ts';

/**
 * Sweeps every third of the edge lease TTL; a lease counts as gone after half a TTL missing (so a
 * device of a crashed edge is offline within about two TTLs). Returns the function that stops it.
 */
export async function startPresenceReaper(deps: {
  sql: Sql;
  nats: NatsHandle;
  log: Logger;
  topology: JetStreamTopology;
  publisher: JetStreamPublisher;
  edgeLeaseTtlMs: number;
}): Promise<() => Promise<void>> {
  const { log, topology, publisher, edgeLeaseTtlMs } = deps;
  const kvm = new Kvm(deps.nats.js);
  const ports = stalePresencePorts({
    sql: deps.sql,
    presenceKv: await kvm.open(topology.kv.presence.bucket),
    edgesKv: await kvm.open(topology.kv.edges.bucket),
    publisher,
    subjects: topology.subjects,
    log,
  });
  const planner = new ReapPlanner(edgeLeaseTtlMs / 2);
  const task = runEvery(
    edgeLeaseTtlMs / 3,
    async () => {
      const { edges, marked } = await sweepStalePresence(ports, planner);
      if (edges > 0) log.info({ edges, marked }, 'stale presence of gone edges swept');
    },
    (err) => log.warn({ err: String(err) }, 'presence sweep failed; trying again'),
  );
  return () => task.stop();
}
