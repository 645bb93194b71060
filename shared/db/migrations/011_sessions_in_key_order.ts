import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';
import { createAs, isWithoutRowid, replaceTable, tableObjects } from '../rebuild.js';

/**
 * SQLite: session_sources' rows stored in session_id order, as the load now writes them (shared/ingest/load.ts).
 *
 * Every lookup of a session by session_id that reads a column outside the key (the cost checks of
 * build-journeys and process-attribution walk session_costs in key order and read each session's date; the
 * credit's dates and channels) goes through the key index to the row. With the rows in key order those fetches
 * move front to back through the table; in another order (a challenge-made table, or one loaded from a file in
 * file order by an earlier version) each one reads a random page: at scale 10 (580,721 sessions)
 * build-journeys' session_without_cost count took 2.5 CPU s instead of 0.8, the reconciliation's cost pass 2.8
 * instead of 0.7. A rowid table in key order was measured against a WITHOUT ROWID one: it reads as fast, and its
 * users' journeys, which fetch rows by rowid from the user index, faster.
 *
 * A table not in key order is copied in that order from its own stored definition (declared types, key and
 * rowid form unchanged, so an adopted challenge table keeps its shape), with its indexes and triggers re-created;
 * an empty, ordered or WITHOUT ROWID table (already clustered by its key) is left as it is. The order is not
 * schema: down changes nothing. PostgreSQL is left as it is: its load already writes new rows in key order,
 * and it reads the sessions of these checks with hash joins.
 */
export const name = '011_sessions_in_key_order';

const TABLE = 'session_sources';

export async function up(db: Knex): Promise<void> {
  if (dialectOf(db) !== 'sqlite') return;
  const def = (await tableObjects(db, TABLE)).find((o) => o.type === 'table');
  if (def?.sql == null || isWithoutRowid(def.sql)) return;
  // each row against the next by rowid, stopping at the first out of order: a table in file order stops within
  // a few rows, an ordered one takes one pass (0.35 CPU s at scale 10; a LEAD window over the table took 0.8
  // either way, as it does not stop early), against a copy and two index builds
  const disorder = (await db.raw(
    `SELECT EXISTS (SELECT 1 FROM ${TABLE} a WHERE a.session_id > (SELECT b.session_id FROM ${TABLE} b WHERE b.rowid > a.rowid ORDER BY b.rowid LIMIT 1)) AS n`,
  )) as Array<{ n: number }>;
  if (Number(disorder[0]?.n ?? 0) === 0) return;
  const create = createAs(def.sql, `${TABLE}_011`, false);
  // sorted (the + keeps SQLite from reading the rows through the key index, a random page fetch each: 4.2 against
  // 3.0 CPU s at scale 10)
  if (create !== undefined) await replaceTable(db, TABLE, create, `${TABLE}_011`, ['+session_id']);
}

export async function down(): Promise<void> {}
