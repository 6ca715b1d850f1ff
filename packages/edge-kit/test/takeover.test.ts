import { decodeProtoMsg, encodeProtoMsg, MSG_TYPE, PROTO } from '@fleetwire/protocol';
import { describe, expect, it } from 'vitest';
import {
  closeOrderIn,
  closeOrderOf,
  encodeCloseOrder,
  isRevocation,
  mustClose,
  REVOCATION_EPOCH,
  TAKEOVER_REASON,
} from '../src/index.ts';

describe('close orders on the down subject', () => {
  it('round-trips a takeover and a revocation', () => {
    const takeover = closeOrderIn(encodeCloseOrder({ epoch: 42, reason: TAKEOVER_REASON }));
    expect(takeover).toEqual({ epoch: 42, reason: TAKEOVER_REASON });
    expect(isRevocation(takeover!)).toBe(false);
    const revocation = closeOrderIn(encodeCloseOrder({ epoch: REVOCATION_EPOCH, reason: 'session revoked' }));
    expect(revocation).toEqual({ epoch: Number.MAX_SAFE_INTEGER, reason: 'session revoked' });
    expect(isRevocation(revocation!)).toBe(true);
  });

  it('is the CONTROL/close envelope other edges and the API publish', () => {
    const msg = decodeProtoMsg(encodeCloseOrder({ epoch: 7, reason: undefined }));
    expect(msg.hdr).toEqual({ proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.CLOSE, props: { epoch: 7 } });
    expect(closeOrderOf(msg)).toEqual({ epoch: 7, reason: undefined });
  });

  it('closes only connections older than the order', () => {
    expect(mustClose({ epoch: 8, reason: undefined }, 7)).toBe(true);
    expect(mustClose({ epoch: 7, reason: undefined }, 7)).toBe(false);
    expect(mustClose({ epoch: 6, reason: undefined }, 7)).toBe(false);
    expect(mustClose({ epoch: REVOCATION_EPOCH, reason: 'session revoked' }, 123_456)).toBe(true);
  });

  it('ignores everything that is not a well-formed close order', () => {
    const request = encodeProtoMsg({ hdr: { proto: PROTO.COMMAND, typ: MSG_TYPE.COMMAND.REQUEST } });
    expect(closeOrderIn(request)).toBeUndefined();
    const noEpoch = encodeProtoMsg({ hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.CLOSE } });
    expect(closeOrderIn(noEpoch)).toBeUndefined();
    const textEpoch = encodeProtoMsg({
      hdr: { proto: PROTO.CONTROL, typ: MSG_TYPE.CONTROL.CLOSE, props: { epoch: '9' } },
    });
    expect(closeOrderIn(textEpoch)).toBeUndefined();
    expect(closeOrderIn(Uint8Array.of(0xc1))).toBeUndefined();
  });
});
