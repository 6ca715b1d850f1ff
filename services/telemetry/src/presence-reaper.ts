/**
 * Presence after an edge dies without stopping (crash, OOM kill, lost node): its devices stay
 * "online" in presence until they reconnect, and one that never does would stay online for good.
 * Every edge holds a lease in the EDGES bucket (edge-kit's EdgeLease). This sweep marks offline the
 * devices of an edge whose lease has been gone for a grace period, and those recorded by an earlier
 * process of an edge id that restarted (they predate the lease's `startedAt`).
 *
 * The offline goes through the same compare-and-set as an edge's own: a device that meanwhile
 * connected elsewhere has a newer epoch and is left alone, and several instances sweeping at once
 * mark each device once.
 */
import type { DeviceId, EdgeId, TenantId, Transport } from '@fleetwire/protocol';

export const EDGE_LOST_REASON = 'edge_lost';

/** An edge that has online devices in `device_presence`, and the oldest of their changes. */
export interface OnlineEdge {
  edgeId: EdgeId;
  oldestChange: Date;
}

/** What an edge's live lease says about it. */
export interface LiveLease {
  startedAt: number;
}

/** The online devices of `edgeId` to mark offline: all, or those recorded before `changedBefore`. */
export interface ReapTarget {
  edgeId: EdgeId;
  changedBefore: Date | undefined;
}

/**
 * Decides which edges' devices are stale. A missing lease only counts once it has stayed missing for
 * `graceMs` as this sweeper saw it: after a NATS restart every key may be gone for a moment, until
 * the edges' next refresh.
 */
export class ReapPlanner {
  readonly #graceMs: number;
  readonly #missingSince = new Map<EdgeId, number>();

  constructor(graceMs: number) {
    this.#graceMs = graceMs;
  }

  plan(online: readonly OnlineEdge[], leases: ReadonlyMap<EdgeId, LiveLease>, now: number): ReapTarget[] {
    const targets: ReapTarget[] = [];
    const stillMissing = new Map<EdgeId, number>();
    for (const { edgeId, oldestChange } of online) {
      const lease = leases.get(edgeId);
      if (lease) {
        if (oldestChange.getTime() < lease.startedAt) {
          targets.push({ edgeId, changedBefore: new Date(lease.startedAt) });
        }
        continue;
      }
      const since = this.#missingSince.get(edgeId) ?? now;
      stillMissing.set(edgeId, since);
      if (now - since >= this.#graceMs) targets.push({ edgeId, changedBefore: undefined });
    }
    this.#missingSince.clear();
    for (const [edgeId, since] of stillMissing) this.#missingSince.set(edgeId, since);
    return targets;
  }
}

/** One device that an edge recorded online, as `device_presence` holds it. */
export interface StaleDevice {
  tenant: TenantId;
  deviceId: DeviceId;
  epoch: number;
  transport: Transport;
}

export interface PresenceReaperPorts {
  onlineEdges(): Promise<OnlineEdge[]>;
  liveLeases(): Promise<Map<EdgeId, LiveLease>>;
  onlineDevicesOf(target: ReapTarget, limit: number): Promise<StaleDevice[]>;
  /** Compare-and-set offline on behalf of `edgeId`; false when a newer connection exists. */
  markOffline(edgeId: EdgeId, device: StaleDevice, reason: string): Promise<boolean>;
}

/** Devices marked per edge and sweep: a huge edge is worked off over several sweeps. */
const DEVICES_PER_SWEEP = 5_000;

export interface SweepResult {
  edges: number;
  marked: number;
}

export async function sweepStalePresence(
  ports: PresenceReaperPorts,
  planner: ReapPlanner,
  now: number = Date.now(),
): Promise<SweepResult> {
  const [online, leases] = await Promise.all([ports.onlineEdges(), ports.liveLeases()]);
  const targets = planner.plan(online, leases, now);
  let marked = 0;
  for (const target of targets) {
    for (const device of await ports.onlineDevicesOf(target, DEVICES_PER_SWEEP)) {
      if (await ports.markOffline(target.edgeId, device, EDGE_LOST_REASON)) marked++;
    }
  }
  return { edges: targets.length, marked };
}
