import { describe, expect, it } from 'vitest';
import { signatureFor, signatureHeader, verifySignature } from '../src/signature.ts';

const SECRET = 'whsec_test';
const BODY = '{"identified":true,"imei":"350612345678901"}';
const NOW = 1_700_000_000_000;

describe('webhook signatures', () => {
  it('signs "<t>.<raw body>" with HMAC-SHA256 (known vector)', () => {
    // echo -n '1700000000.{"identified":true,"imei":"350612345678901"}' | openssl dgst -sha256 -hmac whsec_test
    expect(signatureFor(SECRET, 1_700_000_000, BODY)).toBe(
      'eb8c3faa47137350976f3227072198f64c49baee4c37bfad754968d5e892b127',
    );
    expect(signatureHeader(SECRET, BODY, NOW)).toBe(
      `t=1700000000,v1=${signatureFor(SECRET, 1_700_000_000, BODY)}`,
    );
  });

  it('accepts its own header within the tolerance', () => {
    const header = signatureHeader(SECRET, BODY, NOW);
    expect(verifySignature(SECRET, header, BODY, 300, NOW + 299_000)).toEqual({
      ok: true,
      timestampSec: 1_700_000_000,
    });
    expect(verifySignature(SECRET, header, Buffer.from(BODY), 300, NOW)).toMatchObject({ ok: true });
  });

  it('rejects a wrong secret, a changed body, an old timestamp and garbage', () => {
    const header = signatureHeader(SECRET, BODY, NOW);
    expect(verifySignature('other', header, BODY, 300, NOW)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(SECRET, header, `${BODY} `, 300, NOW)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(SECRET, header, BODY, 300, NOW + 301_000)).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(verifySignature(SECRET, header, BODY, 300, NOW - 301_000)).toEqual({
      ok: false,
      reason: 'expired',
    });
    for (const bad of [
      undefined,
      '',
      't=abc,v1=00',
      'v1=' + 'a'.repeat(64),
      't=1700000000',
      't=1700000000,v1=zz',
    ]) {
      expect(verifySignature(SECRET, bad, BODY, 300, NOW)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('cannot be moved to another timestamp', () => {
    const v1 = signatureFor(SECRET, 1_700_000_000, BODY);
    expect(verifySignature(SECRET, `t=1700000100,v1=${v1}`, BODY, 300, NOW)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
  });

  it('accepts any of several v1 values (secret rotation)', () => {
    const t = 1_700_000_000;
    const header = `t=${t},v1=${signatureFor('old', t, BODY)},v1=${signatureFor(SECRET, t, BODY)}`;
    expect(verifySignature(SECRET, header, BODY, 300, NOW)).toMatchObject({ ok: true });
  });
});
