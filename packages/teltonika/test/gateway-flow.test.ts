/** The public surface used the way a gateway would: frame, log in, decode, ACK only AVL packets. */

import { describe, expect, it } from 'vitest';
import type { AvlRecord } from '../src/index.ts';
import {
  decodeDataFrame,
  decodeLogin,
  encodeAvlPacket,
  encodeCodec12,
  encodeLogin,
  encodeLoginReply,
  encodeRecordCountAck,
  isTeltonikaError,
  namedAttributes,
  rawIoById,
  TeltonikaFramer,
} from '../src/index.ts';
import * as ex from './fixtures.ts';
import { bin, hexOf } from './helpers.ts';

/** A minimal session loop: returns the bytes the server would write back, in order. */
function serve(chunks: readonly Uint8Array[]): {
  replies: string[];
  heartbeats: number;
  closedWith?: string;
} {
  const framer = new TeltonikaFramer();
  const replies: string[] = [];
  let heartbeats = 0;
  for (const chunk of chunks) {
    for (const frame of framer.push(chunk)) {
      switch (frame.kind) {
        case 'heartbeat':
          heartbeats++;
          break;
        case 'error':
          return { replies, heartbeats, closedWith: frame.error.code };
        case 'login':
          replies.push(hexOf(encodeLoginReply(decodeLogin(frame.bytes) === '356307042441013')));
          break;
        case 'data':
          try {
            const message = decodeDataFrame(frame.bytes);
            if (message.kind === 'avl') replies.push(hexOf(encodeRecordCountAck(message.ack)));
          } catch (err) {
            if (!isTeltonikaError(err)) throw err;
            return { replies, heartbeats, closedWith: err.code };
          }
      }
    }
  }
  return { replies, heartbeats };
}

describe('gateway flow over the public API', () => {
  it('accepts the login, ACKs AVL packets with their record count, never ACKs Codec 12/13/14', () => {
    const stream = [
      encodeLogin('356307042441013'),
      Uint8Array.of(0xff),
      bin(ex.CODEC8_WIKI_3_TWO_RECORDS),
      bin(ex.CODEC12_GETINFO_RESPONSE),
      bin(ex.CODEC13_HELLO),
      bin(ex.CODEC14_GETVER_ACK),
      bin(ex.CODEC16_WIKI),
      Uint8Array.of(0xff),
    ];
    expect(serve(stream)).toEqual({ replies: ['01', '00000002', '00000002'], heartbeats: 2 });
  });

  it('rejects an unknown IMEI with a raw 0x00 byte', () => {
    expect(serve([encodeLogin('111111111111111')]).replies).toEqual(['00']);
  });

  it('sends no ACK for a corrupt packet and closes', () => {
    const corrupt = bin(ex.CODEC8_WIKI_1);
    corrupt[30]! ^= 0xff;
    expect(serve([bin(ex.LOGIN_356307042441013), corrupt])).toEqual({
      replies: ['01'],
      heartbeats: 0,
      closedWith: 'BAD_CRC',
    });
  });

  it('exposes named and raw IO for publishing', () => {
    const message = decodeDataFrame(bin(ex.CODEC8_FMB920_CAPTURE));
    if (message.kind !== 'avl') throw new Error('expected AVL');
    const [record] = message.records;
    expect(namedAttributes(record!.io)).toMatchObject({ ignition: true, externalVoltage: 12.72 });
    expect(rawIoById(record!.io)).toMatchObject({ '239': 1, '66': 12720 });
  });

  it('lets a simulator produce what the gateway consumes', () => {
    const record = onlyRecord(ex.CODEC8E_WIKI);
    expect(hexOf(encodeAvlPacket(0x8e, [record]))).toBe(ex.CODEC8E_WIKI.toLowerCase());
    expect(hexOf(encodeCodec12('getinfo'))).toBe(ex.CODEC12_GETINFO.toLowerCase());
  });
});

function onlyRecord(hex: string): AvlRecord {
  const message = decodeDataFrame(bin(hex));
  if (message.kind !== 'avl' || message.records[0] === undefined) throw new Error('expected one AVL record');
  return message.records[0];
}
