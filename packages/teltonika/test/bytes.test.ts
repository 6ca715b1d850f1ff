import { describe, expect, it } from 'vitest';
import { ByteReader, ByteWriter, bytesToHex, hexToBytes } from '../src/bytes.ts';
import { expectCode } from './helpers.ts';

describe('ByteWriter', () => {
  it('keeps every byte when it grows past its initial capacity', () => {
    const writer = new ByteWriter();
    for (let i = 0; i < 1000; i++) {
      writer
        .u8(i & 0xff, 'u8')
        .u32(i, 'u32')
        .bytes(Uint8Array.of(0xaa));
    }
    const bytes = writer.finish();
    expect(bytes).toHaveLength(6000);
    const reader = new ByteReader(bytes);
    for (let i = 0; i < 1000; i++) {
      expect([reader.u8(), reader.u32(), reader.u8()]).toEqual([i & 0xff, i, 0xaa]);
    }
    expect(reader.remaining).toBe(0);
  });

  it('names the field of an out-of-range value', () => {
    const error = expectCode(() => new ByteWriter().u16(70000, 'angle'), 'NOT_ENCODABLE');
    expect(error).toMatchObject({ field: 'angle', actual: 70000 });
  });
});

describe('ByteReader', () => {
  it('returns byte values as copies, also from a Buffer (whose own slice() is a view)', () => {
    const socketBuffer = Buffer.from([0, 1, 2, 3, 4, 5]);
    const reader = new ByteReader(socketBuffer.subarray(1));
    reader.u8();
    const value = reader.bytes(3);
    socketBuffer.fill(0xee);
    expect([...value]).toEqual([2, 3, 4]);
  });

  it('reads a u64 as an exact number up to 2^53 - 1 and as a bigint beyond', () => {
    const values = [
      0n,
      1n,
      0xffff_ffffn,
      0x1_0000_0000n,
      1_763_800_000_123n,
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 64n - 1n,
    ];
    const writer = new ByteWriter();
    for (const value of values) writer.u64(value, 'v');
    const reader = new ByteReader(writer.finish());
    const read = values.map(() => reader.u64Safe());
    expect(read).toEqual([
      0,
      1,
      0xffff_ffff,
      0x1_0000_0000,
      1_763_800_000_123,
      Number.MAX_SAFE_INTEGER,
      2n ** 53n,
      2n ** 64n - 1n,
    ]);
    expectCode(() => new ByteReader(new Uint8Array(7)).u64Safe(), 'TRUNCATED');
  });

  it('reports where it ran out of bytes', () => {
    const reader = new ByteReader(Uint8Array.of(1, 2, 3));
    reader.u16();
    const error = expectCode(() => reader.u32(), 'TRUNCATED');
    expect(error).toMatchObject({ expected: 4, actual: 1, offset: 2 });
  });

  it('reads signed values as two’s complement', () => {
    const reader = new ByteReader(hexToBytes('ffe580000000'));
    expect(reader.i16()).toBe(-27);
    expect(reader.i32()).toBe(-0x80000000);
  });

  it('respects a view’s byte offset', () => {
    const reader = new ByteReader(Uint8Array.of(9, 9, 0x12, 0x34).subarray(2));
    expect(reader.u16()).toBe(0x1234);
  });
});

describe('hex helpers', () => {
  it('round-trip and accept both cases', () => {
    expect(bytesToHex(hexToBytes('00FFa1'))).toBe('00ffa1');
  });

  it('reject odd lengths and non-hex characters', () => {
    expectCode(() => hexToBytes('abc'), 'NOT_ENCODABLE');
    expectCode(() => hexToBytes('zz'), 'NOT_ENCODABLE');
    expectCode(() => hexToBytes('00 11'), 'NOT_ENCODABLE');
  });
});
