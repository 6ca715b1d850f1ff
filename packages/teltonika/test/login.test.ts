import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLogin, encodeLogin, encodeLoginReply } from '../src/login.ts';
import { LOGIN_356307042441013 } from './fixtures.ts';
import { bin, expectCode, hexOf } from './helpers.ts';

describe('IMEI login', () => {
  it('decodes the reference login', () => {
    expect(decodeLogin(bin(LOGIN_356307042441013))).toBe('356307042441013');
  });

  it('encodes the reference login byte for byte', () => {
    expect(hexOf(encodeLogin('356307042441013'))).toBe(LOGIN_356307042441013.toLowerCase());
  });

  it('accepts whatever digit count the device declares', () => {
    expect(decodeLogin(encodeLogin('1'))).toBe('1');
    expect(decodeLogin(encodeLogin('35630704244101399'))).toBe('35630704244101399');
  });

  it('rejects non-digits, naming the offending byte', () => {
    const error = expectCode(() => decodeLogin(bin('000F3335363330373034323434313031FF')), 'BAD_IMEI');
    expect(error).toMatchObject({ actual: 0xff, offset: 16 });
    expectCode(() => decodeLogin(bin('0003')), 'TRUNCATED');
    expectCode(() => decodeLogin(bin('00034142')), 'TRUNCATED');
    expectCode(() => decodeLogin(bin('0003414243')), 'BAD_IMEI');
  });

  it('rejects an empty IMEI and a frame with bytes after the IMEI', () => {
    expectCode(() => decodeLogin(bin('0000')), 'BAD_IMEI');
    expectCode(() => decodeLogin(bin('00013131')), 'LENGTH_MISMATCH');
    expectCode(() => decodeLogin(bin('00')), 'TRUNCATED');
  });

  it('refuses to encode a non-digit IMEI', () => {
    expectCode(() => encodeLogin(''), 'BAD_IMEI');
    expectCode(() => encodeLogin('35630704244101a'), 'BAD_IMEI');
    expectCode(() => encodeLogin(' 356307042441013'), 'BAD_IMEI');
  });

  it('replies with one raw byte, not ASCII', () => {
    expect(encodeLoginReply(true)).toEqual(Uint8Array.of(0x01));
    expect(encodeLoginReply(false)).toEqual(Uint8Array.of(0x00));
  });

  it('round-trips any digit string', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{1,20}$/), (imei) => {
        expect(decodeLogin(encodeLogin(imei))).toBe(imei);
      }),
      { numRuns: 300 },
    );
  });
});
