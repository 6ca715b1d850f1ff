import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Frame, TeltonikaFramer } from '../src/frame.ts';
import * as ex from './fixtures.ts';
import { bin, hexOf } from './helpers.ts';

type Seen = { kind: 'login' | 'data'; hex: string } | { kind: 'heartbeat' } | { kind: 'error'; code: string };

function seen(frames: readonly Frame[]): Seen[] {
  return frames.map((frame) => {
    switch (frame.kind) {
      case 'heartbeat':
        return { kind: 'heartbeat' };
      case 'error':
        return { kind: 'error', code: frame.error.code };
      default:
        return { kind: frame.kind, hex: hexOf(frame.bytes) };
    }
  });
}

function pushAll(framer: TeltonikaFramer, chunks: readonly Uint8Array[]): Seen[] {
  return chunks.flatMap((chunk) => seen(framer.push(chunk)));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

/** Splits `bytes` at the given sorted cut positions. */
function cut(bytes: Uint8Array, positions: readonly number[]): Uint8Array[] {
  const bounds = [0, ...positions, bytes.length];
  return bounds.slice(1).map((end, i) => bytes.subarray(bounds[i]!, end));
}

const LOGIN = bin(ex.LOGIN_356307042441013);
const HEARTBEAT = Uint8Array.of(0xff);
const loginSeen: Seen = { kind: 'login', hex: hexOf(LOGIN) };
const dataSeen = (hex: string): Seen => ({ kind: 'data', hex: hex.toLowerCase() });

/** A framer that has already taken the login, as on a live connection. */
function loggedIn(): TeltonikaFramer {
  const framer = new TeltonikaFramer();
  expect(pushAll(framer, [LOGIN])).toEqual([loginSeen]);
  return framer;
}

describe('TeltonikaFramer: splits', () => {
  it('survives every split of the login, including inside its 2-byte length', () => {
    for (let at = 0; at <= LOGIN.length; at++) {
      expect(pushAll(new TeltonikaFramer(), cut(LOGIN, [at]))).toEqual([loginSeen]);
    }
  });

  it.each(ex.NAMED_DATA_FRAMES)(
    'survives every split of %s, including inside the 8-byte header',
    (_label, hex) => {
      const frame = bin(hex);
      for (let at = 0; at <= frame.length; at++) {
        const framer = loggedIn();
        expect(pushAll(framer, cut(frame, [at]))).toEqual([dataSeen(hex)]);
        expect(framer.bufferedBytes).toBe(0);
      }
    },
  );

  it.each(ex.NAMED_DATA_FRAMES)('reassembles %s fed one byte at a time', (_label, hex) => {
    const frame = bin(hex);
    const framer = loggedIn();
    const chunks = Array.from(frame, (byte) => Uint8Array.of(byte));
    const results = chunks.map((chunk) => seen(framer.push(chunk)));
    expect(results.slice(0, -1).every((frames) => frames.length === 0)).toBe(true);
    expect(results.at(-1)).toEqual([dataSeen(hex)]);
  });

  it('survives every pair of split positions across login + data', () => {
    const stream = concat(LOGIN, bin(ex.CODEC8_FMB920_CAPTURE));
    for (let first = 0; first <= stream.length; first++) {
      for (let second = first; second <= stream.length; second++) {
        const frames = pushAll(new TeltonikaFramer(), cut(stream, [first, second]));
        expect(frames).toEqual([loginSeen, dataSeen(ex.CODEC8_FMB920_CAPTURE)]);
      }
    }
  });

  it('reports what an incomplete frame holds, e.g. the inconsistent old Codec 13 example', () => {
    const framer = loggedIn();
    expect(framer.push(bin(ex.CODEC13_OLD_INCONSISTENT))).toEqual([]);
    expect(framer.bufferedBytes).toBe(31);
  });
});

describe('TeltonikaFramer: several frames and heartbeats', () => {
  it('returns login, data and heartbeats from one chunk, in order', () => {
    const stream = concat(
      HEARTBEAT,
      LOGIN,
      HEARTBEAT,
      HEARTBEAT,
      ...ex.VALID_DATA_FRAMES.flatMap((hex) => [bin(hex), HEARTBEAT]),
    );
    expect(pushAll(new TeltonikaFramer(), [stream])).toEqual([
      { kind: 'heartbeat' },
      loginSeen,
      { kind: 'heartbeat' },
      { kind: 'heartbeat' },
      ...ex.VALID_DATA_FRAMES.flatMap((hex) => [dataSeen(hex), { kind: 'heartbeat' } as const]),
    ]);
  });

  it('returns frames wholly inside a chunk as views of it, and split frames as copies', () => {
    const chunk = concat(LOGIN, bin(ex.CODEC8_WIKI_1));
    const [login, data] = new TeltonikaFramer().push(chunk);
    expect(login?.kind === 'login' && login.bytes.buffer).toBe(chunk.buffer);
    expect(data?.kind === 'data' && data.bytes.buffer).toBe(chunk.buffer);

    const framer = loggedIn();
    const frame = bin(ex.CODEC8_WIKI_1);
    framer.push(frame.subarray(0, 10));
    const [split] = framer.push(frame.subarray(10));
    expect(split?.kind === 'data' && split.bytes.buffer).not.toBe(frame.buffer);
  });

  it('counts heartbeats on an idle connection', () => {
    const framer = loggedIn();
    const frames = [HEARTBEAT, HEARTBEAT, Uint8Array.of(0xff, 0xff, 0xff)].flatMap((chunk) =>
      framer.push(chunk),
    );
    expect(frames.filter((frame) => frame.kind === 'heartbeat')).toHaveLength(5);
  });

  it('accepts a data frame without a prior login (the gateway decides what to do)', () => {
    expect(pushAll(new TeltonikaFramer(), [bin(ex.CODEC8_WIKI_2)])).toEqual([dataSeen(ex.CODEC8_WIKI_2)]);
  });

  it('yields the same frames for any chunking of a mixed stream', () => {
    const pieces = [...ex.VALID_DATA_FRAMES.map(bin), HEARTBEAT];
    fc.assert(
      fc.property(
        fc.array(fc.nat(pieces.length - 1), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 40 }),
        (order, sizes) => {
          const stream = concat(LOGIN, ...order.map((i) => pieces[i]!));
          const chunks: Uint8Array[] = [];
          for (let at = 0, i = 0; at < stream.length; i++) {
            const size = sizes[i % sizes.length]!;
            chunks.push(stream.subarray(at, at + size));
            at += size;
          }
          const expected = [loginSeen, ...order.map((i) => seen([framePiece(pieces[i]!)])[0]!)];
          expect(pushAll(new TeltonikaFramer(), chunks)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

function framePiece(bytes: Uint8Array): Frame {
  return bytes.length === 1 ? { kind: 'heartbeat' } : { kind: 'data', bytes };
}

describe('TeltonikaFramer: fatal errors', () => {
  const header = (length: number) => {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setUint32(4, length);
    return bytes;
  };

  it('reports an oversize data length as soon as the header is in, buffering nothing', () => {
    const framer = loggedIn();
    const frames = framer.push(concat(header(0xffff_fff0), new Uint8Array(1000)));
    expect(frames).toHaveLength(1);
    const [frame] = frames;
    expect(frame?.kind).toBe('error');
    if (frame?.kind !== 'error') return;
    expect(frame.error).toMatchObject({ code: 'FRAME_TOO_LARGE', expected: 65536, actual: 0xffff_fff0 });
    expect(framer.bufferedBytes).toBe(0);
  });

  it('reports an oversize length even when the header trickles in byte by byte', () => {
    const framer = loggedIn();
    const bytes = header(70000);
    const results = Array.from(bytes, (byte) => seen(framer.push(Uint8Array.of(byte))));
    expect(results.slice(0, 7).flat()).toEqual([]);
    expect(results[7]).toEqual([{ kind: 'error', code: 'FRAME_TOO_LARGE' }]);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('applies a configured cap exactly', () => {
    const atCap = new TeltonikaFramer({ maxDataLength: 1280 }).push(header(1280));
    expect(atCap).toEqual([]);
    const overCap = seen(new TeltonikaFramer({ maxDataLength: 1280 }).push(header(1281)));
    expect(overCap).toEqual([{ kind: 'error', code: 'FRAME_TOO_LARGE' }]);
  });

  it('refuses caps that would disable the guard', () => {
    expect(() => new TeltonikaFramer({ maxDataLength: Number.NaN })).toThrow(RangeError);
    expect(() => new TeltonikaFramer({ maxLoginLength: -1 })).toThrow(RangeError);
  });

  it('caps the login length', () => {
    expect(pushAll(new TeltonikaFramer(), [bin('0041')])).toEqual([
      { kind: 'error', code: 'FRAME_TOO_LARGE' },
    ]);
    expect(pushAll(new TeltonikaFramer({ maxLoginLength: 15 }), [bin('0010')])).toEqual([
      { kind: 'error', code: 'FRAME_TOO_LARGE' },
    ]);
    expect(pushAll(new TeltonikaFramer(), [bin('0040')])).toEqual([]);
  });

  it('rejects a garbage preamble at the first non-zero byte', () => {
    const framer = loggedIn();
    expect(pushAll(framer, [bin('0000')])).toEqual([]);
    expect(pushAll(framer, [bin('01')])).toEqual([{ kind: 'error', code: 'BAD_PREAMBLE' }]);
  });

  it('rejects a second login', () => {
    expect(pushAll(loggedIn(), [LOGIN])).toEqual([{ kind: 'error', code: 'BAD_PREAMBLE' }]);
  });

  it('rejects text protocols at connection start (read as an absurd login length)', () => {
    const http = new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n');
    expect(pushAll(new TeltonikaFramer(), [http])).toEqual([{ kind: 'error', code: 'FRAME_TOO_LARGE' }]);
  });

  it('delivers frames completed before the error, then stays poisoned', () => {
    const framer = new TeltonikaFramer();
    const frames = framer.push(concat(LOGIN, bin(ex.CODEC8_WIKI_2), HEARTBEAT, bin('000000AB')));
    expect(seen(frames)).toEqual([
      loginSeen,
      dataSeen(ex.CODEC8_WIKI_2),
      { kind: 'heartbeat' },
      { kind: 'error', code: 'BAD_PREAMBLE' },
    ]);
    const failure = framer.failure;
    expect(failure?.code).toBe('BAD_PREAMBLE');
    expect(framer.push(bin(ex.CODEC8_WIKI_2))).toEqual([{ kind: 'error', error: failure }]);
    expect(framer.bufferedBytes).toBe(0);
  });
});
