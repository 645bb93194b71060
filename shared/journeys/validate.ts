import type { Knex } from 'knex';
import type { Window } from '../window.js';
import * as t from 'io-ts';
import { dbOver, DbNumber, DbText, orThrow } from '../db/db.js';
import { journeySql, sessionIdsMissingSql, type JourneySql } from './sql.js';
import { enforced, type SchemaGuarantee } from '../db/guarantees.js';

/**
 * Checks run before journeys are built. Every finding becomes one row of `data_issues` for the run's window
 * (the window's earlier rows are replaced). `error` rows are excluded from journeys (a conversion so marked
 * gets the journey status `invalid`); `warning` rows are kept and only reported.
 *
 * Scope: a check that can be placed in time looks at the window's records (conversions dated in the window;
 * sessions dated in the window or belonging to a user who converts in it, i.e. every session a journey of the
 * window or its cost report can touch). Records that cannot be placed (a conversion without a valid date, a
 * cost without a session, an id used twice) are table-wide and reported by every window's run, so that they
 * stay visible until fixed.
 */
export type Severity = 'error' | 'warning';

export interface IssueCheck {
  readonly reason: string;
  readonly table: 'session_sources' | 'conversions' | 'session_costs';
  readonly severity: Severity;
  /** what it means, for the docs and the report */
  readonly meaning: string;
  /** the SELECT producing (record_key, detail) rows, and its bindings after the window parameters */
  readonly select: (q: JourneySql, w: Window) => { readonly sql: string; readonly bindings: readonly Knex.RawBinding[] };
  /**
   * When the schema itself rules the finding out (a primary key, a typed NOT NULL column), the check is skipped:
   * its answer is known to be empty, and asking would scan the whole table on every run.
   */
  readonly ruledOutBy?: SchemaGuarantee;
  /**
   * A cheaper query giving one row whose column `column` is 0 only when `select` would find nothing (a count
   * of what it would find, or of a wider set), when `requires` holds. When it gives 0 the naming query is
   * skipped; otherwise the naming query runs as well. Checks whose counts come from the same pass return the
   * same query (same text and bindings), run once. undefined where counting is not cheaper (the dialect's
   * planner does the naming query well).
   */
  readonly count?: (q: JourneySql, w: Window) => IssueCountQuery | undefined;
}

interface IssueCountQuery {
  readonly sql: string;
  readonly bindings: readonly Knex.RawBinding[];
  readonly column: string;
  readonly requires?: SchemaGuarantee;
}

/**
 * SQLite: the counts of three checks in one statement.
 * - cost_without_session: the cost ids that no session has, exactly: session_costs EXCEPT session_sources' ids
 *   with ORDER BY, which SQLite runs as a merge of the two key indexes front to back (no probe per row), plus
 *   each cost row with a NULL id (the naming query never matches one);
 * - session_without_cost: first whether any session of the whole table may lack a cost row, from the two tables'
 *   row counts and the cost rows without a session (the merge above): with session_costs' ids unique (the check's
 *   `requires`), |sessions| - |cost rows| + cost_without_session is the sessions with a NULL id plus the sessions
 *   with an id minus the distinct ids that have both, never below the sessions without a cost row, and 0 only when
 *   there are none (a session_id repeated in an adopted table makes it positive: the exact count then runs). A
 *   second merge the other way cost 0.11-0.12 CPU s at scale 10, the two counts 0.03. When it is 0 (the usual
 *   answer) the count is 0; otherwise the exact count of the window's: its sessions minus those with a cost row,
 *   exact when each session has at most one cost row, which session_costs' unique key guarantees (a NULL event_date
 *   is outside the dates, as in the naming query's scope). CASE runs that pass only when the gate is not 0;
 * - malformed_event_time: the sessions of the whole table whose time is not HH:MM:SS before 24:00:00, by GLOB
 *   (a valid time by this test is one by validTime, so 0 here means none in the window).
 * At scale 10 (580,721 sessions and cost rows, none missing): 0.75 CPU s against 1.2-1.3 for the pass this
 * replaced (a scan of the (user, time) index for the window's sessions and the times, and session_costs joined
 * to session_sources by key, fetching each session's row for its date and user).
 */
const sessionPass = (w: Window): { sql: string; bindings: Knex.RawBinding[] } => {
  const converting = 's.user_id IN (SELECT c.user_id FROM conversions c WHERE c.conv_date BETWEEN ? AND ?)';
  return {
    // MATERIALIZED: the merge runs once for both columns that read it
    sql: `WITH m AS MATERIALIZED (SELECT ${sessionIdsMissingSql('session_costs', 'session_sources')} AS n)
          SELECT m.n AS cost_without_session,
                 CASE WHEN (SELECT COUNT(*) FROM session_sources) - (SELECT COUNT(*) FROM session_costs) + m.n = 0 THEN 0
                      ELSE (SELECT COUNT(*) FROM session_sources s WHERE s.event_date BETWEEN ? AND ? OR ${converting})
                         - (SELECT COUNT(*) FROM session_costs k JOIN session_sources s ON s.session_id = k.session_id
                             WHERE s.event_date BETWEEN ? AND ? OR ${converting}) END AS session_without_cost,
                 (SELECT COUNT(*) FROM session_sources s
                   WHERE NOT (typeof(s.event_time) = 'text' AND s.event_time GLOB '[0-2][0-9]:[0-5][0-9]:[0-5][0-9]'
                              AND s.event_time < '24:00:00')) AS malformed_event_time
            FROM m`,
    bindings: [w.start, w.end, w.start, w.end, w.start, w.end, w.start, w.end],
  };
};

/**
 * PostgreSQL: the counts of session_without_cost and cost_without_session from one hash FULL JOIN of
 * session_sources and session_costs; the two INSERT ... SELECT that find none took 1.3 + 0.7 s at scale 10, this
 * about 1.1 (event times are typed there, so no time test). Each side's unmatched rows are counted directly, so
 * the counts are exact without session_costs' unique key.
 */
const pgSessionPass = (w: Window): { sql: string; bindings: Knex.RawBinding[] } => ({
  sql: `SELECT COUNT(CASE WHEN k.session_id IS NULL
                           AND (s.event_date BETWEEN ? AND ? OR s.user_id IN (SELECT c.user_id FROM conversions c WHERE c.conv_date BETWEEN ? AND ?))
                          THEN 1 END) AS session_without_cost,
               COUNT(CASE WHEN s.session_id IS NULL THEN 1 END) AS cost_without_session
          FROM session_sources s FULL JOIN session_costs k ON k.session_id = s.session_id`,
  bindings: [w.start, w.end, w.start, w.end],
});

const quoted = (col: string): string => `COALESCE('"' || CAST(${col} AS TEXT) || '"', 'NULL')`;

/** the window's sessions: dated in it, or of a user converting in it */
const sessionScope = (q: JourneySql, w: Window): { sql: string; bindings: Knex.RawBinding[] } => ({
  sql: `(${q.noIndex}s.event_date BETWEEN ? AND ? OR s.user_id IN (SELECT c.user_id FROM conversions c WHERE c.conv_date BETWEEN ? AND ?))`,
  bindings: [w.start, w.end, w.start, w.end],
});

export const ISSUE_CHECKS: readonly IssueCheck[] = [
  {
    reason: 'malformed_event_date',
    table: 'session_sources',
    severity: 'error',
    meaning: 'event_date is not a real date written YYYY-MM-DD; the session is left out of every journey',
    ruledOutBy: { kind: 'typed_not_null', table: 'session_sources', column: 'event_date' },
    // SQLite: the table's distinct dates, one probe of the date index each (a few hundred in years of data),
    // tested instead of every session of the window (0.45 CPU s at scale 10); 0 means none anywhere
    count: (q) =>
      q.dialect === 'pg'
        ? undefined
        : {
            sql: `WITH RECURSIVE d(v) AS (SELECT MIN(event_date) FROM session_sources
                                          UNION ALL
                                          SELECT (SELECT MIN(s.event_date) FROM session_sources s WHERE s.event_date > d.v) FROM d WHERE d.v IS NOT NULL)
                  SELECT (SELECT COUNT(*) FROM d WHERE d.v IS NOT NULL AND NOT ${q.validDate('d.v')})
                       + (SELECT COUNT(*) FROM session_sources s WHERE s.event_date IS NULL) AS malformed_event_date`,
            bindings: [],
            column: 'malformed_event_date',
          },
    select: (q, w) => {
      const scope = sessionScope(q, w);
      return {
        sql: `SELECT s.session_id AS record_key, 'event_date ' || ${quoted('s.event_date')} || ' is not a real date written YYYY-MM-DD' AS detail
                FROM session_sources s WHERE ${scope.sql} AND NOT ${q.validDate('s.event_date')}`,
        bindings: scope.bindings,
      };
    },
  },
  {
    reason: 'malformed_event_time',
    table: 'session_sources',
    severity: 'error',
    meaning: 'event_time is not a real time written HH:MM:SS; the session is left out of every journey',
    ruledOutBy: { kind: 'typed_not_null', table: 'session_sources', column: 'event_time' },
    count: (q, w) => (q.dialect === 'pg' ? undefined : { ...sessionPass(w), column: 'malformed_event_time' }),
    select: (q, w) => {
      const scope = sessionScope(q, w);
      return {
        sql: `SELECT s.session_id AS record_key, 'event_time ' || ${quoted('s.event_time')} || ' is not a real time written HH:MM:SS' AS detail
                FROM session_sources s WHERE ${scope.sql} AND NOT ${q.validTime('s.event_time')}`,
        bindings: scope.bindings,
      };
    },
  },
  {
    reason: 'malformed_conv_date',
    table: 'conversions',
    severity: 'error',
    meaning: 'conv_date is not a real date written YYYY-MM-DD; the conversion belongs to no window (table-wide check)',
    select: (q) => ({
      sql: `SELECT c.conv_id AS record_key, 'conv_date ' || ${quoted('c.conv_date')} || ' is not a real date written YYYY-MM-DD' AS detail
              FROM conversions c WHERE NOT ${q.validDate('c.conv_date')}`,
      bindings: [],
    }),
  },
  {
    reason: 'malformed_conv_time',
    table: 'conversions',
    severity: 'error',
    meaning: 'conv_time is not a real time written HH:MM:SS; the conversion gets the journey status invalid',
    select: (q, w) => ({
      sql: `SELECT c.conv_id AS record_key, 'conv_time ' || ${quoted('c.conv_time')} || ' is not a real time written HH:MM:SS' AS detail
              FROM conversions c WHERE c.conv_date BETWEEN ? AND ? AND NOT ${q.validTime('c.conv_time')}`,
      bindings: [w.start, w.end],
    }),
  },
  {
    reason: 'duplicate_session_id',
    table: 'session_sources',
    severity: 'error',
    meaning: 'several session rows share one session_id (a table without its primary key); all of them are left out (table-wide)',
    ruledOutBy: { kind: 'unique', table: 'session_sources', column: 'session_id' },
    select: () => ({
      sql: `SELECT s.session_id AS record_key, CAST(COUNT(*) AS TEXT) || ' rows share this session_id' AS detail
              FROM session_sources s GROUP BY s.session_id HAVING COUNT(*) > 1`,
      bindings: [],
    }),
  },
  {
    reason: 'duplicate_conv_id',
    table: 'conversions',
    severity: 'error',
    meaning: 'several conversion rows share the conv_id of a window conversion; it gets the journey status invalid',
    select: (_q, w) => ({
      sql: `SELECT c.conv_id AS record_key, CAST(COUNT(*) AS TEXT) || ' rows share this conv_id' AS detail
              FROM conversions c WHERE c.conv_id IN (SELECT c2.conv_id FROM conversions c2 WHERE c2.conv_date BETWEEN ? AND ?)
             GROUP BY c.conv_id HAVING COUNT(*) > 1`,
      bindings: [w.start, w.end],
    }),
  },
  {
    reason: 'duplicate_cost_row',
    table: 'session_costs',
    severity: 'warning',
    meaning: 'several cost rows share one session_id (a table without its primary key) (table-wide)',
    ruledOutBy: { kind: 'unique', table: 'session_costs', column: 'session_id' },
    select: () => ({
      sql: `SELECT k.session_id AS record_key, CAST(COUNT(*) AS TEXT) || ' cost rows share this session_id' AS detail
              FROM session_costs k GROUP BY k.session_id HAVING COUNT(*) > 1`,
      bindings: [],
    }),
  },
  {
    reason: 'conv_id_is_session_id',
    table: 'conversions',
    severity: 'warning',
    meaning: 'a window conversion uses an id that is also a session_id; providers that mix both kinds of id may confuse them',
    select: (q, w) => ({
      sql: `SELECT c.conv_id AS record_key, 'conv_id is also the session_id of a session' AS detail
              FROM conversions c WHERE c.conv_date BETWEEN ? AND ?
               AND EXISTS (SELECT 1 FROM session_sources s WHERE s.session_id = c.conv_id${q.perRow})`,
      bindings: [w.start, w.end],
    }),
  },
  {
    reason: 'user_without_sessions',
    table: 'conversions',
    severity: 'warning',
    meaning: 'the converting user has no session at all; the conversion gets the journey status no_sessions',
    select: (q, w) => ({
      sql: `SELECT c.conv_id AS record_key, 'user ' || ${quoted('c.user_id')} || ' has no session' AS detail
              FROM conversions c WHERE c.conv_date BETWEEN ? AND ?
               AND NOT EXISTS (SELECT 1 FROM session_sources s WHERE s.user_id = c.user_id${q.perRow})`,
      bindings: [w.start, w.end],
    }),
  },
  {
    reason: 'session_without_cost',
    table: 'session_sources',
    severity: 'warning',
    meaning: 'a window session has no row in session_costs (a NULL cost row counts as present); its channel cost is understated',
    select: (q, w) => {
      // The scope's two halves each from their own index (dates: the covering date index, so ids come sorted and
      // the cost probes hit neighbouring pages; converting users: the user index), so the work follows the
      // window, not the table. UNION keeps one row per id, as the EXCEPT this replaces did; ORDER BY its id order.
      const missing = 'NOT EXISTS (SELECT 1 FROM session_costs k WHERE k.session_id = s.session_id)';
      return {
        sql: `SELECT u.session_id AS record_key, 'no session_costs row' AS detail FROM (
                SELECT s.session_id FROM session_sources s WHERE s.event_date BETWEEN ? AND ? AND ${missing}
                UNION
                SELECT s.session_id FROM conversions c JOIN session_sources s ON s.user_id = c.user_id
                 WHERE c.conv_date BETWEEN ? AND ? AND ${missing}) u
              ORDER BY 1`,
        bindings: [w.start, w.end, w.start, w.end],
      };
    },
    count: (q, w) =>
      q.dialect === 'pg'
        ? { ...pgSessionPass(w), column: 'session_without_cost' }
        : { ...sessionPass(w), column: 'session_without_cost', requires: { kind: 'unique', table: 'session_costs', column: 'session_id' } },
  },
  {
    reason: 'cost_without_session',
    table: 'session_costs',
    severity: 'warning',
    meaning: 'a cost row names a session_id that session_sources does not have; its cost reaches no channel (table-wide)',
    select: () => ({
      sql: `SELECT k.session_id AS record_key, 'no session with this session_id' AS detail
              FROM session_costs k WHERE NOT EXISTS (SELECT 1 FROM session_sources s WHERE s.session_id = k.session_id)`,
      bindings: [],
    }),
    count: (q, w) => (q.dialect === 'pg' ? { ...pgSessionPass(w), column: 'cost_without_session' } : { ...sessionPass(w), column: 'cost_without_session' }),
  },
];

export interface IssueCount {
  readonly table: string;
  readonly reason: string;
  readonly severity: Severity;
  readonly count: number;
}

/** Replaces the window's data_issues with what the checks find now. Call inside the build's transaction. */
export async function writeIssues(trx: Knex | Knex.Transaction, w: Window, q: JourneySql = journeySql(trx as Knex)): Promise<IssueCount[]> {
  await trx('data_issues').where({ window_start: w.start, window_end: w.end }).delete();
  const passes = new Map<string, Record<string, unknown>>();
  for (const check of ISSUE_CHECKS) {
    if (check.ruledOutBy !== undefined && (await enforced(trx, check.ruledOutBy))) continue;
    const counted = check.count?.(q, w);
    if (counted !== undefined && (counted.requires === undefined || (await enforced(trx, counted.requires)))) {
      const key = JSON.stringify([counted.sql, counted.bindings]);
      let row = passes.get(key);
      if (row === undefined) {
        [row = {}] = await orThrow(dbOver(trx as Knex).select(`counting ${check.reason}`, t.UnknownRecord, counted.sql, counted.bindings));
        passes.set(key, row);
      }
      const n = DbNumber.decode(row[counted.column]);
      if (n._tag === 'Right' && n.right === 0) continue;
    }
    const sel = check.select(q, w);
    await trx.raw(
      `INSERT INTO data_issues (window_start, window_end, table_name, record_key, reason, severity, detail)
       SELECT ${q.dateParam}, ${q.dateParam}, ?, x.record_key, ?, ?, x.detail FROM (${sel.sql}) x`,
      [w.start, w.end, check.table, check.reason, check.severity, ...sel.bindings],
    );
  }
  return issueCounts(trx, w);
}

const IssueCountRow = t.type({ table_name: DbText, reason: DbText, severity: DbText, n: DbNumber });

/** The window's issues by table and reason, in the order of ISSUE_CHECKS. */
export async function issueCounts(db: Knex | Knex.Transaction, w: Window): Promise<IssueCount[]> {
  const rows = await orThrow(
    dbOver(db as Knex).select("counting the window's data issues", IssueCountRow, (k) =>
      k('data_issues')
        .select('table_name', 'reason', 'severity')
        .count({ n: '*' })
        .where({ window_start: w.start, window_end: w.end })
        .groupBy('table_name', 'reason', 'severity'),
    ),
  );
  const order = new Map(ISSUE_CHECKS.map((c, i) => [c.reason, i]));
  return rows
    .map((r) => ({ table: r.table_name, reason: r.reason, severity: (r.severity === 'error' ? 'error' : 'warning') as Severity, count: r.n }))
    .sort((a, b) => (order.get(a.reason) ?? 99) - (order.get(b.reason) ?? 99) || a.reason.localeCompare(b.reason));
}

