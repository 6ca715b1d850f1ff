import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  decodeMsgpack,
  encodeMsgpack,
  type MsgpackValue,
  MsgpackWriter,
  ProtocolError,
} from '../src/index.ts';
import { hex, msgpackValue, toHex } from './support.ts';

// msgpackr serves as an independent reference implementation, in plain-map mode.
const reference = new Packr({
  useRecords: false,
  variableMapSize: true,
  structuredClone: false,
  moreTypes: false,
});
const referenceReader = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** msgpackr returns Node Buffers for bin; compare as plain Uint8Arrays. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return new Uint8Array(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
  }
  return value;
}

describe('integer and float formats', () => {
  it.each<[number, string]>([
    [0, '00'],
    [127, '7f'],
    [128, 'cc80'],
    [255, 'ccff'],
    [256, 'cd0100'],
    [65535, 'cdffff'],
    [65536, 'ce00010000'],
    [4294967295, 'ceffffffff'],
    [4294967296, 'cf0000000100000000'],
    [1_700_000_000_000, 'cf0000018bcfe56800'],
    [Number.MAX_SAFE_INTEGER, 'cf001fffffffffffff'],
    [-1, 'ff'],
    [-32, 'e0'],
    [-33, 'd0df'],
    [-128, 'd080'],
    [-129, 'd1ff7f'],
    [-32768, 'd18000'],
    [-32769, 'd2ffff7fff'],
    [-2147483648, 'd280000000'],
    [-2147483649, 'd3ffffffff7fffffff'],
    [Number.MIN_SAFE_INTEGER, 'd3ffe0000000000001'],
    [1.5, 'cb3ff8000000000000'],
  ])('%d ↔ %s (smallest format, as Go writes a plain int)', (value, bytes) => {
    expect(toHex(encodeMsgpack(value))).toBe(bytes);
    expect(decodeMsgpack(hex(bytes))).toBe(value);
  });

  it('writes millisecond timestamps as integers, not float64 as msgpackr does', () => {
    const ts = 1_700_000_000_000;
    expect(encodeMsgpack(ts)[0]).toBe(0xcf);
    expect(reference.pack(ts)[0]).toBe(0xcb);
  });

  it('decodes float32', () => {
    expect(decodeMsgpack(hex('ca3fc00000'))).toBe(1.5);
  });

  it('decodes every integer width and both float widths, signed and unsigned', () => {
    const encodings = (value: number): string[] => {
      const view = new DataView(new ArrayBuffer(9));
      const out: string[] = [];
      const put = (token: number, width: number, write: (at: number) => void) => {
        view.setUint8(0, token);
        write(1);
        out.push(toHex(new Uint8Array(view.buffer, 0, width + 1)));
      };
      if (value >= -0x80 && value < 0x80) put(0xd0, 1, (at) => view.setInt8(at, value));
      if (value >= -0x8000 && value < 0x8000) put(0xd1, 2, (at) => view.setInt16(at, value));
      put(0xd2, 4, (at) => view.setInt32(at, value));
      put(0xd3, 8, (at) => view.setBigInt64(at, BigInt(value)));
      if (value >= 0 && value <= 0xff) put(0xcc, 1, (at) => view.setUint8(at, value));
      if (value >= 0 && value <= 0xffff) put(0xcd, 2, (at) => view.setUint16(at, value));
      if (value >= 0) put(0xce, 4, (at) => view.setUint32(at, value));
      if (value >= 0) put(0xcf, 8, (at) => view.setBigUint64(at, BigInt(value)));
      return out;
    };
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (value) => {
        for (const bytes of encodings(value)) expect(decodeMsgpack(hex(bytes))).toBe(value);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (value) => {
        const bytes = new Uint8Array(9);
        const view = new DataView(bytes.buffer);
        bytes[0] = 0xcb;
        view.setFloat64(1, value);
        expect(Object.is(decodeMsgpack(bytes), value)).toBe(true);
        bytes[0] = 0xca;
        view.setFloat32(1, value);
        expect(Object.is(decodeMsgpack(bytes.subarray(0, 5)), Math.fround(value))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects 64-bit integers outside the safe range', () => {
    expect(() => decodeMsgpack(hex('cf0020000000000000'))).toThrow(ProtocolError);
    expect(() => decodeMsgpack(hex('d3ffdfffffffffffff'))).toThrow(ProtocolError);
  });
});

describe('strings, bins and containers', () => {
  it('uses the smallest string, bin, array and map headers', () => {
    expect(toHex(encodeMsgpack('a'.repeat(31))).slice(0, 2)).toBe('bf');
    expect(toHex(encodeMsgpack('a'.repeat(32))).slice(0, 4)).toBe('d920');
    expect(toHex(encodeMsgpack('a'.repeat(256))).slice(0, 6)).toBe('da0100');
    expect(toHex(encodeMsgpack(new Uint8Array(255))).slice(0, 4)).toBe('c4ff');
    expect(toHex(encodeMsgpack(new Uint8Array(256))).slice(0, 6)).toBe('c50100');
    expect(toHex(encodeMsgpack(Array(16).fill(0))).slice(0, 6)).toBe('dc0010');
    expect(
      toHex(encodeMsgpack(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])))),
    ).toMatch(/^de0010/);
  });

  it('copies pre-encoded bytes with raw(), short and long, growing the buffer', () => {
    const writer = new MsgpackWriter(4);
    writer.mapHeader(2);
    writer.raw(encodeMsgpack('key'));
    writer.number(1);
    writer.raw(encodeMsgpack('k'.repeat(40)));
    writer.raw(encodeMsgpack('v'.repeat(40)));
    expect(decodeMsgpack(writer.finish())).toEqual({ key: 1, ['k'.repeat(40)]: 'v'.repeat(40) });
  });

  it('decodes short strings right whatever was decoded before (they share a table of recent ones)', () => {
    // Far more distinct strings than the table has slots, so slots are taken over again and again.
    const text = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength: 24 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(text, { minLength: 50, maxLength: 200 }), (texts) => {
        const decoded = decodeMsgpack(encodeMsgpack(texts));
        expect(decoded).toEqual(texts);
        for (const t of texts) expect(decodeMsgpack(encodeMsgpack(t))).toBe(t);
      }),
      { numRuns: 200 },
    );
  });

  it('encodes multi-byte UTF-8 and surrogate pairs', () => {
    for (const text of ['ž', '€', '😀', 'a😀b€', 'x'.repeat(40) + '😀']) {
      expect(decodeMsgpack(encodeMsgpack(text))).toBe(text);
      expect(toHex(encodeMsgpack(text))).toBe(toHex(reference.pack(text)));
    }
  });

  it('skips undefined object values and rejects what msgpack cannot carry', () => {
    expect(decodeMsgpack(encodeMsgpack({ a: 1, b: undefined }))).toEqual({ a: 1 });
    for (const bad of [
      undefined,
      1n,
      () => 1,
      new Date(0),
      new Map(),
      new Set(),
      [undefined],
      new Uint16Array(2),
    ]) {
      expect(() => encodeMsgpack(bad), String(bad)).toThrow(ProtocolError);
    }
  });

  it('stops on cycles', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => encodeMsgpack(cyclic)).toThrow(/nesting deeper/);
  });

  it('rejects extension types, including msgpackr’s own', () => {
    const msgpackrWithRecords = new Packr({ useRecords: true });
    expect(() => decodeMsgpack(msgpackrWithRecords.pack({ a: 1 }))).toThrow(/extension/);
    expect(() => decodeMsgpack(new Packr({ moreTypes: true }).pack(new Set([1])))).toThrow(/extension/);
    expect(() => decodeMsgpack(hex('d6ff00000000'))).toThrow(/extension/);
  });
});

describe('cross-check with msgpackr', () => {
  it('msgpackr decodes what we encode', () => {
    fc.assert(
      fc.property(msgpackValue, (value) => {
        expect(plain(referenceReader.unpack(encodeMsgpack(value)))).toEqual(value);
      }),
      { numRuns: 1500 },
    );
  });

  it('we decode what msgpackr encodes in plain-map mode', () => {
    fc.assert(
      fc.property(msgpackValue, (value) => {
        expect(decodeMsgpack(reference.pack(value))).toEqual(plain(value) as MsgpackValue);
      }),
      { numRuns: 1500 },
    );
  });
});
