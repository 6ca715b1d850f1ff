import type { TenantId } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { attemptOf } from '../src/delivery.ts';
import {
  type HeldSubject,
  HostHealth,
  heldDueAtSec,
  hostKeyOf,
  nextProbe,
  PARK_MAX_MS,
  releaseOrder,
  shouldHold,
} from '../src/holding.ts';

const held = (hostKey: string, dueAtSec: number, count = 1): HeldSubject => ({
  subject: `fw.acme.notify.held.${hostKey}.${dueAtSec}`,
  tenant: 'acme' as TenantId,
  hostKey,
  dueAtSec,
  count,
});

describe('holding a retry', () => {
  it('keeps short waits of healthy hosts in a consumer slot and holds the rest', () => {
    expect(shouldHold(1_000, false)).toBe(false);
    expect(shouldHold(PARK_MAX_MS, false)).toBe(false);
    expect(shouldHold(PARK_MAX_MS + 1, false)).toBe(true);
    expect(shouldHold(1_000, true)).toBe(true);
  });

  it('rounds the due time up to a grain of a tenth of the wait, 1 s to 60 s', () => {
    const now = 1_700_000_000_250;
    expect(heldDueAtSec(now, 1_000)).toBe(1_700_000_002); // 1.25 s later, up to the whole second
    expect(heldDueAtSec(now, 30_000)).toBe(1_700_000_031); // grain 3 s: 1_700_000_030.25 → …031
    expect(heldDueAtSec(now, 30 * 60_000) % 60).toBe(0); // grain 60 s
    for (const delay of [1_000, 20_000, 300_000, 1_800_000]) {
      const late = heldDueAtSec(now, delay) * 1000 - (now + delay);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThanOrEqual(Math.max(1_000, Math.min(60_000, delay / 10)));
    }
  });

  it('keys a host by a short stable hash of its origin', () => {
    expect(hostKeyOf('https://hooks.example.com')).toMatch(/^[0-9a-f]{16}$/);
    expect(hostKeyOf('https://hooks.example.com')).toBe(hostKeyOf('https://hooks.example.com'));
    expect(hostKeyOf('https://hooks.example.com')).not.toBe(hostKeyOf('https://hooks.example.com:8443'));
  });

  it('numbers the attempt of a released retry after the attempts it had made', () => {
    expect(attemptOf(1, 0)).toBe(1);
    expect(attemptOf(2, 1)).toBe(2); // a queued failure's first delivery only waits
    expect(attemptOf(1, 2, true)).toBe(3);
    expect(attemptOf(2, 2, true)).toBe(4);
  });
});

describe('releasing held retries', () => {
  const now = 1_000_500;

  it('releases due subjects oldest first, then recovered hosts’ not yet due, and nothing else', () => {
    const subjects = [held('a', 1_010), held('b', 999), held('a', 1_000), held('c', 1_005), held('b', 1_020)];
    const order = releaseOrder(subjects, now, new Set(['b']));
    expect(order.map((h) => `${h.hostKey}@${h.dueAtSec}`)).toEqual(['b@999', 'a@1000', 'b@1020']);
    expect(releaseOrder(subjects, now, new Set())).toHaveLength(2);
    expect(releaseOrder([], now, new Set(['b']))).toEqual([]);
  });

  it('adds one retry of each host to probe, its earliest not yet due, after the rest', () => {
    const subjects = [held('a', 1_010, 7), held('a', 1_004, 5), held('b', 999), held('c', 1_020, 3)];
    const order = releaseOrder(subjects, now, new Set(['c']), new Set(['a', 'b', 'c', 'd']));
    // b is due anyway, c recovered (all of it goes), d has nothing held: only a gets a probe.
    expect(order.map((h) => `${h.hostKey}@${h.dueAtSec}×${h.count}`)).toEqual([
      'b@999×1',
      'c@1020×3',
      'a@1004×1',
    ]);
  });

  it('probes a host with due retries too, falling back on its later subjects, one retry each', () => {
    const subjects = [held('a', 1_010, 7), held('a', 1_004, 5), held('b', 1_020, 3), held('a', 1_030, 2)];
    const order = releaseOrder([...subjects, held('a', 999, 4)], now, new Set(), new Set(['a']));
    // The due subject first; the probe is for the round to skip should that one release something.
    expect(order.map((h) => `${h.hostKey}@${h.dueAtSec}×${h.count}${h.probe ? ' probe' : ''}`)).toEqual([
      'a@999×4',
      'a@1004×1 probe',
    ]);
    const tried: string[] = [];
    for (let step = order[1]; step; step = nextProbe(step)) tried.push(`${step.dueAtSec}×${step.count}`);
    expect(tried).toEqual(['1004×1', '1010×1', '1030×1']);
    expect(nextProbe(order[0]!)).toBeUndefined();
  });

  it('remembers a recovered host until it fails again or has nothing held', () => {
    const hosts = new HostHealth();
    hosts.observe('http://a', true);
    hosts.observe('http://b', true);
    expect(hosts.recovered).toEqual(new Set([hostKeyOf('http://a'), hostKeyOf('http://b')]));
    hosts.observe('http://a', false);
    expect(hosts.recovered).toEqual(new Set([hostKeyOf('http://b')]));
    hosts.keepOnly(new Set([hostKeyOf('http://a')]));
    expect(hosts.recovered.size).toBe(0);
  });

  it('probes a failing host once per interval, only while its circuit lets a request through', () => {
    const hosts = new HostHealth();
    hosts.observe('http://a', false);
    hosts.observe('http://b', false);
    let open = new Set(['http://b']);
    const mayRequest = (origin: string) => !open.has(origin);
    expect(hosts.probesDue(10_000, 5_000, mayRequest)).toEqual(new Set([hostKeyOf('http://a')]));
    expect(hosts.probesDue(12_000, 5_000, mayRequest).size).toBe(0); // a: probed 2 s ago; b: open
    open = new Set();
    expect(hosts.probesDue(15_000, 5_000, mayRequest)).toEqual(
      new Set([hostKeyOf('http://a'), hostKeyOf('http://b')]),
    );
    hosts.observe('http://a', true); // recovered: no more probes, its retries go early instead
    expect(hosts.probesDue(30_000, 5_000, mayRequest)).toEqual(new Set([hostKeyOf('http://b')]));
    hosts.keepOnly(new Set());
    expect(hosts.probesDue(60_000, 5_000, mayRequest).size).toBe(0);
  });
});
