/** IMEI login: u16 length, then that many ASCII digits. The server answers with one raw byte. */

import { ByteReader } from './bytes.ts';
import { TeltonikaError } from './errors.ts';

const ASCII_ZERO = 0x30;
const ASCII_NINE = 0x39;
const ascii = new TextDecoder('utf-8');

export const LOGIN_ACCEPTED = 0x01;
export const LOGIN_REJECTED = 0x00;

/**
 * Returns the IMEI as a digit string. Any length the device declares is accepted (IMEIs are 15
 * digits, but Traccar's rule is only "non-zero length"), as long as every character is a digit.
 */
export function decodeLogin(frame: Uint8Array): string {
  const reader = new ByteReader(frame);
  const length = reader.u16();
  if (length === 0) {
    throw new TeltonikaError('BAD_IMEI', 'login declares an empty IMEI', { field: 'imei', actual: 0 });
  }
  const digits = reader.bytes(length);
  if (reader.remaining !== 0) {
    throw new TeltonikaError(
      'LENGTH_MISMATCH',
      `${reader.remaining} bytes follow the IMEI in a login frame`,
      {
        expected: 2 + length,
        actual: frame.length,
      },
    );
  }
  const badIndex = digits.findIndex((byte) => byte < ASCII_ZERO || byte > ASCII_NINE);
  if (badIndex !== -1) {
    throw new TeltonikaError(
      'BAD_IMEI',
      `IMEI byte ${badIndex} (0x${digits[badIndex]!.toString(16)}) is not a digit`,
      {
        field: 'imei',
        actual: digits[badIndex]!,
        offset: 2 + badIndex,
      },
    );
  }
  return ascii.decode(digits);
}

/** The login frame a device sends; for simulators and tests. */
export function encodeLogin(imei: string): Uint8Array {
  checkImeiDigits(imei, 0xffff);
  const frame = new Uint8Array(2 + imei.length);
  new DataView(frame.buffer).setUint16(0, imei.length);
  for (let i = 0; i < imei.length; i++) {
    frame[2 + i] = imei.charCodeAt(i);
  }
  return frame;
}

/** One raw byte, 0x01 or 0x00: not the ASCII text "01". */
export function encodeLoginReply(accepted: boolean): Uint8Array {
  return Uint8Array.of(accepted ? LOGIN_ACCEPTED : LOGIN_REJECTED);
}

export function checkImeiDigits(imei: string, maxDigits: number): void {
  if (!/^[0-9]+$/.test(imei) || imei.length > maxDigits) {
    throw new TeltonikaError('BAD_IMEI', `IMEI must be 1..${maxDigits} decimal digits`, {
      field: 'imei',
      actual: imei,
    });
  }
}
