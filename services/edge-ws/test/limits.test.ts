import { describe, expect, it } from 'vitest';
import { TokenBucket, ViolationWindow } from '../src/domain/limits.ts';

describe('TokenBucket', () => {
  const limit = { ratePerSec: 10, burst: 3 };

  it('allows a burst, then refuses until time refills it', () => {
    const bucket = new TokenBucket(limit, 0);
    expect([1, 2, 3, 4].map(() => bucket.take(limit, 0))).toEqual([true, true, true, false]);
    expect(bucket.take(limit, 50)).toBe(false); // half a token
    expect(bucket.take(limit, 100)).toBe(true); // one token after 100 ms at 10/s
    expect(bucket.take(limit, 100)).toBe(false);
  });

  it('never holds more than the burst however long the pause', () => {
    const bucket = new TokenBucket(limit, 0);
    for (let i = 0; i < 3; i++) bucket.take(limit, 0);
    const after = [1, 2, 3, 4].map(() => bucket.take(limit, 60_000));
    expect(after).toEqual([true, true, true, false]);
  });

  it('sustains the configured rate', () => {
    const bucket = new TokenBucket({ ratePerSec: 50, burst: 1 }, 0);
    let allowed = 0;
    for (let t = 0; t < 10_000; t += 5) if (bucket.take({ ratePerSec: 50, burst: 1 }, t)) allowed++;
    expect(allowed).toBeGreaterThanOrEqual(499);
    expect(allowed).toBeLessThanOrEqual(501);
  });

  it('does not refill when the clock goes backwards', () => {
    const bucket = new TokenBucket(limit, 1_000);
    for (let i = 0; i < 3; i++) bucket.take(limit, 1_000);
    expect(bucket.take(limit, 500)).toBe(false);
  });
});

describe('ViolationWindow', () => {
  it('reports the third violation within a minute', () => {
    const v = new ViolationWindow();
    expect(v.record(0)).toBe(false);
    expect(v.record(10_000)).toBe(false);
    expect(v.record(59_000)).toBe(true);
  });

  it('starts over once the window has passed', () => {
    const v = new ViolationWindow();
    v.record(0);
    v.record(1_000);
    expect(v.record(61_000)).toBe(false); // a new window starts here
    expect(v.record(62_000)).toBe(false);
    expect(v.record(63_000)).toBe(true);
  });
});
