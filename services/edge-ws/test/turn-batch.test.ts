import { describe, expect, it } from 'vitest';
import { TurnBatch } from '../src/adapters/turn-batch.ts';

/** A run whose batches the test answers by hand, in any order. */
function manualRun() {
  const calls: Array<{ inputs: number[]; answer(): void; fail(err: Error): void }> = [];
  const run = (inputs: number[]) =>
    new Promise<string[]>((resolve, reject) => {
      calls.push({
        inputs,
        answer: () => resolve(inputs.map((n) => `out-${n}`)),
        fail: (err) => reject(err),
      });
    });
  return { calls, run };
}

const nextTurn = () => new Promise((r) => setImmediate(r));

describe('TurnBatch', () => {
  it('runs the adds of one turn as one batch, and answers each caller with its own output', async () => {
    const { calls, run } = manualRun();
    const batch = new TurnBatch(run);
    const outs = [batch.add(1), batch.add(2), batch.add(3)];
    expect(calls).toHaveLength(0);
    await nextTurn();
    expect(calls.map((c) => c.inputs)).toEqual([[1, 2, 3]]);
    calls[0]!.answer();
    expect(await Promise.all(outs)).toEqual(['out-1', 'out-2', 'out-3']);
  });

  it('while maxInFlight runs are under way, adds of later turns wait and go together', async () => {
    const { calls, run } = manualRun();
    const sizes: number[] = [];
    const batch = new TurnBatch(run, { maxInFlight: 1, flushed: (n) => sizes.push(n) });
    const first = batch.add(1);
    await nextTurn();
    const later = [batch.add(2)];
    await nextTurn();
    later.push(batch.add(3));
    await nextTurn();
    later.push(batch.add(4));
    await nextTurn();
    // One device per turn, as when devices arrive one by one: still one statement in flight.
    expect(calls.map((c) => c.inputs)).toEqual([[1]]);
    expect(batch.inFlight).toBe(1);
    calls[0]!.answer();
    expect(await first).toBe('out-1');
    await nextTurn();
    expect(calls.map((c) => c.inputs)).toEqual([[1], [2, 3, 4]]);
    calls[1]!.answer();
    expect(await Promise.all(later)).toEqual(['out-2', 'out-3', 'out-4']);
    expect(sizes).toEqual([1, 3]);
    expect(batch.inFlight).toBe(0);
  });

  it('starts a second batch without waiting while fewer than maxInFlight are under way', async () => {
    const { calls, run } = manualRun();
    const batch = new TurnBatch(run, { maxInFlight: 2 });
    void batch.add(1);
    await nextTurn();
    void batch.add(2);
    await nextTurn();
    void batch.add(3);
    await nextTurn();
    expect(calls.map((c) => c.inputs)).toEqual([[1], [2]]);
  });

  it('sends a full batch at once, in flight or not', async () => {
    const { calls, run } = manualRun();
    const batch = new TurnBatch(run, { maxBatch: 2, maxInFlight: 1 });
    void batch.add(1);
    await nextTurn();
    void batch.add(2);
    void batch.add(3);
    expect(calls.map((c) => c.inputs)).toEqual([[1], [2, 3]]);
  });

  it('rejects every caller of a failed batch, and the next batch still runs', async () => {
    const { calls, run } = manualRun();
    const batch = new TurnBatch(run, { maxInFlight: 1 });
    const failed = [batch.add(1), batch.add(2)];
    await nextTurn();
    const next = batch.add(3);
    await nextTurn();
    calls[0]!.fail(new Error('database gone'));
    for (const p of failed) await expect(p).rejects.toThrow('database gone');
    await nextTurn();
    expect(calls.map((c) => c.inputs)).toEqual([[1, 2], [3]]);
    calls[1]!.answer();
    expect(await next).toBe('out-3');
  });
});
