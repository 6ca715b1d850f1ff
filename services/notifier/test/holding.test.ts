import type { TenantId } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { attemptOf } from '../src/delivery.ts';
import {
  type HeldSubject,
  heldDueAtSec,
  hostKeyOf,
  PARK_MAX_MS,
  Recoveries,
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

  it('remembers a recovered host until it fails again or has nothing held', () => {
    const recoveries = new Recoveries();
    recoveries.observe('http://a', true);
    recoveries.observe('http://b', true);
    expect(recoveries.hosts).toEqual(new Set([hostKeyOf('http://a'), hostKeyOf('http://b')]));
    recoveries.observe('http://a', false);
    expect(recoveries.hosts).toEqual(new Set([hostKeyOf('http://b')]));
    recoveries.keepOnly(new Set([hostKeyOf('http://a')]));
    expect(recoveries.hosts.size).toBe(0);
  });
});
