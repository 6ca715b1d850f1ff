// The runtime publisher options edge-tcp relies on (callbacks, linger), against a real nats-server. They
// live here because packages/runtime cannot depend on the testkit, which provides nats-server.
import {
  connectNats,
  createLogger,
  JetStreamPublisher,
  type NatsHandle,
  type PubAck,
  PublishError,
} from '@fleetwire/runtime';
import { createTestEnv, type TestEnv } from '@fleetwire/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const log = createLogger('test', 'test', 'silent');

/** send() as a promise of what its callback received. */
function sent(
  pub: JetStreamPublisher,
  subject: string,
  msgId?: string,
): Promise<{ err: Error | undefined; ack: PubAck | undefined }> {
  return new Promise((resolve) =>
    pub.send(subject, new Uint8Array([1]), msgId, (err, ack) => resolve({ err, ack })),
  );
}

describe('JetStreamPublisher callbacks and linger (real nats-server)', () => {
  let env: TestEnv;
  let h: NatsHandle;
  let subject: string;

  beforeAll(async () => {
    env = await createTestEnv('pubcb');
    h = await connectNats(env.natsUrl, 'test', log);
    await h.jsm.streams.add({
      name: `${env.subjectRoot.toUpperCase()}_CB`,
      subjects: [`${env.subjectRoot}.cb.>`],
      duplicate_window: 60_000_000_000,
    });
    subject = `${env.subjectRoot}.cb.x`;
  });
  afterAll(async () => {
    await h.nc.close();
  });

  it('send() calls back once with the PubAck, flags duplicates, and reports NO_STREAM', async () => {
    const pub = new JetStreamPublisher(h.nc, { coalesceWrites: true });
    const first = await sent(pub, subject, 'cb-1');
    const again = await sent(pub, subject, 'cb-1');
    expect(first.err).toBeUndefined();
    expect(first.ack).toMatchObject({ stream: `${env.subjectRoot.toUpperCase()}_CB`, duplicate: false });
    expect(again.ack).toEqual({ ...first.ack, duplicate: true });
    const nowhere = await sent(pub, `${env.subjectRoot}.nowhere`);
    expect(nowhere.err).toMatchObject({ name: 'PublishError', code: 'NO_STREAM' });
    await pub.close();
    const closed = await sent(pub, subject);
    expect(closed.err).toMatchObject({ code: 'CLOSED' });
  });

  it('with lingerMs, publishes of several turns wait for the timer and leave together', async () => {
    const pub = new JetStreamPublisher(h.nc, { coalesceWrites: true, lingerMs: 150 });
    const before = h.nc.stats().outMsgs;
    const started = performance.now();
    const first = pub.publish(subject, new Uint8Array([1]));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
    const second = pub.publish(subject, new Uint8Array([2]));
    // Two turns later nothing has left yet: both wait for the first publish's timer.
    expect(h.nc.stats().outMsgs).toBe(before);
    const acks = await Promise.all([first, second]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(acks[1].seq).toBe(acks[0].seq + 1);
    await pub.close();
  });

  it('with lingerMs, a full batch leaves at the end of the turn without waiting for the timer', async () => {
    const pub = new JetStreamPublisher(h.nc, { coalesceWrites: true, lingerMs: 10_000 });
    const started = performance.now();
    const acks = await Promise.all(
      Array.from({ length: 300 }, (_, i) => pub.publish(subject, new TextEncoder().encode(`b${i}`))),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(300);
    expect(performance.now() - started).toBeLessThan(8_000);
    await pub.close();
  });

  it('writes frames nats-server reads: payload, headers and reply intact, in order', async () => {
    const pub = new JetStreamPublisher(h.nc, { coalesceWrites: true, lingerMs: 5 });
    const payloads = Array.from({ length: 50 }, (_, i) => new TextEncoder().encode(`payload ${i} ✓`));
    const acks = await Promise.all(
      payloads.map((p, i) => pub.publish(subject, p, i % 2 === 0 ? { msgId: `frames-${i}` } : {})),
    );
    for (const [i, ack] of acks.entries()) {
      expect(ack.seq).toBe(acks[0]!.seq + i);
      const stored = await h.jsm.streams.getMessage(`${env.subjectRoot.toUpperCase()}_CB`, { seq: ack.seq });
      expect(stored?.data).toEqual(payloads[i]);
      expect(stored?.header.get('Nats-Msg-Id')).toBe(i % 2 === 0 ? `frames-${i}` : '');
    }
    await pub.close();
  });

  it('fails a publish at once on a closed connection, and refuses a msgId with a line break', async () => {
    const other = await connectNats(env.natsUrl, 'test-closed', log);
    const pub = new JetStreamPublisher(other.nc, { coalesceWrites: true, lingerMs: 1, timeoutMs: 60_000 });
    expect((await sent(pub, subject, 'bad\nid')).err).toMatchObject({ code: 'REJECTED' });
    await other.nc.close();
    const started = performance.now();
    expect((await sent(pub, subject)).err).toMatchObject({ code: 'CLOSED' });
    expect(performance.now() - started).toBeLessThan(5_000);
    await pub.close(0);
  });

  it('holds send() beyond maxInFlight until room frees, and fails what still waits at close', async () => {
    const pub = new JetStreamPublisher(h.nc, { coalesceWrites: true, maxInFlight: 5 });
    const all = await Promise.all(Array.from({ length: 40 }, () => sent(pub, subject)));
    expect(all.every((r) => r.err === undefined && r.ack !== undefined)).toBe(true);
    expect(new Set(all.map((r) => r.ack!.seq)).size).toBe(40);
    // A publisher whose in-flight publish never completes: the waiting one fails as CLOSED at close.
    const stuck = new JetStreamPublisher(h.nc, { maxInFlight: 1, timeoutMs: 60_000 });
    h.nc.subscribe(`${env.subjectRoot}.silent`);
    await h.nc.flush();
    const inFlight = sent(stuck, `${env.subjectRoot}.silent`);
    const waiting = sent(stuck, subject);
    await stuck.close(0);
    expect((await inFlight).err).toBeInstanceOf(PublishError);
    expect((await waiting).err).toMatchObject({ code: 'CLOSED' });
    await pub.close();
  });
});
