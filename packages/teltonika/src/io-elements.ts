/**
 * Common FMB AVL ids, one line each, and how to read them. The AVL id table differs between device
 * models, so this names only ids that mean the same thing across the FMB family; callers always
 * keep the raw values (rawIoById) alongside.
 */

import type { IoValue, IoWidth } from './avl-types.ts';
import { bytesToHex } from './bytes.ts';

export type IoReading = number | boolean | string;

/** Returns undefined when the element's width makes no sense for the reading (e.g. a bool from NX). */
export type IoReader = (element: IoValue) => IoReading | undefined;

export interface IoElementSpec {
  readonly name: string;
  readonly read: IoReader;
  readonly unit?: string;
  /** When set, other widths are not named: the id then means something else on that model. */
  readonly widths?: readonly IoWidth[];
}

/** Unsigned integer; 8-byte values become a number only while exact, else a decimal string. */
const unsigned: IoReader = (element) => {
  if (element.width === 'x') return undefined;
  if (typeof element.value === 'number') return element.value;
  return element.value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(element.value) : element.value.toString();
};

const flag: IoReader = (element) => {
  if (element.width === 'x') return undefined;
  return typeof element.value === 'bigint' ? element.value !== 0n : element.value !== 0;
};

/** Two's complement at the declared width: axis values arrive as e.g. 0xFFE5 = -27. */
const signed: IoReader = (element) => {
  switch (element.width) {
    case 1:
      return (element.value << 24) >> 24;
    case 2:
      return (element.value << 16) >> 16;
    case 4:
      return element.value | 0;
    case 8:
      return BigInt.asIntN(64, element.value).toString();
    case 'x':
      return undefined;
  }
};

/** Division rather than multiplication keeps 24079 / 1000 exactly 24.079. */
const divideBy =
  (divisor: number): IoReader =>
  (element) => {
    const value = unsigned(element);
    return typeof value === 'number' ? value / divisor : undefined;
  };

/** The value's bytes at its declared width, as lowercase hex (iButton ids are 8 bytes). */
const hex: IoReader = (element) => bytesToHex(valueBytes(element));

const decimal: IoReader = (element) => (element.width === 'x' ? undefined : element.value.toString());

export const IO_ELEMENTS: Readonly<Record<number, IoElementSpec>> = {
  1: { name: 'digitalInput1', read: flag },
  2: { name: 'digitalInput2', read: flag },
  3: { name: 'digitalInput3', read: flag },
  9: { name: 'analogInput1', read: divideBy(1000), unit: 'V' },
  11: { name: 'iccid1', read: decimal, widths: [8] },
  14: { name: 'iccid2', read: decimal, widths: [8] },
  16: { name: 'totalOdometer', read: unsigned, unit: 'm' },
  17: { name: 'axisX', read: signed, unit: 'mG' },
  18: { name: 'axisY', read: signed, unit: 'mG' },
  19: { name: 'axisZ', read: signed, unit: 'mG' },
  21: { name: 'gsmSignal', read: unsigned },
  24: { name: 'speed', read: unsigned, unit: 'km/h' },
  66: { name: 'externalVoltage', read: divideBy(1000), unit: 'V' },
  67: { name: 'batteryVoltage', read: divideBy(1000), unit: 'V' },
  68: { name: 'batteryCurrent', read: divideBy(1000), unit: 'A' },
  69: { name: 'gnssStatus', read: unsigned },
  78: { name: 'iButton', read: hex, widths: [8] },
  80: { name: 'dataMode', read: unsigned },
  113: { name: 'batteryLevel', read: unsigned, unit: '%' },
  179: { name: 'digitalOutput1', read: flag },
  180: { name: 'digitalOutput2', read: flag },
  181: { name: 'pdop', read: divideBy(10) },
  182: { name: 'hdop', read: divideBy(10) },
  199: { name: 'tripOdometer', read: unsigned, unit: 'm' },
  200: { name: 'sleepMode', read: unsigned },
  239: { name: 'ignition', read: flag },
  240: { name: 'movement', read: flag },
  241: { name: 'activeGsmOperator', read: unsigned },
};

/** Applies IO_ELEMENTS; unknown ids are left out. A repeated id keeps its last value. */
export function namedAttributes(
  io: readonly IoValue[],
  table: Readonly<Record<number, IoElementSpec>> = IO_ELEMENTS,
): Record<string, IoReading> {
  const named: Record<string, IoReading> = {};
  for (const element of io) {
    const spec = table[element.id];
    if (spec === undefined || (spec.widths !== undefined && !spec.widths.includes(element.width))) continue;
    const reading = spec.read(element);
    if (reading !== undefined) named[spec.name] = reading;
  }
  return named;
}

/**
 * Every element by id, lossless and JSON-safe: widths 1/2/4 as numbers, 8-byte values as decimal
 * strings, NX values as lowercase hex. A repeated id keeps its last value.
 */
export function rawIoById(io: readonly IoValue[]): Record<string, number | string> {
  const raw: Record<string, number | string> = {};
  for (const element of io) {
    raw[String(element.id)] = rawValue(element);
  }
  return raw;
}

function rawValue(element: IoValue): number | string {
  switch (element.width) {
    case 'x':
      return bytesToHex(element.value);
    case 8:
      return element.value.toString();
    default:
      return element.value;
  }
}

function valueBytes(element: IoValue): Uint8Array {
  if (element.width === 'x') return element.value;
  const bytes = new Uint8Array(element.width);
  const view = new DataView(bytes.buffer);
  if (element.width === 8) view.setBigUint64(0, element.value);
  else if (element.width === 4) view.setUint32(0, element.value);
  else if (element.width === 2) view.setUint16(0, element.value);
  else view.setUint8(0, element.value);
  return bytes;
}
