import {
  CommandAckBody,
  ControlErrorBody,
  encodePayload,
  encodeProtoMsg,
  MSG_TYPE,
  PROTO,
} from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import { interpretReply } from '../src/adapters/downlink.ts';
import { decideDispatch, REVISIT_MARGIN_MS, revisitAfterSendMs } from '../src/dispatch-policy.ts';

const NOW = Date.UTC(2026, 0, 1, 12);
const head = (patch: Partial<Parameters<typeof decideDispatch>[0]> = {}) => ({
  state: 'queued' as const,
  attempts: 0,
  maxAttempts: 3,
  attemptTimeoutMs: 30_000,
  expiresAt: new Date(NOW + 3_600_000).toISOString(),
  sentAt: null,
  ...patch,
});

describe('what the dispatcher does with the head of a device queue', () => {
  it('sends a queued command as attempt 1', () => {
    expect(decideDispatch(head(), NOW)).toEqual({ kind: 'send', attempt: 1 });
  });

  it('expires a command past its time to live before anything else', () => {
    expect(decideDispatch(head({ expiresAt: new Date(NOW).toISOString() }), NOW)).toEqual({ kind: 'expire' });
  });

  it('waits for a running attempt, but never past the expiry', () => {
    const sent = head({ state: 'sent', attempts: 1, sentAt: new Date(NOW - 10_000).toISOString() });
    expect(decideDispatch(sent, NOW)).toEqual({ kind: 'wait', delayMs: 20_000 + REVISIT_MARGIN_MS });
    const soon = { ...sent, expiresAt: new Date(NOW + 5_000).toISOString() };
    expect(decideDispatch(soon, NOW)).toEqual({ kind: 'wait', delayMs: 5_000 + REVISIT_MARGIN_MS });
  });

  it('resends a timed-out attempt while attempts remain, then gives up', () => {
    const timedOut = head({ state: 'sent', attempts: 2, sentAt: new Date(NOW - 30_000).toISOString() });
    expect(decideDispatch(timedOut, NOW)).toEqual({ kind: 'send', attempt: 3 });
    expect(decideDispatch({ ...timedOut, attempts: 3 }, NOW)).toEqual({ kind: 'exhausted', attempts: 3 });
    expect(decideDispatch({ ...timedOut, state: 'delivered', attempts: 3 }, NOW).kind).toBe('exhausted');
  });

  it('revisits after the attempt timeout or the expiry, whichever comes first', () => {
    expect(revisitAfterSendMs(head(), NOW)).toBe(30_000 + REVISIT_MARGIN_MS);
    expect(revisitAfterSendMs(head({ expiresAt: new Date(NOW + 1_000).toISOString() }), NOW)).toBe(
      1_000 + REVISIT_MARGIN_MS,
    );
  });
});

describe("the edge's answer to a downlink request", () => {
  const error = (code: number) =>
    encodeProtoMsg({
      hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.ERROR },
      body: encodePayload(ControlErrorBody, { err: 'nope', close: false, code }),
    });

  it('maps ack, busy, closing and permanent refusals', () => {
    const ack = encodeProtoMsg({
      hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.ACK },
      body: encodePayload(CommandAckBody, { commandId: 'c1' as never }),
    });
    expect(interpretReply(ack)).toEqual({ kind: 'ack' });
    expect(interpretReply(error(409)).kind).toBe('busy');
    expect(interpretReply(error(503)).kind).toBe('busy');
    expect(interpretReply(error(400))).toEqual({ kind: 'rejected', code: 400, error: 'nope' });
    expect(interpretReply(error(422))).toMatchObject({ kind: 'rejected', code: 422 });
  });
});
