import type { Knex } from 'knex';
import * as t from 'io-ts';
import { dialectOf, type Dialect } from '../db/connect.js';
import { dbOver, orThrow } from '../db/db.js';

/**
 * The few SQL fragments that differ between SQLite and PostgreSQL. Everything else in the journey queries is
 * standard SQL (window functions, INSERT ... SELECT, correlated subqueries) that both accept as written.
 */
export interface JourneySql {
  readonly dialect: Dialect;
  /** true when the column holds a real calendar date written YYYY-MM-DD */
  readonly validDate: (col: string) => string;
  /** true when the column holds a real time of day written HH:MM:SS */
  readonly validTime: (col: string) => string;
  /** the date `days` days before a date column, comparable with date columns */
  readonly minusDays: (col: string, days: number) => string;
  /** byte-order comparison, so that session_id tie-breaks do not depend on the server's locale */
  readonly binary: (col: string) => string;
  /** seconds from (d1 t1) to (d2 t2) as an integer */
  readonly secondsBetween: (d1: string, t1: string, d2: string, t2: string) => string;
  /** a bound date parameter usable in a SELECT list that feeds a date column */
  readonly dateParam: string;
  /**
   * Prefix of a column in a filter that should not drive the plan. SQLite's unary + keeps the planner from a
   * MULTI-INDEX OR that fetches most of a table row by row in random order (6x slower than a scan at scale 10).
   */
  readonly noIndex: string;
  /** string aggregation in a given order */
  readonly orderedConcat: (col: string, sep: string, orderBy: string) => string;
  /**
   * Appended to an EXISTS subquery that should run as an index probe per outer row. PostgreSQL turns EXISTS into
   * a hash semi/anti join, which hashes the whole inner table (580,721 sessions at scale 10, every run) to answer
   * for the window's 20,000 conversions; OFFSET 0 keeps the subquery as it is written. SQLite probes anyway.
   */
  readonly perRow: string;
  /**
   * A sum of floats that does not depend on the order the plan feeds the rows in. PostgreSQL adds float8 in
   * arrival order, and a plan that differs between two runs (statistics, a concurrent writer) moved a model's
   * revenue by a cent (1017.99 against 1017.98, the reason for ac95d22); numeric addition is exact. SQLite (3.43+)
   * already sums with Kahan-Babuska-Neumaier compensation.
   */
  readonly stableSum: (expr: string) => string;
}

export function journeySql(db: Knex): JourneySql {
  const dialect = dialectOf(db);
  if (dialect === 'pg') {
    // typed date/time columns cannot hold a malformed value; only a NULL (adopted table without NOT NULL) can be wrong
    return {
      dialect,
      validDate: (c) => `(${c} IS NOT NULL)`,
      validTime: (c) => `(${c} IS NOT NULL)`,
      minusDays: (c, n) => `(${c} - ${Math.trunc(n)})`,
      binary: (c) => `${c} COLLATE "C"`,
      secondsBetween: (d1, t1, d2, t2) => `CAST(EXTRACT(EPOCH FROM ((${d2} + ${t2}) - (${d1} + ${t1}))) AS BIGINT)`,
      dateParam: 'CAST(? AS DATE)',
      noIndex: '',
      orderedConcat: (c, sep, o) => `string_agg(${c}, '${sep}' ORDER BY ${o})`,
      perRow: ' OFFSET 0',
      stableSum: (e) => `CAST(SUM(CAST(${e} AS numeric)) AS double precision)`,
    };
  }
  // SQLite stores dates as text. A well-formed value equals its own round trip through a day number (and has the
  // right length, which date() does not check): "2023-02-30" becomes "2023-03-02" and fails. date() alone is
  // not enough: SQLite before 3.45 returns "2023-02-30" unchanged (the sqlite3 driver bundles 3.44). date() and
  // time() are NULL for what they cannot read ("2023-13-01", "12:60:00"): COALESCE makes that false, so that
  // the checks' NOT finds those values too (NOT NULL is NULL, and they went unreported).
  return {
    dialect,
    validDate: (c) => `(typeof(${c}) = 'text' AND length(${c}) = 10 AND COALESCE(date(julianday(${c})) = ${c}, 0))`,
    // time() accepts "24:00:00", which no session can start at
    validTime: (c) => `(typeof(${c}) = 'text' AND length(${c}) = 8 AND COALESCE(time(${c}) = ${c}, 0) AND ${c} < '24:00:00')`,
    minusDays: (c, n) => `date(${c}, '-${Math.trunc(n)} days')`,
    binary: (c) => c,
    secondsBetween: (d1, t1, d2, t2) =>
      `(CAST(strftime('%s', ${d2} || ' ' || ${t2}) AS INTEGER) - CAST(strftime('%s', ${d1} || ' ' || ${t1}) AS INTEGER))`,
    dateParam: '?',
    noIndex: '+',
    // ORDER BY inside an aggregate needs SQLite 3.44 (both bundled drivers have it)
    orderedConcat: (c, sep, o) => `group_concat(${c}, '${sep}' ORDER BY ${o})`,
    perRow: '',
    stableSum: (e) => `SUM(${e})`,
  };
}

/**
 * SQLite: how many rows of table `a` have a session_id that no row of `b` has, as an expression. The ids are
 * compared by one merge of the two tables' key indexes front to back (EXCEPT with ORDER BY), not a probe per row.
 * NULL ids never match and are counted apart: EXCEPT would treat them as one value, or drop them all when `b` has
 * a NULL id too. `atMost` stops each part after that many rows, for a test of existence.
 */
export function sessionIdsMissingSql(a: string, b: string, atMost?: number): string {
  const limit = atMost === undefined ? '' : ` LIMIT ${atMost}`;
  return `((SELECT COUNT(*) FROM (SELECT 1 FROM (SELECT session_id FROM ${a} WHERE session_id IS NOT NULL
                                               EXCEPT SELECT session_id FROM ${b} ORDER BY 1)${limit}))
         + (SELECT COUNT(*) FROM (SELECT 1 FROM ${a} WHERE session_id IS NULL${limit})))`;
}

/**
 * PostgreSQL plans the journey join and the window checks from table statistics. A table loaded moments ago
 * (or a journeys table just refilled inside this transaction) has none yet, and autovacuum may come minutes
 * later: the planner then guesses a few rows and picks nested loops over millions. ANALYZE samples a bounded
 * number of rows (default 30,000) whatever the table's size, so this costs the same at any scale. Tables that
 * autovacuum or an earlier run analysed are left alone unless `always`. SQLite needs nothing: its planner works
 * from the indexes' shape.
 */
export async function analyzeIfUnknown(db: Knex | Knex.Transaction, tables: readonly string[], always = false): Promise<void> {
  if (dialectOf(db as Knex) !== 'pg') return;
  for (const table of tables) {
    if (!always) {
      const rows = await orThrow(
        dbOver(db as Knex).select(
          `asking whether ${table} was analysed`,
          t.type({ analysed: t.boolean }),
          `SELECT COALESCE(last_analyze, last_autoanalyze) IS NOT NULL AS analysed
             FROM pg_stat_user_tables WHERE relname = ? AND schemaname = current_schema()`,
          [table],
        ),
      );
      if (rows[0]?.analysed === true) continue;
    }
    // a table name from this module's callers, never from input
    await db.raw(`ANALYZE ${table}`);
  }
}
