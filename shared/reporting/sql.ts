import type { Knex } from 'knex';

/** Rows of a raw SELECT: SQLite drivers give an array, pg gives `{ rows }`. */
export async function selectRows<T>(db: Knex, sql: string, bindings: readonly unknown[] = []): Promise<T[]> {
  const r: unknown = await db.raw(sql, bindings as Knex.RawBinding[]);
  if (Array.isArray(r)) return r as T[];
  if (typeof r === 'object' && r !== null && Array.isArray((r as { rows?: unknown }).rows)) return (r as { rows: T[] }).rows;
  return [];
}

/** `?, ?, ?` for an IN list. */
export const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

/** Splits a list for IN clauses: SQLite builds before 3.32 accept at most 999 bound values per statement. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** SUM/COUNT come back as number, string (pg numeric) or null (no rows). */
export const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
