import type { Knex } from 'knex';
import type { PathCount } from '../attribution/paths.js';
import type { Window } from '../window.js';
import * as t from 'io-ts';
import { dbOver, DbNumber, DbSum, DbText, orThrow } from '../db/db.js';
import type { JourneySql } from './sql.js';

const PathTotals = t.type({ n: DbNumber, s: DbSum });
const PathRow = t.type({ path: DbText, n: DbNumber });

/**
 * Non-converting paths: the window's paths of sessions that led to no order, stored beside the converting
 * journeys (journeys.status 'non_converting', revenue 0, no session flagged as converting) so that the
 * data-driven models see the paths that failed. They are never sent to an attribution provider.
 *
 * Rules, all in SQL:
 *   - a session is *claimed* when it belongs (or would belong) to a converting journey of its user: some
 *     conversion of the user comes after it (at or after with include_same_second) and, with a lookback, at
 *     most lookback days after it. Claimed sessions are never in a non-converting path, so no session is in
 *     two paths of one user (a journey capped by max_sessions still claims its older sessions).
 *   - the user's unclaimed sessions up to the window's end (and from the lookback before the window's start,
 *     when one is set) form paths in time order; a path ends at a claimed session (where a converting
 *     journey begins) and at a gap longer than `closeAfterDays` (it was closed: no order came).
 *   - a path belongs to the window of its last session; its id is `nc:<user_id>:<first session_id>` and its
 *     conv_date / conv_time are those of its last session.
 * A path whose last session is less than `closeAfterDays` before the data ends may still convert later:
 * building the window again after newer data arrived reclassifies it (the build replaces the window).
 */

export const NON_CONVERTING_STATUS = 'non_converting';
export const NON_CONVERTING_PREFIX = 'nc:';

export interface NonConvertingOptions {
  readonly closeAfterDays: number;
  readonly lookbackDays: number | null;
  readonly includeSameSecond: boolean;
  /** leave sessions reported as duplicate_session_id out, as the converting journeys do */
  readonly excludeDuplicates: boolean;
}

export interface NonConvertingResult {
  readonly paths: number;
  readonly sessions: number;
}

function pathSessions(q: JourneySql, w: Window, o: NonConvertingOptions): { sql: string; bindings: Knex.RawBinding[] } {
  const cmp = o.includeSameSecond ? '<=' : '<';
  const claim = [
    'c.user_id = s.user_id',
    q.validDate('c.conv_date'),
    q.validTime('c.conv_time'),
    `(s.event_date < c.conv_date OR (s.event_date = c.conv_date AND s.event_time ${cmp} c.conv_time))`,
  ];
  if (o.lookbackDays !== null) {
    const cut = q.minusDays('c.conv_date', o.lookbackDays);
    claim.push(`(s.event_date > ${cut} OR (s.event_date = ${cut} AND s.event_time >= c.conv_time))`);
  }
  // A path is read over all the user's sessions, not cut at the window's end: cut there, the same path (same
  // first session) would be one path in this window and a longer one in the next, and the next window's insert
  // would collide with this one's rows. Read whole, a path has one shape and belongs to the window of its last day.
  const conds = [q.validDate('s.event_date'), q.validTime('s.event_time')];
  const bindings: Knex.RawBinding[] = [];
  if (o.lookbackDays !== null) {
    conds.push(`s.event_date >= ${q.minusDays(q.dateParam, o.lookbackDays)}`);
    bindings.push(w.start);
  }
  conds.push('s.user_id IN (SELECT a.user_id FROM session_sources a WHERE a.event_date BETWEEN ? AND ?)');
  bindings.push(w.start, w.end);
  if (o.excludeDuplicates) {
    conds.push(
      `s.session_id NOT IN (SELECT d.record_key FROM data_issues d WHERE d.window_start = ? AND d.window_end = ?
                               AND d.table_name = 'session_sources' AND d.reason = 'duplicate_session_id')`,
    );
    bindings.push(w.start, w.end);
  }
  const order = `s2.event_date, s2.event_time, ${q.binary('s2.session_id')}`;
  const gap = Math.round(o.closeAfterDays * 86400);
  // last_date is a whole-path MAX rather than the first value in latest-first order: the path windows then share
  // one sort (user, path, time order) instead of sorting every path twice
  const sql = `
    WITH marked AS (
      SELECT s.session_id, s.user_id, s.event_date, s.event_time, s.channel_name, s.holder_engagement,
             s.closer_engagement, s.impression_interaction,
             CASE WHEN EXISTS (SELECT 1 FROM conversions c WHERE ${claim.join(' AND ')}) THEN 1 ELSE 0 END AS claimed
        FROM session_sources s
       WHERE ${conds.join('\n         AND ')}
    ), linked AS (
      SELECT s2.*,
             LAG(s2.event_date) OVER (PARTITION BY s2.user_id ORDER BY ${order}) AS prev_date,
             LAG(s2.event_time) OVER (PARTITION BY s2.user_id ORDER BY ${order}) AS prev_time,
             LAG(s2.claimed) OVER (PARTITION BY s2.user_id ORDER BY ${order}) AS prev_claimed
        FROM marked s2
    ), cut AS (
      SELECT s2.*,
             CASE WHEN s2.prev_date IS NULL OR s2.prev_claimed = 1
                    OR ${q.secondsBetween('s2.prev_date', 's2.prev_time', 's2.event_date', 's2.event_time')} > ${gap}
                  THEN 1 ELSE 0 END AS starts
        FROM linked s2 WHERE s2.claimed = 0
    ), numbered AS (
      SELECT s2.*, SUM(s2.starts) OVER (PARTITION BY s2.user_id ORDER BY ${order} ROWS UNBOUNDED PRECEDING) AS path_no
        FROM cut s2
    ), paths AS (
      SELECT s2.*,
             FIRST_VALUE(s2.session_id) OVER (PARTITION BY s2.user_id, s2.path_no ORDER BY ${order}) AS first_session,
             MAX(s2.event_date) OVER (PARTITION BY s2.user_id, s2.path_no) AS last_date,
             ROW_NUMBER() OVER (PARTITION BY s2.user_id, s2.path_no ORDER BY ${order}) - 1 AS position
        FROM numbered s2
    )
    SELECT '${NON_CONVERTING_PREFIX}' || p.user_id || ':' || p.first_session || ':' || p.last_date AS conv_id, p.session_id, p.position,
           p.last_date AS conv_date, p.event_date, p.event_time, p.channel_name, p.holder_engagement,
           p.closer_engagement, p.impression_interaction, 0 AS conversion
      FROM paths p
     WHERE p.last_date BETWEEN ? AND ?`;
  bindings.push(w.start, w.end);
  return { sql, bindings };
}

/**
 * Inserts the window's non-converting paths (journey_sessions first, then one journeys row per path). Runs
 * inside build-journeys' transaction, after the converting journeys are in place and the window's old rows
 * are gone.
 */
export async function insertNonConverting(trx: Knex, q: JourneySql, w: Window, o: NonConvertingOptions): Promise<NonConvertingResult> {
  const sel = pathSessions(q, w, o);
  await trx.raw(
    `INSERT INTO journey_sessions (conv_id, session_id, position, conv_date, event_date, event_time, channel_name,
                                   holder_engagement, closer_engagement, impression_interaction, conversion)
     ${sel.sql}`,
    sel.bindings,
  );
  // the paths just inserted are the window's journey_sessions without a journeys row
  await trx.raw(
    `INSERT INTO journeys (conv_id, user_id, conv_date, conv_time, revenue, session_count, status)
     SELECT js.conv_id, MIN(s.user_id), MIN(js.conv_date),
            MAX(CASE WHEN js.event_date = js.conv_date THEN js.event_time END), 0, COUNT(DISTINCT js.session_id), ?
       FROM journey_sessions js JOIN session_sources s ON s.session_id = js.session_id
      WHERE js.conv_date BETWEEN ? AND ?
        AND NOT EXISTS (SELECT 1 FROM journeys j WHERE j.conv_id = js.conv_id)
      GROUP BY js.conv_id`,
    [NON_CONVERTING_STATUS, w.start, w.end],
  );
  const [r] = await orThrow(
    dbOver(trx).select('counting the non-converting paths just built', PathTotals, (k) =>
      k('journeys').count({ n: '*' }).sum({ s: 'session_count' }).where('status', NON_CONVERTING_STATUS).whereBetween('conv_date', [w.start, w.end]),
    ),
  );
  return { paths: r?.n ?? 0, sessions: r?.s ?? 0 };
}

/**
 * The window's non-converting paths as aggregated path counts (`nulls` = how many paths share the channel
 * sequence), for the data-driven models. Grouped in SQL: only distinct paths come back.
 *
 * `unit`: 'path' (default), each stored path; 'user', the window's paths of one user joined into one, in time
 * order. The incremental model fits one chance of ordering per unit, and a converting journey holds every
 * earlier session of its user however long the gaps: a user without an order is the matching unit. Cut at
 * `close_after_days` gaps, one such user would count as several failures with fewer touches each, and the
 * fit would read it as orders being rarer without touches than they are (the baseline pushed towards 0).
 */
export async function nonConvertingPaths(db: Knex, q: JourneySql, w: Window, unit: 'path' | 'user' = 'path'): Promise<PathCount[]> {
  const sep = '\u001f';
  const [key, order] = unit === 'path' ? ['js.conv_id', 'js.position'] : ['j.user_id', `js.event_date, js.event_time, ${q.binary('js.session_id')}`];
  const rows = await orThrow(
    dbOver(db).select(
      'reading the non-converting paths',
      PathRow,
      `SELECT x.path AS path, COUNT(*) AS n
         FROM (SELECT ${key}, ${q.orderedConcat('js.channel_name', sep, order)} AS path
                 FROM journey_sessions js JOIN journeys j ON j.conv_id = js.conv_id
                WHERE j.status = ? AND j.conv_date BETWEEN ? AND ?
                GROUP BY ${key}) x
        GROUP BY x.path`,
      [NON_CONVERTING_STATUS, w.start, w.end],
    ),
  );
  // one order on every database (GROUP BY and collations differ), so that the fits sum in the same order and
  // SQLite and PostgreSQL give the same figures to the last cent
  const paths = rows.map((r) => ({ key: r.path, nulls: r.n }));
  paths.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return paths.map((p) => ({ channels: p.key.split(sep), conversions: 0, value: 0, nulls: p.nulls }));
}
