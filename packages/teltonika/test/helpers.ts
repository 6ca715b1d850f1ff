import { expect } from 'vitest';
import type { AvlRecord } from '../src/avl-types.ts';
import { bytesToHex, hexToBytes } from '../src/bytes.ts';
import { TeltonikaError, type TeltonikaErrorCode } from '../src/errors.ts';

export function bin(hex: string): Uint8Array {
  return hexToBytes(hex);
}

export function hexOf(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

const EARLIEST_PLAUSIBLE = Date.UTC(1999, 0, 1);
const DAY_MS = 24 * 3600 * 1000;

/** Traccar-style sanity checks run on every record decoded from captured data. */
export function expectSaneRecord(record: AvlRecord): void {
  expect(Number.isSafeInteger(record.timestamp)).toBe(true);
  expect(record.timestamp).toBeGreaterThan(EARLIEST_PLAUSIBLE);
  expect(record.timestamp).toBeLessThanOrEqual(Date.now() + DAY_MS + 3600 * 1000);
  expect([0, 1, 2]).toContain(record.priority);
  expect(record.latitude).toBeGreaterThanOrEqual(-90);
  expect(record.latitude).toBeLessThanOrEqual(90);
  expect(record.longitude).toBeGreaterThanOrEqual(-180);
  expect(record.longitude).toBeLessThanOrEqual(180);
  expect(Number.isInteger(record.altitude)).toBe(true);
  expect(record.angle).toBeGreaterThanOrEqual(0);
  expect(record.angle).toBeLessThanOrEqual(360);
  expect(record.satellites).toBeGreaterThanOrEqual(0);
  expect(record.satellites).toBeLessThanOrEqual(64);
  expect(record.speed).toBeGreaterThanOrEqual(0);
  expect(record.speed).toBeLessThan(400);
  if (record.satellites === 0) expect(record.speed).toBe(0);
  expect(Number.isInteger(record.eventIoId)).toBe(true);
  for (const element of record.io) {
    expect(Number.isInteger(element.id)).toBe(true);
    if (element.width === 8) expect(typeof element.value).toBe('bigint');
    else if (element.width === 'x') expect(element.value).toBeInstanceOf(Uint8Array);
    else {
      expect(Number.isInteger(element.value)).toBe(true);
      expect(element.value).toBeLessThan(2 ** (8 * element.width));
    }
  }
}

/** Runs `fn` and returns the TeltonikaError it throws, failing the test if it throws anything else. */
export function catchTeltonika(fn: () => unknown): TeltonikaError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TeltonikaError);
    return err as TeltonikaError;
  }
  throw new Error('expected a TeltonikaError, nothing was thrown');
}

export function expectCode(fn: () => unknown, code: TeltonikaErrorCode): TeltonikaError {
  const error = catchTeltonika(fn);
  expect(error.code).toBe(code);
  return error;
}
