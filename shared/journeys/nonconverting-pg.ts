import type { Knex } from 'knex';
import type { Window } from '../window.js';
import { writeRows } from '../ingest/stage.js';
import { dbOver } from '../db/db.js';
import type { JourneySql } from './sql.js';
import {
  PATH_COLUMNS,
  pathRow,
  PATHS_TABLE,
  sessionConditions,
  userPaths,
  validStamp,
  windowHoldsAllSessions,
  type NonConvertingOptions,
  type NonConvertingResult,
  type UserOrder,
  type UserSession,
} from './nonconverting.js';

/** rows per FETCH: one batch, and the sessions of the user it may cut, are all the build holds */
const FETCH_ROWS = 20000;
/** paths buffered before they are written: a few COPY statements for the window rather than one per batch */
const WRITE_ROWS = 20000;

/** a row of the stream: [user_id, kind (0 order, 1 session), session_id, date, time, channel_name] */
type StreamRow = [string, number, string | null, unknown, unknown, string | null];

/**
 * PostgreSQL's insertNonConverting (same rules, same rows, same path ids): the window's users' sessions and orders
 * come as one stream, sorted by the server in (user, orders before sessions, time, session_id) order and read
 * through a cursor, batch by batch; userPaths cuts each user's paths, which go back by COPY.
 *
 * At scale 10 this replaced a numbered table of the window's users, a table of their sessions and 200 pages of
 * three queries each (nc_users 3.2 s, nc_sessions 2.2 s, the page loop 10.7 s wall, loaded machine) with one
 * hash join and one sort that the server runs while the client cuts the paths. Users are ordered by their ids'
 * bytes (COLLATE "C"), as SQLite orders them, so both databases number the paths alike whatever the server's locale.
 */
export async function insertNonConvertingPg(
  trx: Knex.Transaction,
  q: JourneySql,
  w: Window,
  o: NonConvertingOptions,
  fetchRows = FETCH_ROWS,
): Promise<NonConvertingResult> {
  const perFetch = Math.max(1, Math.trunc(fetchRows));
  const conds = [q.validDate('s.event_date'), q.validTime('s.event_time')];
  const bindings: Knex.RawBinding[] = [];
  // the window's users are those with a session in it: every user when the window holds every session (a full
  // rebuild, the bench), and then the test is left out rather than hashing every session's user to find them all
  if (!(await windowHoldsAllSessions(dbOver(trx), w))) {
    conds.push('s.user_id IN (SELECT u.user_id FROM session_sources u WHERE u.event_date BETWEEN ? AND ?)');
    bindings.push(w.start, w.end);
  }
  const rules = sessionConditions(q, w, o);
  conds.push(...rules.conds);
  bindings.push(...rules.bindings, w.start, w.end);
  // a cursor is planned for its first rows by default (cursor_tuple_fraction 0.1): an index walk of every session
  // in user order; all of them are read, so it is planned as a query
  await trx.raw('SET LOCAL cursor_tuple_fraction = 1');
  // their orders are found by a probe of the (user, time) index per order (OFFSET 0), not by a hash of every
  // session's user
  await trx.raw(
    `DECLARE nc_stream NO SCROLL CURSOR FOR
     SELECT * FROM (
       SELECT s.user_id, 1 AS kind, s.session_id, s.event_date AS d, s.event_time AS t, s.channel_name
         FROM session_sources s
        WHERE ${conds.join(' AND ')}
       UNION ALL
       SELECT c.user_id, 0, NULL, c.conv_date, c.conv_time, NULL
         FROM conversions c
        WHERE ${q.validDate('c.conv_date')} AND ${q.validTime('c.conv_time')}
          AND EXISTS (SELECT 1 FROM session_sources u WHERE u.user_id = c.user_id AND u.event_date BETWEEN ? AND ?${q.perRow})
     ) e
     ORDER BY ${q.binary('e.user_id')}, e.kind, e.d, e.t, ${q.binary('e.session_id')}`,
    bindings,
  );
  const max = (await trx.raw(`SELECT MAX(path_id) AS m FROM ${PATHS_TABLE}`)) as { rows: Array<{ m: number | string | null }> };
  let nextId = Number(max.rows[0]?.m ?? 0) + 1;

  let paths = 0;
  let sessions = 0;
  let pathRows: Array<readonly unknown[]> = [];
  const user = { id: null as string | null, sessions: [] as UserSession[], orders: [] as UserOrder[] };
  const endUser = (): void => {
    if (user.id !== null) {
      for (const p of userPaths(user.sessions, user.orders, o, w)) {
        pathRows.push(pathRow(nextId++, user.id, p));
        paths++;
        sessions += p.sessions.length;
      }
    }
    user.sessions = [];
    user.orders = [];
  };
  for (;;) {
    const batch = (await trx.raw(`FETCH ${perFetch} FROM nc_stream`).options({ rowMode: 'array' })) as { rows: StreamRow[] };
    for (const [id, kind, sessionId, date, time, channel] of batch.rows) {
      if (id !== user.id) {
        endUser();
        user.id = id;
      }
      // the same stamp test as SQLite's build: PostgreSQL's time type also holds 24:00:00
      if (!validStamp(date, time)) continue;
      if (kind === 0) user.orders.push({ date: date as string, time: time as string });
      else user.sessions.push({ session_id: sessionId!, event_date: date as string, event_time: time as string, channel_name: channel! });
    }
    if (batch.rows.length < perFetch) break;
    if (pathRows.length >= WRITE_ROWS) {
      await writeRows(trx, PATHS_TABLE, PATH_COLUMNS, pathRows, WRITE_ROWS);
      pathRows = [];
    }
  }
  endUser();
  await trx.raw('CLOSE nc_stream');
  await writeRows(trx, PATHS_TABLE, PATH_COLUMNS, pathRows, WRITE_ROWS);
  return { paths, sessions };
}
