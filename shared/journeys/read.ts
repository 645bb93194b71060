import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { CountRow, DbBit, DbNumber, DbText, orThrow, type Db } from '../db/db.js';
import type { AppError } from '../errors.js';
import type { Window } from '../window.js';

/**
 * The one reader of stored journeys (build-journeys' journeys and journey_sessions): the window's journeys
 * (journeys.conv_date in the window) page by page in conv_id order, so memory stays bounded whatever the
 * window's size, each with its sessions in `position` order (the converting session last) and its order
 * (the conversions row). send-to-api, the model comparison and fit-ihc each take what they need from it. The
 * non-converting paths live in their own tables (shared/journeys/nonconverting.ts reads them).
 */

export interface StoredSession {
  readonly session_id: string;
  readonly event_date: string;
  readonly event_time: string;
  readonly channel_name: string;
  readonly holder_engagement: 0 | 1;
  readonly closer_engagement: 0 | 1;
  readonly impression_interaction: 0 | 1;
  readonly conversion: 0 | 1;
}

export interface StoredJourney {
  readonly conv_id: string;
  readonly status: string;
  /** the journey's own day and time */
  readonly conv_date: string;
  readonly conv_time: string;
  /** the conversions row as it is now; null when it was deleted after the build */
  readonly order: { readonly date: string; readonly time: string; readonly revenue: number } | null;
  readonly sessions: readonly StoredSession[];
}

export interface ReadOptions {
  /** only journeys of these statuses (default: every status) */
  readonly statuses?: readonly string[];
  /** journeys per page, at most 500 (one IN list of ids; SQLite builds before 3.32 take 999 bound values) */
  readonly pageSize?: number;
}

const Head = t.type(
  {
    conv_id: DbText,
    status: DbText,
    conv_date: DbText,
    conv_time: DbText,
    order_date: t.union([DbText, t.null]),
    order_time: t.union([DbText, t.null]),
    revenue: t.union([DbNumber, t.null]),
  },
  'journey',
);

const Session = t.type(
  {
    conv_id: DbText,
    session_id: DbText,
    event_date: DbText,
    event_time: DbText,
    channel_name: DbText,
    holder_engagement: DbBit,
    closer_engagement: DbBit,
    impression_interaction: DbBit,
    conversion: DbBit,
  },
  'journey session',
);

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

function statusSql(only: readonly string[] | undefined): { sql: string; bindings: string[] } {
  return only === undefined ? { sql: '', bindings: [] } : { sql: `AND j.status IN (${placeholders(only.length)})`, bindings: [...only] };
}

/** One page after `after` (a conv_id; undefined: the first page). */
export function readJourneyPage(db: Db, w: Window, after: string | undefined, opts: ReadOptions = {}): TE.TaskEither<AppError, StoredJourney[]> {
  const size = Math.min(500, Math.max(1, Math.floor(opts.pageSize ?? 500)));
  const status = statusSql(opts.statuses);
  const noIndex = db.dialect === 'sqlite' ? '+' : '';
  return pipe(
    db.select(
      "reading the window's journeys",
      Head,
      // the page's ids first; only those are joined to their journey and order rows (joining before the LIMIT
      // would fetch the whole window per page). On SQLite the ids come from the conv_id key, walked in order from
      // `after` until the page is full: through the date index every page would read and sort the whole window
      // and the pages together would cost the window squared. '+' keeps SQLite off the date index; PostgreSQL's planner chooses with its statistics.
      `SELECT p.conv_id AS conv_id, j.status AS status, j.conv_date AS conv_date, j.conv_time AS conv_time,
              c.conv_date AS order_date, c.conv_time AS order_time, c.revenue AS revenue
         FROM (SELECT j.conv_id FROM journeys j
                WHERE ${noIndex}j.conv_date >= ? AND ${noIndex}j.conv_date <= ? ${status.sql} ${after === undefined ? '' : 'AND j.conv_id > ?'}
                ORDER BY j.conv_id
                LIMIT ${size}) p
         JOIN journeys j ON j.conv_id = p.conv_id
         LEFT JOIN conversions c ON c.conv_id = p.conv_id
        ORDER BY p.conv_id`,
      [w.start, w.end, ...status.bindings, ...(after === undefined ? [] : [after])],
    ),
    TE.chain((heads) =>
      heads.length === 0
        ? TE.right([])
        : pipe(
            db.select(
              "reading the window's journey sessions",
              Session,
              `SELECT conv_id, session_id, event_date, event_time, channel_name, holder_engagement, closer_engagement,
                      impression_interaction, conversion
                 FROM journey_sessions WHERE conv_id IN (${placeholders(heads.length)})
                ORDER BY conv_id, position`,
              heads.map((h) => h.conv_id),
            ),
            TE.map((rows) => {
              const byConv = new Map<string, StoredSession[]>();
              for (const { conv_id, ...s } of rows) {
                let list = byConv.get(conv_id);
                if (list === undefined) byConv.set(conv_id, (list = []));
                list.push(s);
              }
              return heads.map((h) => ({
                conv_id: h.conv_id,
                status: h.status,
                conv_date: h.conv_date,
                conv_time: h.conv_time,
                order: h.order_date === null || h.order_time === null ? null : { date: h.order_date, time: h.order_time, revenue: h.revenue ?? 0 },
                sessions: byConv.get(h.conv_id) ?? [],
              }));
            }),
          ),
    ),
  );
}

/**
 * Every page of the window, for a `for await` loop. A failure is thrown as DbFailure, which Db.run (around the
 * loop) turns back into its AppError.
 */
export async function* journeyPages(db: Db, w: Window, opts: ReadOptions = {}): AsyncGenerator<StoredJourney[]> {
  const size = Math.min(500, Math.max(1, Math.floor(opts.pageSize ?? 500)));
  let after: string | undefined;
  for (;;) {
    const page = await orThrow(readJourneyPage(db, w, after, { ...opts, pageSize: size }));
    if (page.length === 0) return;
    yield page;
    if (page.length < size) return;
    after = page[page.length - 1]!.conv_id;
  }
}

/**
 * How many of the window's journeys there are; with `keep` (send-to-api
 * --shard), how many of them this process handles, counted from their ids page by page.
 */
export function countJourneys(db: Db, w: Window, keep?: (convId: string) => boolean): TE.TaskEither<AppError, number> {
  if (keep === undefined) {
    return pipe(
      db.select(
        "counting the window's journeys",
        CountRow,
        `SELECT COUNT(*) AS n FROM journeys WHERE conv_date >= ? AND conv_date <= ?`,
        [w.start, w.end],
      ),
      TE.map((r) => r[0]?.n ?? 0),
    );
  }
  const Id = t.type({ conv_id: DbText });
  const from = (after: string | undefined, n: number): TE.TaskEither<AppError, number> =>
    pipe(
      db.select(
        "counting the window's journeys",
        Id,
        `SELECT conv_id FROM journeys WHERE conv_date >= ? AND conv_date <= ? ${after === undefined ? '' : 'AND conv_id > ?'}
          ORDER BY conv_id LIMIT 10000`,
        [w.start, w.end, ...(after === undefined ? [] : [after])],
      ),
      TE.chain((ids) => {
        const m = n + ids.filter((r) => keep(r.conv_id)).length;
        return ids.length < 10_000 ? TE.right(m) : from(ids[ids.length - 1]!.conv_id, m);
      }),
    );
  return from(undefined, 0);
}
