import { hashSeed } from './random.ts';

/** The largest fleet the generator can number: the serial part of an IMEI has six digits. */
export const MAX_FLEET_SIZE = 1_000_000;

/**
 * The IMEI of tracker `index` in the fleet named by `seed`: "35", six digits derived from the seed,
 * the index as a six-digit serial, and the Luhn check digit real IMEIs carry. Two trackers of one
 * fleet never share an IMEI; the same seed always gives the same fleet, so a registered fleet stays
 * registered across runs.
 */
export function imeiFor(seed: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_FLEET_SIZE) {
    throw new RangeError(`tracker index ${index} is outside 0..${MAX_FLEET_SIZE - 1}`);
  }
  const block = String(hashSeed(seed) % 1_000_000).padStart(6, '0');
  const body = `35${block}${String(index).padStart(6, '0')}`;
  return body + luhnCheckDigit(body);
}

/** The digit that makes `digits` + it pass the Luhn check. */
export function luhnCheckDigit(digits: string): string {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    // Counting from the right of the payload, the first digit is doubled (the check digit will follow it).
    const doubled = (digits.length - i) % 2 === 1;
    let d = Number(digits[i]) * (doubled ? 2 : 1);
    if (d > 9) d -= 9;
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

export function isValidImei(imei: string): boolean {
  return /^\d{15}$/.test(imei) && luhnCheckDigit(imei.slice(0, 14)) === imei[14];
}
