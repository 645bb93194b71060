import type { Knex } from 'knex';
import type { Window } from '../window.js';
import { dbOver } from '../db/db.js';
import type { JourneySql } from './sql.js';
import {
  CHANNEL_SEPARATOR,
  PATH_COLUMNS,
  PATH_DAYS_TABLE,
  PATHS_TABLE,
  sessionConditions,
  windowHoldsAllSessions,
  type NonConvertingOptions,
  type NonConvertingResult,
} from './nonconverting.js';

/**
 * validStamp's rule in SQL: a date PostgreSQL writes as YYYY-MM-DD (years 1 to 9999), a time HH:MM:SS before
 * 24:00:00 (the time type also holds 24:00:00 and fractions of a second). NULL fails.
 */
const validStamp = (d: string, t: string): string => `${d} BETWEEN DATE '0001-01-01' AND DATE '9999-12-31' AND ${t} < TIME '24:00:00' AND ${t} = CAST(${t} AS time(0))`;

/** the build's path ids, a sequence of its session (dropped with the transaction if the build fails) */
const PATH_IDS = 'pg_temp.nc_path_ids';

/**
 * the sessions of one user in the order userPaths takes them, session ids in byte order as on SQLite: k's user_id
 * and session_id carry COLLATE "C" from k on. Written on the columns (not as `k.user_id COLLATE "C"` here), the
 * sort under the first window carries each id once: with the collated copies as extra sort columns beside the
 * ids themselves it spilled 171 MB at scale 10, now 96 MB (the statement 2.07 -> 1.90 CPU s of its backend).
 */
const byUser = (a: string): string => `PARTITION BY ${a}.user_id ORDER BY ${a}.event_date, ${a}.event_time, ${a}.session_id`;

/**
 * PostgreSQL's insertNonConverting (same rules, same rows, same path ids): userPaths' rules written as one
 * INSERT ... SELECT, so that no session crosses the connection. Per user, in (date, time, session_id) order:
 *   - a session is claimed when an order of its user comes after it (at or after it with include_same_second), and
 *     with a lookback at most that many days after it. Without a lookback that is "before the user's last order",
 *     which one hash join of each user's last order answers; a lookback adds a probe of the user's orders.
 *   - an unclaimed session starts a path when it is the user's first, follows a claimed session, or comes more than
 *     close_after_days after the session before it (LAG); the running count of starts numbers the user's paths.
 *   - each path's row is one group of a GroupAggregate: its last session's stamp, its first session (the one that
 *     starts it), count, channels and later session ids (JSON, as JSON.stringify writes them); paths ending in the
 *     window are numbered after the table's last path_id, users in byte order (COLLATE "C", as SQLite orders them),
 *     and the same statement records their days (nonconverting_path_days) from the rows it inserted.
 * The aggregates take their rows in time order because the subquery sorts them so and a GroupAggregate feeds each
 * group's rows in its input's order (PostgreSQL's documented way to order string_agg's input without ORDER BY in
 * the call; no parallel plan can split it: a statement that writes gets none). string_agg(... ORDER BY ...) would
 * sort each of the 388,469 groups apart on PostgreSQL 15, and the window aggregates this replaced computed every
 * function on each of the 543,663 sessions, whose rows were then mostly dropped: see docs/build-journeys.md.
 * At scale 10 this replaced a sorted stream read by cursor (580,721 rows through the client), userPaths in
 * TypeScript and 388,469 rows sent back by binary COPY: see docs/build-journeys.md for the figures.
 */
export async function insertNonConvertingPg(trx: Knex.Transaction, q: JourneySql, w: Window, o: NonConvertingOptions): Promise<NonConvertingResult> {
  const sessionTs = 's.event_date + s.event_time';
  const orderTs = 'c.conv_date + c.conv_time';
  const after = o.includeSameSecond ? '>=' : '>';
  const bindings: Knex.RawBinding[] = [];
  let claimed = `m.ts ${after} ${sessionTs}`;
  if (o.lookbackDays !== null) {
    claimed += ` AND EXISTS (SELECT 1 FROM conversions c WHERE c.user_id = s.user_id AND ${validStamp('c.conv_date', 'c.conv_time')}
                               AND ${orderTs} ${after} ${sessionTs} AND ${orderTs} <= ${sessionTs} + make_interval(secs => ?))`;
    bindings.push(o.lookbackDays * 86400);
  }
  const conds = [validStamp('s.event_date', 's.event_time')];
  // the window's users are those with a session in it: every user when the window holds every session (a full
  // rebuild, the bench), and then the test is left out rather than hashing every session's user to find them all
  if (!(await windowHoldsAllSessions(dbOver(trx), w))) {
    conds.push('s.user_id IN (SELECT u.user_id FROM session_sources u WHERE u.event_date BETWEEN ? AND ?)');
    bindings.push(w.start, w.end);
  }
  const rules = sessionConditions(q, w, o);
  conds.push(...rules.conds);
  bindings.push(...rules.bindings, Math.round(o.closeAfterDays * 86400), CHANNEL_SEPARATOR, w.start, w.end);
  // path ids from a sequence drawn in the rows' (user, path) order: a ROW_NUMBER() window over all the window's
  // paths copied each of them once more (388,469 at scale 10); nextval in the select list of an ORDER BY is
  // evaluated after the order is made (here the GroupAggregate's own), so the ids follow it
  await trx.raw(`CREATE TEMPORARY SEQUENCE ${PATH_IDS}`);
  await trx.raw(`SELECT setval('${PATH_IDS}', (SELECT COALESCE(MAX(x.path_id), 0) + 1 FROM ${PATHS_TABLE} x), false)`);
  const r = (await trx.raw(
    `WITH m AS (
       SELECT c.user_id, MAX(${orderTs}) AS ts FROM conversions c WHERE ${validStamp('c.conv_date', 'c.conv_time')} GROUP BY c.user_id
     ), k AS (
       SELECT s.user_id COLLATE "C" AS user_id, s.session_id COLLATE "C" AS session_id, s.event_date, s.event_time, COALESCE(s.channel_name, '') AS channel_name,
              ${sessionTs} AS ts, COALESCE(${claimed}, false) AS claimed
         FROM session_sources s LEFT JOIN m ON m.user_id = s.user_id
        WHERE ${conds.join(' AND ')}
     ), f AS (
       SELECT k.*, CASE WHEN LAG(k.claimed) OVER u IS DISTINCT FROM false OR k.ts > LAG(k.ts) OVER u + make_interval(secs => ?)
                        THEN 1 ELSE 0 END AS starts
         FROM k WINDOW u AS (${byUser('k')})
     ), g AS (
       SELECT f.*, SUM(f.starts) OVER (${byUser('f')} ROWS UNBOUNDED PRECEDING) AS path
         FROM f WHERE NOT f.claimed
     ), p AS (
       SELECT x.user_id, x.path, MAX(x.ts) AS last_ts, MAX(x.session_id) FILTER (WHERE x.starts = 1) AS first_session, COUNT(*) AS n,
              string_agg(x.channel_name, ?) AS channels,
              string_agg(CAST(to_json(x.session_id) AS text), ',') FILTER (WHERE x.starts = 0) AS later
         FROM (SELECT g.user_id, g.path, g.ts, g.session_id, g.channel_name, g.starts
                 FROM g ORDER BY 1, 2, g.event_date, g.event_time, g.session_id) x
        GROUP BY x.user_id, x.path
     ), ins AS (
       INSERT INTO ${PATHS_TABLE} (${PATH_COLUMNS.join(', ')})
       SELECT nextval('${PATH_IDS}'),
              p.user_id, p.first_session, CAST(p.last_ts AS date), CAST(p.last_ts AS time), p.n, p.channels,
              CASE WHEN p.n > 1 THEN '[' || p.later || ']' END
         FROM p WHERE CAST(p.last_ts AS date) BETWEEN ? AND ? ORDER BY p.user_id COLLATE "C", p.path
       RETURNING path_id, last_date, session_count
     ), days AS (
       INSERT INTO ${PATH_DAYS_TABLE} (last_date, first_path, last_path)
       SELECT ins.last_date, MIN(ins.path_id), MAX(ins.path_id) FROM ins GROUP BY ins.last_date
     )
     SELECT COUNT(*) AS paths, COALESCE(SUM(ins.session_count), 0) AS sessions FROM ins`,
    bindings,
  )) as { rows: Array<{ paths: number | string; sessions: number | string }> };
  await trx.raw(`DROP SEQUENCE ${PATH_IDS}`);
  return { paths: Number(r.rows[0]?.paths ?? 0), sessions: Number(r.rows[0]?.sessions ?? 0) };
}
