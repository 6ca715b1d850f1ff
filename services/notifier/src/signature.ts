/**
 * Webhook signatures: `x-fleetwire-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.
 * The timestamp is inside the signed string, so a captured request cannot be replayed later with a
 * fresh `t`; receivers reject signatures older than their tolerance. Pure (node:crypto only), so a
 * host can copy this file as it is.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-fleetwire-signature';

export function signatureFor(secret: string, timestampSec: number, rawBody: string | Uint8Array): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestampSec}.`);
  hmac.update(rawBody);
  return hmac.digest('hex');
}

/** The header value for a body signed now (or at `nowMs`). */
export function signatureHeader(secret: string, rawBody: string | Uint8Array, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${signatureFor(secret, t, rawBody)}`;
}

export type VerifyResult =
  | { ok: true; timestampSec: number }
  | { ok: false; reason: 'malformed' | 'expired' | 'mismatch' };

/**
 * Checks a signature header against the raw request body (the exact bytes received, before any JSON
 * parsing). Several `v1=` values are accepted so a sender may sign with an old and a new secret while
 * a secret is rotated. `toleranceSec` bounds the clock difference in both directions.
 */
export function verifySignature(
  secret: string,
  header: string | undefined | null,
  rawBody: string | Uint8Array,
  toleranceSec: number,
  nowMs = Date.now(),
): VerifyResult {
  const parsed = parseHeader(header);
  if (!parsed) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowMs / 1000 - parsed.t) > toleranceSec) return { ok: false, reason: 'expired' };
  const expected = Buffer.from(signatureFor(secret, parsed.t, rawBody), 'hex');
  const matches = parsed.v1.some((candidate) => {
    const given = Buffer.from(candidate, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  return matches ? { ok: true, timestampSec: parsed.t } : { ok: false, reason: 'mismatch' };
}

function parseHeader(header: string | undefined | null): { t: number; v1: string[] } | undefined {
  if (typeof header !== 'string') return undefined;
  let t: number | undefined;
  const v1: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/i.test(value)) v1.push(value);
  }
  return t === undefined || v1.length === 0 ? undefined : { t, v1 };
}
