import { describe, expect, it } from 'vitest';
import { decodeAvlPacket } from '../src/avl-decode.ts';
import type { IoValue } from '../src/avl-types.ts';
import { IO_ELEMENTS, namedAttributes, rawIoById } from '../src/io-elements.ts';
import * as ex from './fixtures.ts';
import { bin } from './helpers.ts';

function ioOf(frameHex: string, index = 0): readonly IoValue[] {
  return decodeAvlPacket(bin(frameHex)).records[index]!.io;
}

describe('namedAttributes', () => {
  it('reads the FMB920 capture', () => {
    expect(namedAttributes(ioOf(ex.CODEC8_FMB920_CAPTURE))).toEqual({
      ignition: true,
      movement: true,
      digitalInput1: false,
      externalVoltage: 12.72,
      batteryVoltage: 4.042,
      analogInput1: 0.043,
    });
  });

  it('reads Codec 8 wiki example 1 (8-byte iButton as hex)', () => {
    expect(namedAttributes(ioOf(ex.CODEC8_WIKI_1))).toEqual({
      gsmSignal: 3,
      digitalInput1: true,
      externalVoltage: 24.079,
      activeGsmOperator: 24602,
      iButton: '0000000000000000',
    });
  });

  it('reads Codec 8E wiki example (odometer, axis, ICCID parts)', () => {
    expect(namedAttributes(ioOf(ex.CODEC8E_WIKI))).toEqual({
      digitalInput1: true,
      axisX: 29,
      totalOdometer: 22949000,
      iccid1: '893700218',
      iccid2: '500686954',
    });
  });

  it('reads Codec 16 wiki example, not naming a 2-byte IO 11 as an ICCID part', () => {
    expect(namedAttributes(ioOf(ex.CODEC16_WIKI, 1))).toEqual({
      digitalInput1: false,
      digitalInput3: false,
      externalVoltage: 22.074,
    });
    expect(rawIoById(ioOf(ex.CODEC16_WIKI, 1))).toMatchObject({ '11': 38 });
  });

  it('sign-extends axis values at their declared width', () => {
    const io: IoValue[] = [
      { id: 17, width: 2, value: 0xffe5 },
      { id: 18, width: 1, value: 0x80 },
      { id: 19, width: 4, value: 0xfffffffe },
    ];
    expect(namedAttributes(io)).toEqual({ axisX: -27, axisY: -128, axisZ: -2 });
  });

  it('applies scales without floating-point noise', () => {
    const io: IoValue[] = [
      { id: 181, width: 2, value: 12 },
      { id: 182, width: 2, value: 7 },
      { id: 67, width: 2, value: 4042 },
      { id: 68, width: 2, value: 123 },
      { id: 113, width: 1, value: 87 },
    ];
    expect(namedAttributes(io)).toEqual({
      pdop: 1.2,
      hdop: 0.7,
      batteryVoltage: 4.042,
      batteryCurrent: 0.123,
      batteryLevel: 87,
    });
  });

  it('leaves unknown ids and senseless widths out', () => {
    const io: IoValue[] = [
      { id: 9999, width: 1, value: 1 },
      { id: 239, width: 'x', value: Uint8Array.of(1) },
      { id: 16, width: 8, value: 2n ** 60n },
    ];
    expect(namedAttributes(io)).toEqual({ totalOdometer: (2n ** 60n).toString() });
  });

  it('keeps the last value of a repeated id', () => {
    const io: IoValue[] = [
      { id: 239, width: 1, value: 0 },
      { id: 239, width: 1, value: 1 },
    ];
    expect(namedAttributes(io)).toEqual({ ignition: true });
  });

  it('has one entry per id, each with a unique name', () => {
    const names = Object.values(IO_ELEMENTS).map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
    expect(IO_ELEMENTS[239]?.name).toBe('ignition');
  });

  it('accepts a caller-supplied table', () => {
    const io: IoValue[] = [{ id: 10800, width: 2, value: 2150 }];
    const table = { 10800: { name: 'eyeTemperature1', read: (e: IoValue) => Number(e.value) / 100 } };
    expect(namedAttributes(io, table)).toEqual({ eyeTemperature1: 21.5 });
  });
});

describe('rawIoById', () => {
  it('keeps every value, 8-byte ones as decimal strings', () => {
    expect(rawIoById(ioOf(ex.CODEC8E_WIKI))).toEqual({
      '1': 1,
      '17': 29,
      '16': 22949000,
      '11': '893700218',
      '14': '500686954',
    });
  });

  it('keeps 8-byte values above 2^53 exact and NX values as hex', () => {
    const io: IoValue[] = [
      { id: 78, width: 8, value: 0xffffffffffffffffn },
      { id: 385, width: 'x', value: Uint8Array.of(0x0a, 0xff) },
    ];
    expect(rawIoById(io)).toEqual({ '78': '18446744073709551615', '385': '0aff' });
    expect(namedAttributes(io)).toEqual({ iButton: 'ffffffffffffffff' });
  });
});
