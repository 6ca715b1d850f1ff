import type { EdgeId } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { ReapPlanner } from '../src/presence-reaper.ts';

const A = 'edge-a' as EdgeId;
const B = 'edge-b' as EdgeId;
const at = (ms: number) => new Date(ms);

describe('ReapPlanner', () => {
  it('reaps an edge only after its lease stayed missing for the grace period', () => {
    const planner = new ReapPlanner(500);
    const online = [{ edgeId: A, oldestChange: at(0) }];
    expect(planner.plan(online, new Map(), 1_000)).toEqual([]);
    expect(planner.plan(online, new Map(), 1_499)).toEqual([]);
    expect(planner.plan(online, new Map(), 1_500)).toEqual([{ edgeId: A, changedBefore: undefined }]);
  });

  it('starts the grace period over when the lease came back in between (a NATS restart)', () => {
    const planner = new ReapPlanner(500);
    const online = [{ edgeId: A, oldestChange: at(0) }];
    planner.plan(online, new Map(), 1_000);
    planner.plan(online, new Map([[A, { startedAt: 0 }]]), 1_200);
    expect(planner.plan(online, new Map(), 1_600)).toEqual([]);
    expect(planner.plan(online, new Map(), 2_100)).toEqual([{ edgeId: A, changedBefore: undefined }]);
  });

  it('reaps at once what a restarted edge id recorded before its lease, and nothing of a live edge', () => {
    const planner = new ReapPlanner(500);
    const leases = new Map([
      [A, { startedAt: 5_000 }],
      [B, { startedAt: 1_000 }],
    ]);
    const online = [
      { edgeId: A, oldestChange: at(4_000) },
      { edgeId: B, oldestChange: at(2_000) },
    ];
    expect(planner.plan(online, leases, 6_000)).toEqual([{ edgeId: A, changedBefore: at(5_000) }]);
  });
});
