import { PresenceRecorder } from '@fleetwire/edge-kit';
import type { DeviceId, EdgeId, Subjects, TenantId, Transport } from '@fleetwire/protocol';
import type { JetStreamPublisher, Logger, Sql } from '@fleetwire/runtime';
import type { KV } from '@nats-io/kv';
import type {
  LiveLease,
  OnlineEdge,
  PresenceReaperPorts,
  ReapTarget,
  StaleDevice,
} from '../presence-reaper.ts';

export interface StalePresenceDeps {
  sql: Sql;
  presenceKv: KV;
  edgesKv: KV;
  publisher: JetStreamPublisher;
  subjects: Subjects;
  log: Logger;
}

/** The reaper's ports: `device_presence` says who is online where, the KV buckets say what is true. */
export function stalePresencePorts(deps: StalePresenceDeps): PresenceReaperPorts {
  const { sql } = deps;
  return {
    async onlineEdges(): Promise<OnlineEdge[]> {
      const rows = await sql<Array<{ edge_id: string; oldest: Date }>>`
        select edge_id, min(changed_at) as oldest from device_presence where state = 'online' group by edge_id`;
      return rows.map((r) => ({ edgeId: r.edge_id as EdgeId, oldestChange: r.oldest }));
    },
    liveLeases: () => readLeases(deps.edgesKv, deps.log),
    async onlineDevicesOf(target: ReapTarget, limit: number): Promise<StaleDevice[]> {
      const before = target.changedBefore ?? null;
      const rows = await sql<
        Array<{ tenant_id: string; device_id: string; epoch: string; transport: string }>
      >`
        select tenant_id, device_id, epoch, transport from device_presence
        where state = 'online' and edge_id = ${target.edgeId}
          and (${before}::timestamptz is null or changed_at < ${before}::timestamptz)
        limit ${limit}`;
      return rows.map((r) => ({
        tenant: r.tenant_id as TenantId,
        deviceId: r.device_id as DeviceId,
        epoch: Number(r.epoch),
        transport: r.transport as Transport,
      }));
    },
    async markOffline(edgeId: EdgeId, device: StaleDevice, reason: string): Promise<boolean> {
      const recorder = new PresenceRecorder({
        kv: deps.presenceKv,
        publisher: deps.publisher,
        subjects: deps.subjects,
        edgeId,
        transport: device.transport,
        log: deps.log,
      });
      const marked = await recorder.offline(device.tenant, device.deviceId, device.epoch, reason);
      if (marked) {
        deps.log.warn(
          { deviceId: device.deviceId, tenant: device.tenant, edgeId, epoch: device.epoch },
          'device marked offline: its edge is gone',
        );
      }
      return marked;
    },
  };
}

async function readLeases(kv: KV, log: Logger): Promise<Map<EdgeId, LiveLease>> {
  const leases = new Map<EdgeId, LiveLease>();
  for await (const key of await kv.keys()) {
    const entry = await kv.get(key);
    if (entry?.operation !== 'PUT') continue;
    try {
      const { edgeId, startedAt } = entry.json<{ edgeId: EdgeId; startedAt: number }>();
      if (typeof startedAt === 'number') leases.set(edgeId ?? (key as EdgeId), { startedAt });
    } catch {
      // Counted as alive: an edge is never reaped on a lease this version cannot read.
      leases.set(key as EdgeId, { startedAt: 0 });
      log.warn({ key }, 'unreadable edge lease');
    }
  }
  return leases;
}
