import type { JsMsg } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { isRedelivered } from '../src/batch-consumer.ts';

/** Only the ack subject matters here; real deliveries are covered by test/runtime/batch-consumer.it.test.ts. */
const withReply = (reply: string, redelivered = false) => ({ reply, redelivered }) as unknown as JsMsg;

describe('isRedelivered', () => {
  it('reads the delivery count of both ack subject forms', () => {
    // $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.<token>
    expect(
      isRedelivered(
        withReply('$JS.ACK._.ACC.FW_TELEMETRY.telemetry-writer.1.42.40.1732262400000000000.7.xyz'),
      ),
    ).toBe(false);
    expect(
      isRedelivered(
        withReply('$JS.ACK._.ACC.FW_TELEMETRY.telemetry-writer.2.42.41.1732262400000000000.0.xyz'),
      ),
    ).toBe(true);
    expect(isRedelivered(withReply('$JS.ACK._.ACC.S.w.11.42.41.1732262400000000000.0'))).toBe(true);
    // The older form without domain and account: $JS.ACK.<stream>.<consumer>.<delivered>.…
    expect(isRedelivered(withReply('$JS.ACK.S.w.1.5.5.1732262400000000000.0'))).toBe(false);
    expect(isRedelivered(withReply('$JS.ACK.S.w.3.5.7.1732262400000000000.0'))).toBe(true);
  });

  it('leaves anything else to the client', () => {
    expect(isRedelivered(withReply('_INBOX.abc', true))).toBe(true);
    expect(isRedelivered(withReply('_INBOX.abc', false))).toBe(false);
  });
});
