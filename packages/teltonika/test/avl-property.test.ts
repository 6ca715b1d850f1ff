import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAvlPacket } from '../src/avl-decode.ts';
import { encodeAvlPacket } from '../src/avl-encode.ts';
import type { AvlCodecId } from '../src/codec-ids.ts';
import { decodeDataFrame } from '../src/data-frame.ts';
import { TeltonikaFramer } from '../src/frame.ts';
import { avlRecord } from './arbitraries.ts';

describe.each<[string, AvlCodecId]>([
  ['Codec 8', 0x08],
  ['Codec 8 Extended', 0x8e],
  ['Codec 16', 0x10],
])('%s round trip', (_name, codec) => {
  it('decode(encode(records)) gives the records back, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(fc.array(avlRecord(codec), { maxLength: 5 }), (records) => {
        const frame = encodeAvlPacket(codec, records);
        const packet = decodeAvlPacket(frame);
        expect(packet).toEqual({ kind: 'avl', codec, records, ack: records.length });
        expect(encodeAvlPacket(codec, packet.records)).toEqual(frame);
      }),
      { numRuns: 500 },
    );
  });

  it('frames encoded packets whole through the framer and decodeDataFrame', () => {
    fc.assert(
      fc.property(fc.array(avlRecord(codec), { minLength: 1, maxLength: 3 }), (records) => {
        const frame = encodeAvlPacket(codec, records);
        const [framed] = new TeltonikaFramer().push(frame);
        expect(framed).toEqual({ kind: 'data', bytes: frame });
        expect(decodeDataFrame(frame)).toMatchObject({ kind: 'avl', ack: records.length });
      }),
      { numRuns: 200 },
    );
  });

  it('handles the maximum of 255 records per packet', () => {
    const records = fc.sample(avlRecord(codec), { numRuns: 255, seed: 42 });
    const packet = decodeAvlPacket(encodeAvlPacket(codec, records));
    expect(packet.ack).toBe(255);
    expect(packet.records).toEqual(records);
  });
});
