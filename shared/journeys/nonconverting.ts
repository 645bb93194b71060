import type { Knex } from 'knex';
import { PATH_KEY_SEPARATOR, type PathCount } from '../attribution/paths.js';
import { isIsoDate, toEpochSeconds, type Window } from '../window.js';
import * as t from 'io-ts';
import { dbOver, DbBit, DbFailure, DbNumber, DbText, orThrow, type Db } from '../db/db.js';
import { isFirst } from '../codecs/is-first.js';
import { analyzeIfUnknown, type JourneySql } from './sql.js';
import { rowReader, writeRows } from '../ingest/stage.js';
import { schemaError } from '../errors.js';

/**
 * Non-converting paths: the window's paths of sessions that led to no order, stored in their own table
 * (nonconverting_paths, migrations 008 and 012: one row per path with its channel sequence and its session ids)
 * so that the data-driven models see the paths that failed.
 * They are never sent to an attribution provider.
 *
 * Rules (userPaths applies them to one user's sessions and orders; SQL picks the users and orders their rows):
 *   - a session is *claimed* when it belongs (or would belong) to a converting journey of its user: some
 *     conversion of the user comes after it (at or after with include_same_second) and, with a lookback, at
 *     most lookback days after it. Claimed sessions are never in a non-converting path, so no session is in
 *     two paths of one user (a journey capped by max_sessions still claims its older sessions).
 *   - the user's unclaimed sessions, read over all the data (from the lookback before the window's start when
 *     one is set), form paths in time order; a path ends at a claimed session (where a converting journey
 *     begins) and at a gap longer than `closeAfterDays` (it was closed: no order came).
 *   - a path belongs to the window of its last session; it is known by its user and first session, and its
 *     last_date / last_time are those of its last session.
 * A path whose last session is less than `closeAfterDays` before the data ends may still convert later:
 * building the window again after newer data arrived reclassifies it (the build replaces the window).
 */

export const PATHS_TABLE = 'nonconverting_paths';
/** per day that ends stored paths, their smallest and largest path_id (migration 013) */
export const PATH_DAYS_TABLE = 'nonconverting_path_days';
/** between the channel names of nonconverting_paths.channels: the model comparison's path keys, so the read's joined sequences are keys as they come */
export const CHANNEL_SEPARATOR = PATH_KEY_SEPARATOR;

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

export interface UserSession {
  readonly session_id: string;
  readonly event_date: string;
  readonly event_time: string;
  readonly channel_name: string;
}

export interface UserOrder {
  readonly date: string;
  readonly time: string;
}

export interface PathRules {
  readonly closeAfterDays: number;
  readonly lookbackDays: number | null;
  readonly includeSameSecond: boolean;
}

export interface NcPath {
  readonly sessions: readonly UserSession[];
  readonly last_date: string;
  readonly last_time: string;
}

const daySeconds = new Map<string, number>();
const digit = (s: string, i: number): number => s.charCodeAt(i) - 48;
/**
 * toEpochSeconds for a valid date and time: the day's start is parsed once per distinct date, the time is read
 * digit by digit (Date.parse of a new string per session was about 0.5 CPU s at scale 10).
 */
function stampSeconds(date: string, time: string): number {
  let day = daySeconds.get(date);
  if (day === undefined) {
    day = toEpochSeconds(date, '00:00:00');
    if (daySeconds.size < 100_000) daySeconds.set(date, day);
  }
  return day + (digit(time, 0) * 10 + digit(time, 1)) * 3600 + (digit(time, 3) * 10 + digit(time, 4)) * 60 + digit(time, 6) * 10 + digit(time, 7);
}

/**
 * One user's non-converting paths whose last session is in the window. `sessions`: the user's sessions in
 * (date, time, session_id) order, valid dates and times only, duplicates and sessions before the lookback
 * already left out; `orders`: the user's conversions with valid date and time, in time order.
 */
export function userPaths(sessions: readonly UserSession[], orders: readonly UserOrder[], rules: PathRules, w: Window): NcPath[] {
  const orderTs = orders.length === 0 ? NO_ORDERS : orders.map((o) => stampSeconds(o.date, o.time));
  const lookback = rules.lookbackDays === null ? null : rules.lookbackDays * 86400;
  const gap = Math.round(rules.closeAfterDays * 86400);
  const paths: NcPath[] = [];
  // made when a path gets its first session, not at each cut: most users have one short path (about 400,000
  // users at scale 10, where a closure and the arrays of every cut were a quarter of the walk's JS)
  let current: UserSession[] | null = null;
  let next = 0; // the first order not before the session (sessions come in time order)
  let prevTs: number | null = null;
  for (const s of sessions) {
    const ts = stampSeconds(s.event_date, s.event_time);
    while (next < orderTs.length && (rules.includeSameSecond ? orderTs[next]! < ts : orderTs[next]! <= ts)) next++;
    // the nearest following order claims the session if any order does: a lookback only cuts off far ones
    const claimed = next < orderTs.length && (lookback === null || ts >= orderTs[next]! - lookback);
    if (current !== null && (claimed || ts - prevTs! > gap)) {
      closePath(current, w, paths);
      current = null;
    }
    if (!claimed) {
      if (current === null) current = [s];
      else current.push(s);
    }
    prevTs = ts;
  }
  if (current !== null) closePath(current, w, paths);
  return paths;
}

const NO_ORDERS: readonly number[] = [];

/** a path ends: kept when its last session is in the window */
function closePath(sessions: UserSession[], w: Window, paths: NcPath[]): void {
  const last = sessions[sessions.length - 1]!;
  if (last.event_date >= w.start && last.event_date <= w.end) paths.push({ sessions, last_date: last.event_date, last_time: last.event_time });
}

const Count = t.type({ n: DbNumber });
const MaxId = t.type({ m: t.union([DbNumber, t.null]) });

const validDates = new Set<string>();
/**
 * JourneySql's validDate and validTime, tested on the rows read rather than in SQLite, where date(julianday())
 * and time() on every session of the window's users cost about 1 CPU s of the 1.6 s the reads took at scale 10
 * (580,721 sessions). Both accept exactly a real calendar date YYYY-MM-DD and a time HH:MM:SS before 24:00:00, as
 * text. The valid dates are remembered: a window's sessions have few distinct dates.
 */
export function validStamp(date: unknown, time: unknown): boolean {
  if (typeof date !== 'string' || typeof time !== 'string') return false;
  if (!validDates.has(date)) {
    if (!isIsoDate(date)) return false;
    if (validDates.size < 100_000) validDates.add(date);
  }
  return isTimeOfDay(time);
}

/** window.ts' isIsoTime (HH:MM:SS before 24:00:00) without a regular expression match per row */
function isTimeOfDay(s: string): boolean {
  if (s.length !== 8 || s.charCodeAt(2) !== 58 || s.charCodeAt(5) !== 58) return false;
  for (const i of [0, 1, 3, 4, 6, 7]) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return digit(s, 0) * 10 + digit(s, 1) < 24 && digit(s, 3) < 6 && digit(s, 6) < 6;
}

/** users per read: a page's sessions and orders are all the build holds in memory */
const USERS_PER_PAGE = 2000;
/** sessions per read of the whole (user, time) index (about 2,800 users at scale 10) */
const SESSIONS_PER_PAGE = 4000;
/** rows per statement where rows travel as JSON (node-sqlite3) */
const JSON_ROWS = 2000;
export const PATH_COLUMNS = ['path_id', 'user_id', 'first_session', 'last_date', 'last_time', 'session_count', 'channels', 'later_sessions'];

/**
 * SQLite's columns of a path row: its path_id is left to SQLite, which gives an INTEGER PRIMARY KEY written
 * without a value the largest key + 1, the id the build counts from MAX(path_id) (one fewer value bound per
 * path: 388,469 paths at scale 10 in memory, 0.57-0.61 -> 0.49-0.58 CPU s, lower in each of 4 alternating pairs).
 */
const WRITTEN_COLUMNS = PATH_COLUMNS.slice(1);

/** One path as a row of nonconverting_paths, in WRITTEN_COLUMNS' order. */
function pathRow(user: string, p: NcPath): unknown[] {
  const first = p.sessions[0]!;
  // most paths hold one session (388,469 paths of 543,663 sessions at scale 10): no arrays made for them
  let channels = first.channel_name;
  let later: string | null = null;
  if (p.sessions.length > 1) {
    const ids: string[] = [];
    for (let i = 1; i < p.sessions.length; i++) {
      const s = p.sessions[i]!;
      channels += CHANNEL_SEPARATOR + s.channel_name;
      ids.push(s.session_id);
    }
    later = JSON.stringify(ids);
  }
  return [user, first.session_id, p.last_date, p.last_time, p.sessions.length, channels, later];
}

const Span = t.type({ lo: t.unknown, hi: t.unknown });

/** SQLite: true when no session is dated outside the window (two probes of the date index). */
export async function windowHoldsAllSessions(db: Db, w: Window): Promise<boolean> {
  const [span] = await orThrow(
    db.select("reading the sessions' first and last day", Span, 'SELECT (SELECT MIN(event_date) FROM session_sources) AS lo, (SELECT MAX(event_date) FROM session_sources) AS hi', []),
  );
  return typeof span?.lo === 'string' && typeof span.hi === 'string' && span.lo >= w.start && span.hi <= w.end;
}

/** The window's stored paths and their days go (build-journeys' replace step, whether or not it builds new ones). */
export async function deleteNonConverting(trx: Knex, q: Pick<JourneySql, 'dialect'>, w: Window): Promise<void> {
  const win = windowPaths(q, w, PATHS_TABLE);
  await trx.raw(`DELETE FROM ${PATHS_TABLE} WHERE ${win.sql}`, win.bindings);
  await trx(PATH_DAYS_TABLE).whereBetween('last_date', [w.start, w.end]).delete();
}

/**
 * The filters on the sessions (aliased s) that a path may hold, beyond valid stamps: not before the lookback
 * before the window, not a session reported as duplicate_session_id. Empty when neither applies.
 */
export function sessionConditions(q: JourneySql, w: Window, o: NonConvertingOptions): { conds: string[]; bindings: Knex.RawBinding[] } {
  const conds: string[] = [];
  const bindings: Knex.RawBinding[] = [];
  if (o.lookbackDays !== null) {
    conds.push(`s.event_date >= ${q.minusDays(q.dateParam, o.lookbackDays)}`);
    bindings.push(w.start);
  }
  if (o.excludeDuplicates) {
    conds.push(
      `s.session_id NOT IN (SELECT d.record_key FROM data_issues d WHERE d.window_start = ? AND d.window_end = ?
                               AND d.table_name = 'session_sources' AND d.reason = 'duplicate_session_id')`,
    );
    bindings.push(w.start, w.end);
  }
  return { conds, bindings };
}

/** one user's sessions and orders, as read, for userPaths */
type UserPaths = (user: string, sessions: readonly UserSession[], orders: readonly UserOrder[]) => void;

const unreadable = (what: string, row: number, field: string): DbFailure =>
  new DbFailure(schemaError(`${what}: row ${row} holds a value this version cannot read`, [`${field}: expected text`]));

/**
 * The sessions of rows [.., session_id, event_date, event_time, channel_name] from `from` to `to` (exclusive) that
 * userPaths may use: dates and times as stored are tested here (validStamp).
 */
function sessionsOf(rows: readonly unknown[][], from: number, to: number, what: string): UserSession[] {
  const out: UserSession[] = [];
  for (let i = from; i < to; i++) {
    const [, session_id, event_date, event_time, channel_name] = rows[i]!;
    if (typeof session_id !== 'string') throw unreadable(what, i + 1, 'session_id');
    if (typeof channel_name !== 'string') throw unreadable(what, i + 1, 'channel_name');
    if (validStamp(event_date, event_time)) out.push({ session_id, event_date: event_date as string, event_time: event_time as string, channel_name });
  }
  return out;
}

/** the valid orders of rows [.., date, time] from `from` to `to` (exclusive) */
function ordersOf(rows: readonly unknown[][], from: number, to: number): UserOrder[] {
  const out: UserOrder[] = [];
  for (let i = from; i < to; i++) {
    const [, date, time] = rows[i]!;
    if (validStamp(date, time)) out.push({ date: date as string, time: time as string });
  }
  return out;
}

/**
 * Builds the window's non-converting paths into their tables. Runs inside build-journeys' transaction, after
 * the window's old paths are gone. The users' sessions and orders are read page by page of users in (user,
 * time) order and cut into paths by userPaths, so memory holds one page whatever the window's size. The build
 * holds the journeys write lock, so the next free path_id cannot be taken by another build meanwhile.
 * SQLite only: build-journeys builds PostgreSQL's paths with insertNonConvertingPg (nonconverting-pg.ts).
 */
export async function insertNonConverting(trx: Knex.Transaction, q: JourneySql, w: Window, o: NonConvertingOptions): Promise<NonConvertingResult> {
  const db = dbOver(trx);
  const [max] = await orThrow(db.select('reading the last path key', MaxId, `SELECT MAX(path_id) AS m FROM ${PATHS_TABLE}`, []));
  let nextId = (max?.m ?? 0) + 1;
  let paths = 0;
  let sessions = 0;
  let pathRows: Array<readonly unknown[]> = [];
  // each day's first and last path key, for nonconverting_path_days
  const days = new Map<string, [number, number]>();
  const pathsOf: UserPaths = (user, userSessions, orders) => {
    for (const p of userPaths(userSessions, orders, o, w)) {
      const day = days.get(p.last_date);
      if (day === undefined) days.set(p.last_date, [nextId, nextId]);
      else day[1] = nextId;
      pathRows.push(pathRow(user, p));
      nextId++;
      paths++;
      sessions += p.sessions.length;
    }
  };
  // each page written at once: the prepared INSERT costs the same per row, and buffering more rows only raised
  // the peak RSS (165 -> 227 MB at scale 10)
  const write = async (): Promise<void> => {
    await writeRows(trx, PATHS_TABLE, WRITTEN_COLUMNS, pathRows, JSON_ROWS);
    pathRows = [];
  };

  // conditions on the sessions read (s), and their bindings
  const { conds, bindings: extra } = sessionConditions(q, w, o);
  // A user without a valid session in the window has no path ending in it (userPaths keeps only those): when the
  // window holds every session, SQLite walks every user, the (user, time) index from front to back, instead of
  // numbering the window's users and joining each page of them to that index (4.0 against 2.3 CPU s at scale 10)
  if (await windowHoldsAllSessions(db, w)) await walkAllUsers(trx, conds, extra, pathsOf, write);
  else await walkWindowUsers(trx, q, w, conds, extra, pathsOf, write);
  await write();
  await writeRows(trx, PATH_DAYS_TABLE, ['last_date', 'first_path', 'last_path'], [...days].map(([d, [a, b]]) => [d, a, b]), JSON_ROWS);
  return { paths, sessions };
}

/**
 * SQLite: every user's sessions in one walk of the (user, time) index (it carries session_id and channel_name,
 * migration 010: no session row is read), SESSIONS_PER_PAGE at a time. A page's last user may continue on the
 * next page, so it is read again there; a user filling a whole page is read alone. Each page's orders are read
 * by the range of its users.
 */
async function walkAllUsers(
  trx: Knex.Transaction,
  conds: readonly string[],
  extra: readonly Knex.RawBinding[],
  pathsOf: UserPaths,
  afterPage: () => Promise<void>,
): Promise<void> {
  const what = "reading the users' sessions";
  const read = (from: string): Promise<(b: readonly unknown[]) => Promise<unknown[][]>> =>
    rowReader(
      trx,
      `SELECT s.user_id, s.session_id, s.event_date, s.event_time, s.channel_name FROM session_sources s
        WHERE ${[from, ...conds].join(' AND ')} ORDER BY s.user_id, s.event_date, s.event_time, s.session_id` +
        (from === 's.user_id = ?' ? '' : ` LIMIT ${SESSIONS_PER_PAGE}`),
    );
  const first = await read('s.user_id >= ?');
  const next = await read('s.user_id > ?');
  const alone = await read('s.user_id = ?');
  const orders = await rowReader(
    trx,
    'SELECT c.user_id, c.conv_date, c.conv_time FROM conversions c WHERE c.user_id BETWEEN ? AND ? ORDER BY c.user_id, c.conv_date, c.conv_time',
  );
  let after: string | null = null; // the last user done
  for (;;) {
    let rows = after === null ? await first(['', ...extra]) : await next([after, ...extra]);
    if (rows.length === 0) return;
    const full = rows.length === SESSIONS_PER_PAGE;
    let end = rows.length;
    for (const r of rows) if (typeof r[0] !== 'string') throw unreadable(what, 1 + rows.indexOf(r), 'user_id');
    if (full) {
      const last = rows[end - 1]![0];
      while (end > 0 && rows[end - 1]![0] === last) end--;
      if (end === 0) {
        rows = await alone([last, ...extra]);
        end = rows.length;
      }
    }
    const lo = rows[0]![0] as string;
    const hi = rows[end - 1]![0] as string;
    const byUser = new Map<string, UserOrder[]>();
    const orderRows = await orders([lo, hi]);
    for (let i = 0; i < orderRows.length; ) {
      const user = orderRows[i]![0];
      let j = i;
      while (j < orderRows.length && orderRows[j]![0] === user) j++;
      if (typeof user === 'string') byUser.set(user, ordersOf(orderRows, i, j));
      i = j;
    }
    for (let i = 0; i < end; ) {
      const user = rows[i]![0] as string;
      let j = i;
      while (j < end && rows[j]![0] === user) j++;
      pathsOf(user, sessionsOf(rows, i, j, what), byUser.get(user) ?? []);
      i = j;
    }
    await afterPage();
    if (!full) return;
    after = hi;
  }
}

/**
 * The window's users, numbered once in a temporary table (in user_id order, so that the pages walk the session
 * index in order), and their sessions and orders page by page of USERS_PER_PAGE users.
 */
async function walkWindowUsers(
  trx: Knex.Transaction,
  q: JourneySql,
  w: Window,
  conds: readonly string[],
  extra: readonly Knex.RawBinding[],
  pathsOf: UserPaths,
  afterPage: () => Promise<void>,
): Promise<void> {
  const db = dbOver(trx);
  await trx.raw('CREATE TEMPORARY TABLE nc_users (n INTEGER PRIMARY KEY, user_id TEXT NOT NULL)');
  // SQLite numbers the rows as it inserts them, which spares the second sort of ROW_NUMBER (3.4 -> 0.8 CPU s at
  // scale 10)
  await trx.raw('INSERT INTO nc_users (user_id) SELECT DISTINCT user_id FROM session_sources WHERE event_date BETWEEN ? AND ? ORDER BY user_id', [
    w.start,
    w.end,
  ]);
  await analyzeIfUnknown(trx, ['nc_users'], true);
  const [users] = await orThrow(db.select('counting the window\'s users', Count, 'SELECT COUNT(*) AS n FROM nc_users', []));
  const total = users?.n ?? 0;

  // the pages test dates and times with validStamp. SQLite walks the (user, time) index per user; that index
  // carries session_id and channel_name (migration 010), so no session row is fetched
  const sessionSql = `
    SELECT u.n, s.session_id, s.event_date, s.event_time, s.channel_name
      FROM nc_users u JOIN session_sources s ON s.user_id = u.user_id
     WHERE ${['u.n BETWEEN ? AND ?', ...conds].join(' AND ')}
     ORDER BY u.n, s.event_date, s.event_time, ${q.binary('s.session_id')}`;
  const orderSql = `
    SELECT u.n, c.conv_date AS date, c.conv_time AS time
      FROM nc_users u JOIN conversions c ON c.user_id = u.user_id
     WHERE u.n BETWEEN ? AND ? ORDER BY u.n, c.conv_date, c.conv_time`;
  const what = "reading the window's users' sessions";
  const readUsers = await rowReader(trx, 'SELECT n, user_id FROM nc_users WHERE n BETWEEN ? AND ? ORDER BY n');
  const readSessions = await rowReader(trx, sessionSql);
  const readOrders = await rowReader(trx, orderSql);
  for (let from = 1; from <= total; from += USERS_PER_PAGE) {
    const to = from + USERS_PER_PAGE - 1;
    // the users' ids once per page, not on each of their sessions (0.8 of the 2.5 CPU s the session reads took)
    const userRows = await readUsers([from, to]);
    const rows = await readSessions([from, to, ...extra]);
    const orders = await readOrders([from, to]);
    let oi = 0;
    let i = 0;
    while (i < rows.length) {
      const n = Number(rows[i]![0]);
      const u = userRows[n - from];
      if (u === undefined || Number(u[0]) !== n) throw new Error(`user ${n} of the window is missing from nc_users`);
      if (typeof u[1] !== 'string') throw unreadable("reading the window's users", n - from + 1, 'user_id');
      let j = i;
      while (j < rows.length && Number(rows[j]![0]) === n) j++;
      while (oi < orders.length && Number(orders[oi]![0]) < n) oi++;
      let oj = oi;
      while (oj < orders.length && Number(orders[oj]![0]) === n) oj++;
      pathsOf(u[1], sessionsOf(rows, i, j, what), ordersOf(orders, oi, oj));
      i = j;
      oi = oj;
    }
    await afterPage();
  }
  await trx.raw('DROP TABLE nc_users');
}

/** The smallest first or largest last path_id of the window's days (bindings: start, end). */
const pathRange = (f: 'MIN' | 'MAX', c: string): string => `(SELECT ${f}(r.${c}) FROM ${PATH_DAYS_TABLE} r WHERE r.last_date BETWEEN ? AND ?)`;

/**
 * The window's paths as a filter on nonconverting_paths aliased `alias`. A path belongs to the window of its last
 * date, and one build numbers its paths by user, not by date: walked through a date index, SQLite fetched every
 * row from a random page, each page once per day of the window (0.67 CPU s to count the paths at scale 10). The
 * window's paths are read between the smallest and the largest path_id of the window's days
 * (nonconverting_path_days, migration 013), in key order, the date tested on each row: the whole table when the
 * window is all the data, a narrow band when the window's build was the last one. PostgreSQL did the same from a
 * date index until its build stopped paying for one (migration 014).
 */
export function windowPaths(q: Pick<JourneySql, 'dialect'>, w: Window, alias = 'p'): { sql: string; bindings: string[] } {
  const noIndex = q.dialect === 'pg' ? '' : '+';
  return {
    sql: `${alias}.path_id BETWEEN ${pathRange('MIN', 'first_path')} AND ${pathRange('MAX', 'last_path')} AND ${noIndex}${alias}.last_date BETWEEN ? AND ?`,
    bindings: [w.start, w.end, w.start, w.end, w.start, w.end],
  };
}

const PathRow = isFirst(t.type({ unit: DbText, path: DbText, n: DbNumber }, 'non-converting path count'));

export interface NonConvertingPathCounts {
  /** each stored path */
  readonly perPath: PathCount[];
  /** the window's paths of one user joined into one, in time order */
  readonly perUser: PathCount[];
}

/** A distinct channel sequence, its channels joined by CHANNEL_SEPARATOR, and how many paths (units) have it. */
export interface PathKeyCount {
  readonly key: string;
  readonly n: number;
}

export interface NonConvertingPathKeys {
  readonly perPath: PathKeyCount[];
  readonly perUser: PathKeyCount[];
}

/**
 * Whether the key range of the window's paths (windowPaths) holds every key between its ends and never steps back
 * in user_id from one key to the next: then each user's paths in it are neighbours by key. One build numbers its
 * paths so; several builds (a window rebuilt, windows built apart) can interleave users or leave gaps. An SQL
 * expression of 1 or 0, with its bindings.
 */
function sortedByUser(w: Window): { sql: string; bindings: string[] } {
  return {
    sql: `COALESCE((SELECT COUNT(*) FROM ${PATHS_TABLE} a JOIN ${PATHS_TABLE} b ON b.path_id = a.path_id + 1
                     WHERE a.path_id >= ${pathRange('MIN', 'first_path')} AND a.path_id < ${pathRange('MAX', 'last_path')} AND b.user_id >= a.user_id)
                   = ${pathRange('MAX', 'last_path')} - ${pathRange('MIN', 'first_path')}, 0)`,
    bindings: [w.start, w.end, w.start, w.end, w.start, w.end, w.start, w.end],
  };
}

/**
 * The window's non-converting paths as aggregated path counts (`nulls` = how many paths share the channel
 * sequence), for the data-driven models, in both units from one read. Grouped in SQL: only distinct paths
 * come back.
 *
 * perUser: the incremental model fits one chance of ordering per unit, and a converting journey holds every
 * earlier session of its user however long the gaps: a user without an order is the matching unit. Cut at
 * `close_after_days` gaps, one such user would count as several failures with fewer touches each, and the
 * fit would read it as orders being rarer without touches than they are (the baseline pushed towards 0).
 *
 * Most users have one path in a window, and their unit is that path: perUser is perPath with the paths of the
 * users who have several ('m') replaced by those users' joined paths ('u'). Joining only those users' paths
 * spares grouping and concatenating every path by user (3.5 -> 1.9 CPU s with the key range of windowPaths,
 * scale 10, SQLite).
 *
 * The sequences stay joined (PathAggregator.addKey takes them so): split into arrays of fresh channel strings, the
 * two lists were 39,060 arrays alive at once at scale 30, read only to be joined again as the aggregators' keys.
 */
export function nonConvertingPathKeys(db: Knex, q: JourneySql, w: Window): Promise<NonConvertingPathKeys> {
  return pathKeys(db, q, w, q.dialect === 'sqlite');
}

const Ok = t.type({ ok: DbNumber });

async function pathKeys(db: Knex, q: JourneySql, w: Window, trySorted: boolean): Promise<NonConvertingPathKeys> {
  const win = windowPaths(q, w);
  const order = sortedByUser(w);
  const sorted =
    trySorted && (await orThrow(dbOver(db).select('checking the order of the non-converting paths', Ok, `SELECT ${order.sql} AS ok`, order.bindings)))[0]?.ok === 1;
  // a user's paths do not overlap in time, and one build numbers them in time order: joined in the order of
  // their last sessions they are the user's sessions in time order
  // SQLite: each grouping reads the window's paths from the table (w copied into a temporary table was read back
  // three times, twice whole to pick out the few users with several paths), and only those users' paths (mw)
  // are copied: 1.8 -> 1.5 CPU s at scale 10. PostgreSQL too reads the table each time: its
  // copy of w spilled 45 MB to disk (the query's server CPU 1.37 -> 1.15 s at scale 10).
  const several = sorted
    ? // the users' paths are neighbours by key (sortedByUser): a user with several paths has a neighbour of its own,
      // found by key from each path to the next, so that none of the window's paths is sorted by user or read twice
      // whole (the query 0.95 -> 0.55 CPU s at scale 10, 2.4 -> 1.3-1.7 at scale 30, and sortedByUser 0.1-0.16, 0.45)
      `n AS MATERIALIZED (SELECT a.path_id AS x FROM ${PATHS_TABLE} a JOIN ${PATHS_TABLE} b ON b.path_id = a.path_id + 1
                           WHERE a.path_id >= ${pathRange('MIN', 'first_path')} AND a.path_id < ${pathRange('MAX', 'last_path')} AND b.user_id = a.user_id),
            nw AS MATERIALIZED (SELECT p.path_id, p.user_id, p.last_date, p.last_time, p.channels FROM ${PATHS_TABLE} p
                                 WHERE p.path_id IN (SELECT n.x FROM n UNION SELECT n.x + 1 FROM n) AND +p.last_date BETWEEN ? AND ?),
            mw AS MATERIALIZED (SELECT w.path_id, w.user_id, w.last_date, w.last_time, w.channels FROM nw w
                                 WHERE w.user_id IN (SELECT nw.user_id FROM nw GROUP BY nw.user_id HAVING COUNT(*) > 1))`
    : `m AS MATERIALIZED (SELECT w.user_id FROM w GROUP BY w.user_id HAVING COUNT(*) > 1),
            mw AS MATERIALIZED (SELECT w.path_id, w.user_id, w.last_date, w.last_time, w.channels FROM w WHERE w.user_id IN (SELECT m.user_id FROM m))`;
  const rows = await orThrow(
    dbOver(db).select(
      'reading the non-converting paths',
      PathRow,
      `WITH w AS NOT MATERIALIZED (SELECT p.path_id, p.user_id, p.last_date, p.last_time, p.channels FROM ${PATHS_TABLE} p WHERE ${win.sql}),
            ${several}
       SELECT 'p' AS unit, w.channels AS path, COUNT(*) AS n FROM w GROUP BY w.channels
       UNION ALL
       SELECT 'm' AS unit, w.channels AS path, COUNT(*) AS n FROM mw w GROUP BY w.channels
       UNION ALL
       SELECT 'u' AS unit, x.path AS path, COUNT(*) AS n
         FROM (SELECT w.user_id, ${q.orderedConcat('w.channels', CHANNEL_SEPARATOR, 'w.last_date, w.last_time, w.path_id')} AS path
                 FROM mw w GROUP BY w.user_id) x
        GROUP BY x.path` +
        // the order tested again in this statement's snapshot: a build that replaced the window's paths after the
        // check above (the two are separate reads) would otherwise pair paths the check never saw
        (sorted ? `\n       UNION ALL SELECT 'c' AS unit, '' AS path, ${order.sql} AS n` : ''),
      [...win.bindings, ...(sorted ? [w.start, w.end, w.start, w.end, w.start, w.end, ...order.bindings] : [])],
    ),
  );
  if (sorted && !rows.some((r) => r.unit === 'c' && r.n === 1)) return pathKeys(db, q, w, false);
  const perPath = new Map<string, number>();
  const perUser = new Map<string, number>();
  for (const r of rows) {
    if (r.unit === 'c') continue;
    if (r.unit === 'p') perPath.set(r.path, r.n);
    const sign = r.unit === 'm' ? -1 : 1;
    perUser.set(r.path, (perUser.get(r.path) ?? 0) + sign * r.n);
  }
  // one order on every database (GROUP BY and collations differ), so that the fits sum in the same order and
  // SQLite and PostgreSQL give the same figures to the last cent
  const counts = (m: ReadonlyMap<string, number>): PathKeyCount[] => {
    const keys: string[] = [];
    for (const [key, n] of m) if (n > 0) keys.push(key);
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return keys.map((key) => ({ key, n: m.get(key)! }));
  };
  return { perPath: counts(perPath), perUser: counts(perUser) };
}

/** nonConvertingPathKeys with each sequence split into its channels. */
export async function nonConvertingPaths(db: Knex, q: JourneySql, w: Window): Promise<NonConvertingPathCounts> {
  const keys = await nonConvertingPathKeys(db, q, w);
  const counts = (list: readonly PathKeyCount[]): PathCount[] =>
    list.map(({ key, n }) => ({ channels: key.split(CHANNEL_SEPARATOR), conversions: 0, value: 0, nulls: n }));
  return { perPath: counts(keys.perPath), perUser: counts(keys.perUser) };
}

export interface StoredPathSession {
  readonly event_date: string;
  readonly event_time: string;
  readonly holder_engagement: 0 | 1;
  readonly closer_engagement: 0 | 1;
}

const PathSessionFields = {
  event_date: t.union([DbText, t.null]),
  event_time: t.union([DbText, t.null]),
  holder_engagement: t.union([DbBit, t.null]),
  closer_engagement: t.union([DbBit, t.null]),
};
const PathSessionRow = t.type({ path_id: DbNumber, ...PathSessionFields });
const OrdinalRow = t.type({ ord: DbNumber, ...PathSessionFields });
const PagePathRow = t.type({ path_id: DbNumber, first_session: DbText, later_sessions: t.union([DbText, t.null]) });

const stored = (r: t.TypeOf<t.TypeC<typeof PathSessionFields>>): StoredPathSession | null =>
  r.event_date === null || r.event_time === null || r.holder_engagement === null || r.closer_engagement === null
    ? null
    : { event_date: r.event_date, event_time: r.event_time, holder_engagement: r.holder_engagement, closer_engagement: r.closer_engagement };

/**
 * The window's non-converting paths, page by page in path_id order, each as its sessions in time order with
 * their times and flags (from session_sources), for fit-ihc. Memory holds one page. A session deleted from
 * session_sources after the build is left out of its path, and a path left without sessions is skipped; the
 * pages still advance on the path ids, so such paths never end the walk early.
 */
export async function* nonConvertingPathPages(db: Db, w: Window, pageSize = 500): AsyncGenerator<StoredPathSession[][]> {
  const noIndex = db.dialect === 'sqlite' ? '+' : '';
  // walked on the key from `after` (see readJourneyPage: through the date index every page would read and sort
  // the whole window)
  const pageSql = `SELECT p.path_id, p.first_session, p.later_sessions FROM ${PATHS_TABLE} p
                    WHERE ${noIndex}p.last_date >= ? AND ${noIndex}p.last_date <= ? AND p.path_id > ?
                    ORDER BY p.path_id LIMIT ${Math.max(1, Math.floor(pageSize))}`;
  const read = db.dialect === 'pg' ? pgPathPage : sqlitePathPage;
  let after = 0;
  for (;;) {
    const r = await read(db, pageSql, [w.start, w.end, after]);
    if (r === null) return;
    after = r.after;
    const page = r.page.filter((p) => p.length > 0);
    if (page.length > 0) yield page;
  }
}

/** SQLite: one statement unpacks the page's ids (json_each) and probes session_sources per id */
async function sqlitePathPage(db: Db, pageSql: string, bindings: unknown[]): Promise<{ after: number; page: StoredPathSession[][] } | null> {
  const rows = await orThrow(
    db.select(
      "reading the window's non-converting paths",
      PathSessionRow,
      `WITH k AS (${pageSql}),
            ps AS (SELECT k.path_id, 0 AS position, k.first_session AS session_id FROM k
                   UNION ALL SELECT k.path_id, j.key + 1, j.value FROM k, json_each(k.later_sessions) j)
       SELECT ps.path_id, s.event_date, s.event_time, s.holder_engagement, s.closer_engagement
         FROM ps LEFT JOIN session_sources s ON s.session_id = ps.session_id
        ORDER BY ps.path_id, ps.position`,
      bindings,
    ),
  );
  if (rows.length === 0) return null;
  const page: StoredPathSession[][] = [];
  let last = -1;
  for (const r of rows) {
    if (r.path_id !== last) page.push([]);
    last = r.path_id;
    const s = stored(r);
    if (s !== null) page[page.length - 1]!.push(s);
  }
  return { after: last, page };
}

/**
 * PostgreSQL: the page's paths, then their sessions by key, the ids as one JSON parameter unpacked WITH ORDINALITY
 * so that the rows come back in the page's order and need no matching by id here. Unpacked from each path in one
 * statement, the planner guessed 100 ids per path and hashed all of session_sources for every page (and compiled
 * the plan with JIT): 537 s at scale 10 against 52 s.
 */
async function pgPathPage(db: Db, pageSql: string, bindings: unknown[]): Promise<{ after: number; page: StoredPathSession[][] } | null> {
  const paths = await orThrow(db.select("reading the window's non-converting paths", PagePathRow, pageSql, bindings));
  if (paths.length === 0) return null;
  const ids: string[] = [];
  const owner: number[] = []; // the page index of each id's path
  paths.forEach((p, i) => {
    ids.push(p.first_session);
    owner.push(i);
    if (p.later_sessions !== null) {
      for (const id of JSON.parse(p.later_sessions) as string[]) {
        ids.push(id);
        owner.push(i);
      }
    }
  });
  const rows = await orThrow(
    db.select(
      "reading the window's non-converting paths' sessions",
      OrdinalRow,
      `SELECT CAST(j.ord AS integer) AS ord, s.event_date, s.event_time, s.holder_engagement, s.closer_engagement
         FROM json_array_elements_text(CAST(? AS json)) WITH ORDINALITY AS j(id, ord)
         JOIN session_sources s ON s.session_id = j.id
        ORDER BY j.ord`,
      [JSON.stringify(ids)],
    ),
  );
  // a session_id repeated in an adopted table appears as often as the join gives it, as on SQLite
  const page: StoredPathSession[][] = paths.map(() => []);
  for (const r of rows) {
    const s = stored(r);
    if (s !== null) page[owner[r.ord - 1]!]!.push(s);
  }
  return { after: paths[paths.length - 1]!.path_id, page };
}
