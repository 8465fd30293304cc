// Keyset pagination cursors: the sort key of the last row of a page, opaque to clients (base64url JSON).
import { RmError } from '../../protocol/errors.js';

export type CursorKey = Array<string | number>;

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key a cursor holds; a cursor that was not made by encodeCursor with `arity` parts is refused (400). */
export function decodeCursor(cursor: string | null, arity: number): CursorKey | null {
  if (cursor === null) return null;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    key = null;
  }
  if (!Array.isArray(key) || key.length !== arity || !key.every((k) => typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k)))) {
    throw new RmError('API_INVALID', 'cursor: not a cursor this list returned (pass `next` from the previous page)');
  }
  return key as CursorKey;
}

/** A page from rows fetched with limit + 1: the extra row only says whether there is a next page. */
export function pageOf<T>(rows: T[], limit: number, keyOf: (row: T) => CursorKey): { items: T[]; next: string | null } {
  if (rows.length <= limit) return { items: rows, next: null };
  const items = rows.slice(0, limit);
  return { items, next: encodeCursor(keyOf(items[items.length - 1]!)) };
}

/** A cursor part that must be a number (a forged cursor with text there is the client's error, not a 500). */
export function cursorNumber(part: string | number): number {
  if (typeof part !== 'number') throw new RmError('API_INVALID', 'cursor: not a cursor this list returned (pass `next` from the previous page)');
  return part;
}
