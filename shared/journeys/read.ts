import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { isFirst } from '../codecs/is-first.js';
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
  /**
   * read the next page while the caller works on this one (one page more in memory): on PostgreSQL the reads then
   * overlap the caller's work instead of stopping it for their round trips. SQLite's reads block the thread anyway.
   */
  readonly prefetch?: boolean;
}

const Session = isFirst(t.type(
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
));

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

function statusSql(only: readonly string[] | undefined): { sql: string; bindings: string[] } {
  return only === undefined ? { sql: '', bindings: [] } : { sql: `AND j.status IN (${placeholders(only.length)})`, bindings: [...only] };
}

const HeadWithOrder = isFirst(t.type(
  {
    conv_id: DbText,
    status: DbText,
    conv_date: DbText,
    conv_time: DbText,
    order_id: t.union([DbText, t.null]),
    order_date: t.union([DbText, t.null]),
    order_time: t.union([DbText, t.null]),
    revenue: t.union([DbNumber, t.null]),
  },
  'journey',
));

type Head = Pick<t.TypeOf<typeof HeadWithOrder>, 'conv_id' | 'status' | 'conv_date' | 'conv_time'>;
interface Order {
  readonly conv_id: string;
  readonly conv_date: string | null;
  readonly conv_time: string | null;
  readonly revenue: number | null;
}

/**
 * The page's journeys, walked on the conv_id key from `after` until the page is full: through the date index every
 * page would read and sort the whole window and the pages together would cost the window squared. '+' keeps SQLite
 * off the date index; PostgreSQL's planner chooses with its statistics. With their orders (conversions by key).
 */
function readHeads(db: Db, w: Window, after: string | undefined, size: number, opts: ReadOptions): TE.TaskEither<AppError, { heads: Head[]; orders: Order[] }> {
  const status = statusSql(opts.statuses);
  const noIndex = db.dialect === 'sqlite' ? '+' : '';
  const page = `SELECT j.conv_id AS conv_id, j.status AS status, j.conv_date AS conv_date, j.conv_time AS conv_time
         FROM journeys j
        WHERE ${noIndex}j.conv_date >= ? AND ${noIndex}j.conv_date <= ? ${status.sql} ${after === undefined ? '' : 'AND j.conv_id > ?'}
        ORDER BY j.conv_id
        LIMIT ${size}`;
  const bindings = [w.start, w.end, ...status.bindings, ...(after === undefined ? [] : [after])];
  // the orders joined to the page, each probed by key: a 500-item IN list was 500 parameters to parse and bind (80
  // statements at scale 10 on every pass), and a second statement a round trip per page. PostgreSQL hashed the whole
  // conversions table for every page when the join was plain, and scanned it for an array of the page's ids
  // (ANY(?::text[]), 13 ms a page at scale 10): OFFSET 0 keeps the lateral probe from being flattened into that join.
  // A conversions table adopted without its key may repeat a conv_id.
  const orderOf =
    db.dialect === 'sqlite'
      ? 'LEFT JOIN conversions c ON c.conv_id = j.conv_id'
      : 'LEFT JOIN LATERAL (SELECT c.conv_id, c.conv_date, c.conv_time, c.revenue FROM conversions c WHERE c.conv_id = j.conv_id OFFSET 0) c ON true';
  return pipe(
    db.select(
      "reading the window's journeys",
      HeadWithOrder,
      `SELECT j.conv_id AS conv_id, j.status AS status, j.conv_date AS conv_date, j.conv_time AS conv_time,
              c.conv_id AS order_id, c.conv_date AS order_date, c.conv_time AS order_time, c.revenue AS revenue
         FROM (${page}) j ${orderOf}
        ORDER BY j.conv_id`,
      bindings,
    ),
    TE.map((rows) => {
      const heads: Head[] = [];
      const orders: Order[] = [];
      for (const r of rows) {
        if (heads[heads.length - 1]?.conv_id !== r.conv_id) heads.push({ conv_id: r.conv_id, status: r.status, conv_date: r.conv_date, conv_time: r.conv_time });
        if (r.order_id !== null) orders.push({ conv_id: r.order_id, conv_date: r.order_date, conv_time: r.order_time, revenue: r.revenue });
      }
      return { heads, orders };
    }),
  );
}

/** One page after `after` (a conv_id; undefined: the first page). */
export function readJourneyPage(db: Db, w: Window, after: string | undefined, opts: ReadOptions = {}): TE.TaskEither<AppError, StoredJourney[]> {
  const size = Math.min(500, Math.max(1, Math.floor(opts.pageSize ?? 500)));
  const noIndex = db.dialect === 'sqlite' ? '+' : '';
  return pipe(
    readHeads(db, w, after, size, opts),
    TE.chain(({ heads, orders }) => {
      if (heads.length === 0) return TE.right([]);
      const ids = heads.map((h) => h.conv_id);
      const last = ids[ids.length - 1]!;
      return pipe(
        TE.Do,
        // the sessions of the page's key range (journey_sessions.conv_date is its journey's): a range of the primary
        // key, where an IN list of the page's ids made PostgreSQL scan the whole table for every page. Journeys of the
        // range that the status filter left out are dropped below.
        TE.bind('rows', () =>
          db.select(
            "reading the window's journey sessions",
            Session,
            `SELECT conv_id, session_id, event_date, event_time, channel_name, holder_engagement, closer_engagement,
                    impression_interaction, conversion
               FROM journey_sessions
              WHERE ${after === undefined ? '' : 'conv_id > ? AND '}conv_id <= ? AND ${noIndex}conv_date >= ? AND ${noIndex}conv_date <= ?
              ORDER BY conv_id, position`,
            [...(after === undefined ? [] : [after]), last, w.start, w.end],
          ),
        ),
        TE.map(({ rows }) => {
          const byConv = new Map<string, StoredSession[]>(ids.map((id) => [id, []]));
          // the session without its conv_id, built whole: a rest pattern copied each row's properties one by one
          for (const r of rows) {
            byConv.get(r.conv_id)?.push({
              session_id: r.session_id,
              event_date: r.event_date,
              event_time: r.event_time,
              channel_name: r.channel_name,
              holder_engagement: r.holder_engagement,
              closer_engagement: r.closer_engagement,
              impression_interaction: r.impression_interaction,
              conversion: r.conversion,
            });
          }
          const orderOf = new Map<string, (typeof orders)[number][]>();
          for (const o of orders) {
            const list = orderOf.get(o.conv_id);
            if (list === undefined) orderOf.set(o.conv_id, [o]);
            else list.push(o);
          }
          // a conversions table adopted without its key may repeat a conv_id: one journey per row, as a join gives
          return heads.flatMap((h) =>
            (orderOf.get(h.conv_id) ?? [undefined]).map((o) => ({
              conv_id: h.conv_id,
              status: h.status,
              conv_date: h.conv_date,
              conv_time: h.conv_time,
              order: o === undefined || o.conv_date === null || o.conv_time === null ? null : { date: o.conv_date, time: o.conv_time, revenue: o.revenue ?? 0 },
              sessions: byConv.get(h.conv_id) ?? [],
            })),
          );
        }),
      );
    }),
  );
}

/**
 * Every page of the window, for a `for await` loop. A failure is thrown as DbFailure, which Db.run (around the
 * loop) turns back into its AppError.
 */
export async function* journeyPages(db: Db, w: Window, opts: ReadOptions = {}): AsyncGenerator<StoredJourney[]> {
  const size = Math.min(500, Math.max(1, Math.floor(opts.pageSize ?? 500)));
  const read = (after: string | undefined): Promise<StoredJourney[]> => {
    const p = orThrow(readJourneyPage(db, w, after, { ...opts, pageSize: size }));
    // a prefetched page that fails while nobody awaits it yet is not an unhandled rejection: its await below throws
    p.catch(() => undefined);
    return p;
  };
  const prefetch = opts.prefetch === true && db.dialect === 'pg';
  let next = read(undefined);
  for (;;) {
    const page = await next;
    if (page.length === 0) return;
    const more = page.length >= size;
    const after = page[page.length - 1]!.conv_id;
    if (more && prefetch) next = read(after);
    yield page;
    if (!more) return;
    if (!prefetch) next = read(after);
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
