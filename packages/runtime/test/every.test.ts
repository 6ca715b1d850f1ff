import { describe, expect, it } from 'vitest';
import { runEvery } from '../src/every.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runEvery', () => {
  it('never runs two rounds at once, and stop() waits for the round under way', async () => {
    let running = 0;
    let most = 0;
    let finished = 0;
    const task = runEvery(
      10,
      async () => {
        running++;
        most = Math.max(most, running);
        await sleep(45);
        running--;
        finished++;
      },
      () => {},
    );
    await sleep(120);
    await task.stop();
    expect(most).toBe(1);
    expect(running).toBe(0);
    expect(finished).toBeGreaterThanOrEqual(2);
    const after = finished;
    await sleep(40);
    expect(finished).toBe(after);
  });

  it('hands a failed round to onError and tries again at the next one', async () => {
    const errors: unknown[] = [];
    let rounds = 0;
    const task = runEvery(
      10,
      async () => {
        rounds++;
        if (rounds === 1) throw new Error('database away');
      },
      (err) => errors.push(err),
    );
    await sleep(60);
    await task.stop();
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('database away');
    expect(rounds).toBeGreaterThanOrEqual(2);
  });
});
