/**
 * Hostile input: random bytes and mutated valid frames, fed to the framer (in random chunkings)
 * and to the decoders. Nothing may escape except TeltonikaError; the framer itself never throws.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeDataFrame } from '../src/data-frame.ts';
import { TeltonikaError } from '../src/errors.ts';
import { type Frame, TeltonikaFramer } from '../src/frame.ts';
import { decodeLogin } from '../src/login.ts';
import { unwrapDataFrame, wrapDataFrame } from '../src/packet.ts';
import * as ex from './fixtures.ts';
import { bin } from './helpers.ts';

const VALID = ex.VALID_DATA_FRAMES.map(bin);
const LOGIN = bin(ex.LOGIN_356307042441013);

function onlyTeltonikaErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof TeltonikaError)) throw err;
  }
}

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; byte: number }
  | { op: 'delete'; at: number }
  | { op: 'set'; at: number; byte: number };

const position = fc.nat({ max: 10_000 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: position }),
  fc.record({ op: fc.constant('insert' as const), at: position, byte: fc.nat({ max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: position }),
  // Boundary values are where length and count fields go wrong.
  fc.record({
    op: fc.constant('set' as const),
    at: position,
    byte: fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff),
  }),
);

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + (m.op === 'insert' ? 1 : 0));
    switch (m.op) {
      case 'flip':
        if (out.length > 0) out[at]! ^= 1 << m.bit;
        break;
      case 'set':
        if (out.length > 0) out[at] = m.byte;
        break;
      case 'truncate':
        out = out.slice(0, at);
        break;
      case 'insert':
        out = Uint8Array.from([...out.subarray(0, at), m.byte, ...out.subarray(at)]);
        break;
      case 'delete':
        out = Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + 1)]);
        break;
    }
  }
  return out;
}

/** Feeds `stream` in chunks of the given sizes and checks the framer's contract on the way. */
function frameInChunks(stream: Uint8Array, sizes: readonly number[]): Frame[] {
  const framer = new TeltonikaFramer();
  const frames: Frame[] = [];
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = sizes[i % sizes.length]!;
    frames.push(...framer.push(stream.subarray(at, at + size)));
    at += size;
  }
  const errorAt = frames.findIndex((frame) => frame.kind === 'error');
  // Once failed, the framer only repeats its error.
  if (errorAt !== -1) expect(frames.slice(errorAt).every((frame) => frame.kind === 'error')).toBe(true);
  expect(frames.filter((frame) => frame.kind === 'login').length).toBeLessThanOrEqual(1);
  return frames;
}

function decodeEveryFrame(frames: readonly Frame[]): void {
  for (const frame of frames) {
    if (frame.kind === 'data') onlyTeltonikaErrors(() => decodeDataFrame(frame.bytes));
    if (frame.kind === 'login') onlyTeltonikaErrors(() => decodeLogin(frame.bytes));
  }
}

const chunkSizes = fc.array(fc.integer({ min: 1, max: 48 }), { minLength: 1, maxLength: 16 });
const validFrame = fc.constantFrom(...VALID);

describe('robustness', () => {
  it('random bytes: decoders throw only TeltonikaError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        onlyTeltonikaErrors(() => decodeDataFrame(bytes));
        onlyTeltonikaErrors(() => decodeLogin(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it('random bodies behind a valid envelope and CRC: decoders throw only TeltonikaError', () => {
    const codec = fc.constantFrom(0x08, 0x8e, 0x10, 0x0c, 0x0d, 0x0e, 0x0f);
    fc.assert(
      fc.property(codec, fc.uint8Array({ maxLength: 120 }), (codecId, rest) => {
        onlyTeltonikaErrors(() => decodeDataFrame(wrapDataFrame(Uint8Array.of(codecId, ...rest))));
      }),
      { numRuns: 5000 },
    );
  });

  it('mutated valid frames: decodeDataFrame throws only TeltonikaError', () => {
    fc.assert(
      fc.property(validFrame, fc.array(mutation, { minLength: 1, maxLength: 4 }), (frame, mutations) => {
        onlyTeltonikaErrors(() => decodeDataFrame(mutate(frame, mutations)));
      }),
      { numRuns: 3000 },
    );
  });

  it('mutated valid bodies with a recomputed CRC: every body rule is exercised, nothing else escapes', () => {
    fc.assert(
      fc.property(validFrame, fc.array(mutation, { minLength: 1, maxLength: 3 }), (frame, mutations) => {
        const body = mutate(unwrapDataFrame(frame), mutations);
        onlyTeltonikaErrors(() => decodeDataFrame(wrapDataFrame(body)));
      }),
      { numRuns: 5000 },
    );
  });

  it('random byte streams in random chunkings: the framer never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), chunkSizes, (stream, sizes) => {
        decodeEveryFrame(frameInChunks(stream, sizes));
      }),
      { numRuns: 2000 },
    );
  });

  it('login + mutated frames + heartbeats in random chunkings: nothing but TeltonikaError escapes', () => {
    const piece = fc.oneof(
      validFrame,
      fc.constant(Uint8Array.of(0xff)),
      fc.tuple(validFrame, fc.array(mutation, { minLength: 1, maxLength: 2 })).map(([f, m]) => mutate(f, m)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), chunkSizes, (pieces, sizes) => {
        const stream = Uint8Array.from([...LOGIN, ...pieces.flatMap((p) => [...p])]);
        decodeEveryFrame(frameInChunks(stream, sizes));
      }),
      { numRuns: 2000 },
    );
  });
});
