import { invalidInput } from './errors.ts';

/** Position after the last row of a page: (created_at as PostgreSQL printed it, id). */
export interface PageKey {
  createdAt: string;
  id: string;
}

/** Opaque to clients; the timestamp keeps PostgreSQL's microseconds, which a JS Date would lose. */
/** PostgreSQL's text form of a timestamptz, e.g. `2026-01-02 03:04:05.123456+00`. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}(:?\d{2})?|Z)?$/;

export function encodeCursor(key: PageKey): string {
  return Buffer.from(JSON.stringify([key.createdAt, key.id])).toString('base64url');
}

export function decodeCursor(cursor: string): PageKey {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parsed) &&
      parsed.length === 2 &&
      typeof parsed[0] === 'string' &&
      typeof parsed[1] === 'string' &&
      TIMESTAMP.test(parsed[0])
    ) {
      return { createdAt: parsed[0], id: parsed[1] };
    }
  } catch {
    // fall through: anything we cannot read is not a cursor we issued
  }
  return invalidInput('cursor is not valid');
}
