import { describe, expect, it } from 'vitest';
import { AttemptTimers, ENDED_MEMORY_MS, RELEASE_MARGIN_MS, type ReleaseBy } from '../src/attempt-timers.ts';

/** A work item that records how it was settled, the way a JetStream message would be. */
function item(reply: string) {
  const settled: string[] = [];
  return {
    reply,
    settled,
    ack: () => settled.push('ack'),
    nak: (delayMs: number) => settled.push(`nak ${delayMs}`),
  };
}

function timers() {
  let now = 1_000;
  const released: Array<[string, ReleaseBy]> = [];
  const t = new AttemptTimers({ settle: (reply, how) => released.push([reply, how]), now: () => now });
  return {
    t,
    released,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('AttemptTimers', () => {
  it('NAKs an item with its delay and releases it by its reply subject when the command ends', () => {
    const { t, released } = timers();
    const a = item('$JS.ACK.a');
    t.park(a, { commandId: 'c1', releaseBy: 'ack' }, 30_000);
    expect(a.settled).toEqual(['nak 30000']);
    expect(t.parked).toBe(1);
    t.ended('c2');
    expect(released).toEqual([]);
    t.ended('c1');
    expect(released).toEqual([['$JS.ACK.a', 'ack']]);
    expect(t.parked).toBe(0);
    t.ended('c1');
    expect(released).toHaveLength(1);
  });

  it('releases every item waiting for the command, each the way it was parked', () => {
    const { t, released } = timers();
    t.park(item('r1'), { commandId: 'c1', releaseBy: 'ack' }, 30_000);
    t.park(item('r2'), { commandId: 'c1', releaseBy: 'redeliver' }, 25_000);
    t.ended('c1');
    expect(released).toEqual([
      ['r1', 'ack'],
      ['r2', 'redeliver'],
    ]);
  });

  it('settles at once an item whose command ended before it was parked (an answer that beat the NAK)', () => {
    const { t, released } = timers();
    t.ended('c1');
    const a = item('r1');
    const b = item('r2');
    t.park(a, { commandId: 'c1', releaseBy: 'ack' }, 30_000);
    t.park(b, { commandId: 'c1', releaseBy: 'redeliver' }, 30_000);
    expect(a.settled).toEqual(['ack']);
    expect(b.settled).toEqual(['nak 0']);
    expect(released).toEqual([]);
    expect(t.parked).toBe(0);
  });

  it('never releases an item JetStream may already be redelivering', () => {
    const { t, released, advance } = timers();
    t.park(item('r1'), { commandId: 'c1', releaseBy: 'ack' }, 10_000);
    advance(10_000 - RELEASE_MARGIN_MS);
    t.ended('c1');
    expect(released).toEqual([]);
  });

  it('does not park an item due too soon to be worth releasing, nor one without a reply subject', () => {
    const { t } = timers();
    t.park(item('r1'), { commandId: 'c1', releaseBy: 'ack' }, RELEASE_MARGIN_MS);
    const noReply = { ack: () => {}, nak: () => {} };
    t.park(noReply, { commandId: 'c2', releaseBy: 'ack' }, 30_000);
    expect(t.parked).toBe(0);
  });

  it('forgets items past their release time and endings older than its memory', () => {
    const { t, released, advance } = timers();
    t.park(item('r1'), { commandId: 'c1', releaseBy: 'ack' }, 5_000);
    t.park(item('r2'), { commandId: 'c2', releaseBy: 'ack' }, 60_000);
    t.ended('old');
    advance(5_000);
    t.prune();
    expect(t.parked).toBe(1);
    advance(ENDED_MEMORY_MS);
    t.prune();
    advance(ENDED_MEMORY_MS);
    t.prune();
    const late = item('r3');
    t.park(late, { commandId: 'old', releaseBy: 'ack' }, 30_000);
    expect(late.settled).toEqual(['nak 30000']);
    t.ended('c2');
    expect(released).toEqual([['r2', 'ack']]);
  });
});
