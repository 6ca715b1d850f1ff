import { API_ERROR, ApiError } from './errors.ts';

/**
 * Keyset paging: a cursor is the sort key of the last row of a page, opaque to clients
 * (base64url JSON), so a page never skips or repeats rows when others are inserted meanwhile.
 */
export function encodeCursor(key: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string | undefined, shape: readonly ('string' | 'number')[]): unknown[] {
  if (cursor === undefined) return [];
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = undefined;
  }
  const fits =
    Array.isArray(key) && key.length === shape.length && key.every((v, i) => typeof v === shape[i]);
  if (!fits) throw new ApiError(API_ERROR.VALIDATION, 'cursor is not valid', { field: 'querystring.cursor' });
  return key as unknown[];
}

/** Page size as asked, capped by the configured maximum. */
export function pageSize(limit: number | undefined, max: number, fallback = 50): number {
  return Math.min(limit ?? Math.min(fallback, max), max);
}

/** Asks for one row more than the page holds: its presence tells whether a next page exists. */
export function toPage<R, T>(
  rows: readonly R[],
  size: number,
  view: (row: R) => T,
  keyOf: (row: R) => unknown[],
): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, size);
  const last = items.at(-1);
  return {
    items: items.map(view),
    nextCursor: rows.length > size && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
