import { decodeBusMessage, WebhookDelivery } from '@fleetwire/protocol';
import { eventually } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseConsumerConfig } from '../src/adapters/held-retries.ts';
import { eventIdOf, expectEachOnce, OneHostStack } from './one-host-stack.ts';

const EVENTS_PER_GROUP = 20;
/** The second retry waits 40 s, held in subjects 4 s apart: two groups 5 s apart are held in two. */
const BACKOFF = '1s,40s,1s';
/** The crashed instance's consumer idles out after this (the service's own is 30 s; same config). */
const LEFTOVER_IDLE_MS = 15_000;

describe('a release consumer left by a crashed notifier (real NATS, PostgreSQL and HTTP receiver)', () => {
  const stack = new OneHostStack();

  beforeAll(() => stack.start('held-leftover', { instances: 1, backoff: BACKOFF }));
  afterAll(() => stack.stop());

  it('blocks only its held subject until the server removes it, then that subject is released too, each event once', async () => {
    stack.host.respond('/', 503);
    const eventIds: string[] = [];
    for (const group of [1, 2]) {
      if (group > 1) await new Promise((r) => setTimeout(r, 5_000));
      eventIds.push(
        ...(await Promise.all(
          Array.from({ length: EVENTS_PER_GROUP }, (_, i) => stack.publishCompleted({ group, i })),
        )),
      );
      await eventually(async () => (await stack.heldCount()) >= eventIds.length, 20_000, 'every retry held');
    }

    // What a crash in the middle of a release leaves: its consumer on one held subject, with what
    // it fetched unacked. It takes the earliest subject, the one a probe of the host would try
    // first. (A probe may hold that subject for a moment: then try again.)
    const leftover = await eventually(async () => {
      const [earliest] = (await stack.heldSubjects()).sort((a, b) => a.dueAtSec - b.dueAtSec);
      if (!earliest) return undefined;
      return stack.jsm.consumers
        .add(stack.notifyStream, releaseConsumerConfig(earliest.subject, LEFTOVER_IDLE_MS))
        .catch(() => undefined);
    }, 10_000);
    // A probe released just before may still fail and be held again under this subject: let it
    // land (a 503 answers at once; the timeout is 2 s), then take everything the subject holds.
    await new Promise((r) => setTimeout(r, 2_500));
    const { num_pending: blocked } = await stack.jsm.consumers.info(stack.notifyStream, leftover.name);
    const stuck = new Set<string>();
    const fetched = await (await stack.js.consumers.get(stack.notifyStream, leftover.name)).fetch({
      max_messages: blocked,
      expires: 2_000,
    });
    for await (const msg of fetched) {
      stuck.add(decodeBusMessage(msg.data, WebhookDelivery).payload.eventId);
      if (stuck.size >= blocked) break;
    }
    expect(stuck.size).toBeGreaterThan(1);

    let leftoverGoneAt: number | undefined;
    const watch = setInterval(() => {
      stack.jsm.consumers.info(stack.notifyStream, leftover.name).catch(() => {
        leftoverGoneAt ??= Date.now();
      });
    }, 200);
    try {
      const upAt = Date.now();
      stack.host.respond('/', 204);
      const deliveredAfterUp = () => stack.receivedSince(upAt);
      const idsOf = (requests: ReturnType<typeof deliveredAfterUp>) => new Set(requests.map(eventIdOf));

      // Every other held subject is released while the leftover still blocks its own.
      const others = eventIds.filter((id) => !stuck.has(id));
      expect(others.length).toBeGreaterThan(0);
      await eventually(
        () => others.every((id) => idsOf(deliveredAfterUp()).has(id)),
        LEFTOVER_IDLE_MS - 3_000,
        'the other held retries delivered',
      );
      expect(leftoverGoneAt).toBeUndefined();
      expect([...idsOf(deliveredAfterUp())].filter((id) => stuck.has(id))).toEqual([]);

      // Once the server has removed it, the blocked subject goes out as well: nothing lost.
      await eventually(
        () => [...stuck].every((id) => idsOf(deliveredAfterUp()).has(id)),
        LEFTOVER_IDLE_MS + 15_000,
        'the blocked held retries delivered',
      );
      expect(leftoverGoneAt).toBeDefined();
      // Not before the consumer went (the watch notices within a poll and a round trip of it).
      const stuckDeliveries = deliveredAfterUp().filter((r) => stuck.has(eventIdOf(r)));
      expect(Math.min(...stuckDeliveries.map((r) => r.at))).toBeGreaterThanOrEqual(
        (leftoverGoneAt as number) - 1_000,
      );

      // Settled: nothing held, and every event arrived exactly once.
      await eventually(async () => (await stack.heldCount()) === 0, 5_000, 'nothing left held');
      await new Promise((r) => setTimeout(r, 1_500));
      expectEachOnce(deliveredAfterUp(), eventIds);
    } finally {
      clearInterval(watch);
    }
  }, 90_000);
});
