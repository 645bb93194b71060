import type { Knex } from 'knex';
import { dialectOf } from './connect.js';
import { CountRow, dbOver, orThrow } from './db.js';

/** A property of a column that the database enforces, so that no stored row can break it. */
export type SchemaGuarantee =
  | { readonly kind: 'unique'; readonly table: string; readonly column: string }
  /** PostgreSQL only: a DATE/TIME column declared NOT NULL cannot hold a malformed value */
  | { readonly kind: 'typed_not_null'; readonly table: string; readonly column: string };

/** True when the database enforces g (asked of the catalog, which is tiny, never of the table's rows). */
export async function enforced(db: Knex | Knex.Transaction, g: SchemaGuarantee): Promise<boolean> {
  if (g.kind === 'typed_not_null') {
    if (dialectOf(db as Knex) !== 'pg') return false; // SQLite stores any text in a DATE column
    const rows = await orThrow(
      dbOver(db).select(
        `asking whether ${g.table}.${g.column} is a typed NOT NULL column`,
        CountRow,
        `SELECT COUNT(*) AS n FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = ? AND column_name = ?
            AND is_nullable = 'NO' AND data_type IN ('date', 'time without time zone')`,
        [g.table, g.column],
      ),
    );
    return (rows[0]?.n ?? 0) > 0;
  }
  // a unique, non-partial index on exactly this one column (a primary key is one)
  const sql =
    dialectOf(db as Knex) === 'pg'
      ? `SELECT COUNT(*) AS n FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]
          WHERE t.relname = ? AND pg_table_is_visible(t.oid) AND i.indisunique AND i.indnkeyatts = 1
            AND i.indpred IS NULL AND a.attname = ?`
      : `SELECT COUNT(*) AS n FROM pragma_index_list(?) il
          WHERE il."unique" = 1 AND il.partial = 0
            AND (SELECT COUNT(*) FROM pragma_index_info(il.name)) = 1
            AND (SELECT ii.name FROM pragma_index_info(il.name) ii) = ?`;
  const rows = await orThrow(dbOver(db).select(`asking whether ${g.table}.${g.column} has a unique index`, CountRow, sql, [g.table, g.column]));
  return (rows[0]?.n ?? 0) > 0;
}
