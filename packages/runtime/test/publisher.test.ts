import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type PubAck, PublishError } from '../src/index.ts';
import { readPubAck } from '../src/publisher.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('readPubAck', () => {
  it('reads the PubAcks nats-server writes, with and without duplicate', () => {
    // Exactly as nats-server 2.10 writes them.
    expect(readPubAck(bytes('{"stream":"T", "seq":1}'))).toEqual({ stream: 'T', seq: 1, duplicate: false });
    expect(readPubAck(bytes('{"stream":"T", "seq":1,"duplicate": true}'))).toEqual({
      stream: 'T',
      seq: 1,
      duplicate: true,
    });
    expect(readPubAck(bytes('{"stream":"TELEMETRY","seq":12345}'))).toEqual({
      stream: 'TELEMETRY',
      seq: 12345,
      duplicate: false,
    });
    expect(readPubAck(bytes('{"stream":"fw_T-1","seq":7,"duplicate":true}'))).toEqual({
      stream: 'fw_T-1',
      seq: 7,
      duplicate: true,
    });
  });

  it('reads other shapes like JSON.parse does (domain, spacing, escapes)', () => {
    expect(readPubAck(bytes('{"stream":"S","domain":"hub","seq":3}'))).toEqual({
      stream: 'S',
      seq: 3,
      duplicate: false,
    });
    expect(readPubAck(bytes('{ "stream": "S", "seq": 4 }'))).toEqual({
      stream: 'S',
      seq: 4,
      duplicate: false,
    });
    expect(readPubAck(bytes('{"stream":"a\\"b","seq":5}'))).toEqual({
      stream: 'a"b',
      seq: 5,
      duplicate: false,
    });
    expect(readPubAck(bytes('{"stream":"S","seq":6,"duplicate":false}'))).toEqual({
      stream: 'S',
      seq: 6,
      duplicate: false,
    });
  });

  it('turns errors and garbage into REJECTED', () => {
    const error = readPubAck(
      bytes('{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}'),
    );
    expect(error).toBeInstanceOf(PublishError);
    expect(error).toMatchObject({ code: 'REJECTED', message: 'expected stream does not match' });
    expect(readPubAck(bytes('{"stream":"S","seq":1,"error":{"description":"x"}}'))).toMatchObject({
      code: 'REJECTED',
    });
    expect(readPubAck(bytes('{"stream":"S","seq":'))).toMatchObject({ code: 'REJECTED' });
    expect(readPubAck(bytes('{"seq":1}'))).toMatchObject({ code: 'REJECTED' });
    expect(readPubAck(new Uint8Array(0))).toMatchObject({ code: 'REJECTED' });
  });

  it('agrees with JSON.parse for any stream name, sequence and duplicate flag', () => {
    const reference = (text: string): PubAck => {
      const body = JSON.parse(text) as { stream: string; seq?: number; duplicate?: boolean };
      return { stream: body.stream, seq: body.seq ?? 0, duplicate: body.duplicate === true };
    };
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.option(fc.boolean(), { nil: undefined }),
        (stream, seq, duplicate) => {
          const text = JSON.stringify(duplicate === undefined ? { stream, seq } : { stream, seq, duplicate });
          expect(readPubAck(bytes(text))).toEqual(reference(text));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});
