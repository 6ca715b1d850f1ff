import { describe, expect, it } from 'vitest';
import { imeiFor, isValidImei, luhnCheckDigit, MAX_FLEET_SIZE } from '../src/imei.ts';

describe('IMEI generation', () => {
  it('computes the Luhn check digit of known IMEIs', () => {
    expect(luhnCheckDigit('49015420323751')).toBe('8');
    expect(luhnCheckDigit('35630704244101')).toBe('3'); // the FMB920 of the captured fixtures
    expect(isValidImei('490154203237518')).toBe(true);
    expect(isValidImei('490154203237517')).toBe(false);
    expect(isValidImei('49015420323751')).toBe(false);
  });

  it('gives 15-digit IMEIs with a valid check digit, unique within a fleet', () => {
    const imeis = Array.from({ length: 5_000 }, (_, i) => imeiFor('fleet-a', i));
    for (const imei of imeis) {
      expect(imei).toMatch(/^\d{15}$/);
      expect(isValidImei(imei)).toBe(true);
    }
    expect(new Set(imeis).size).toBe(imeis.length);
  });

  it('is deterministic per seed and differs between seeds', () => {
    expect(imeiFor('fleet-a', 42)).toBe(imeiFor('fleet-a', 42));
    expect(imeiFor('fleet-a', 42)).not.toBe(imeiFor('fleet-b', 42));
    expect(imeiFor('fleet-a', 0).slice(0, 8)).toBe(imeiFor('fleet-a', 999_999).slice(0, 8));
  });

  it('refuses indices outside the serial range', () => {
    expect(() => imeiFor('x', -1)).toThrow(RangeError);
    expect(() => imeiFor('x', MAX_FLEET_SIZE)).toThrow(RangeError);
    expect(() => imeiFor('x', 1.5)).toThrow(RangeError);
  });
});
