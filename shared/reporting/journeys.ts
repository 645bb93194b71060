import type { Knex } from 'knex';
import * as t from 'io-ts';
import { journeyProblem } from '../attribution/journey.js';
import { channelsInOrder, journeyChannels } from '../attribution/paths.js';
import type { Journey, JourneySession } from '../attribution/types.js';
import { DbNumber, DbText, dbOver, orThrow } from '../db/db.js';
import { isFirst } from '../codecs/is-first.js';
import { journeyPages as storedPages } from '../journeys/read.js';
import { toEpochSeconds, type Window } from '../window.js';

/**
 * The window's stored journeys as the attribution engine takes them, page by page (shared/journeys/read.ts
 * reads them). Only journeys of an order with at least one session are returned.
 */
export async function* journeyPages(db: Knex, w: Window, pageSize = 500): AsyncGenerator<Journey[]> {
  for await (const stored of storedPages(dbOver(db), w, { pageSize })) {
    const page: Journey[] = [];
    for (const j of stored) {
      if (j.order === null || j.sessions.length === 0) continue;
      page.push({
        conversionId: j.conv_id,
        conversionTimestamp: toEpochSeconds(j.order.date, j.order.time),
        revenue: j.order.revenue,
        sessions: j.sessions.map(
          (s): JourneySession => ({
            sessionId: s.session_id,
            timestamp: toEpochSeconds(s.event_date, s.event_time),
            channel: s.channel_name,
            holderEngagement: s.holder_engagement,
            closerEngagement: s.closer_engagement,
            impressionInteraction: s.impression_interaction,
            conversion: s.conversion,
          }),
        ),
      });
    }
    yield page;
  }
}

/** A journey as the fit of the data-driven models reads it: its channels in journey order and its revenue. */
export interface JourneyPath {
  readonly channels: string[];
  readonly revenue: number;
}

const Nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null]);
const PathRow = isFirst(t.type(
  {
    conv_id: DbText,
    order_date: Nullable(DbText),
    order_time: Nullable(DbText),
    revenue: Nullable(DbNumber),
    session_id: Nullable(DbText),
    event_date: Nullable(DbText),
    event_time: Nullable(DbText),
    channel_name: Nullable(DbText),
  },
  'journey session',
));
type PathRow = t.TypeOf<typeof PathRow>;

/**
 * The journeys of journeyPages that the engine can credit (journeyProblem finds nothing), as channel paths, page
 * by page in the same order. On SQLite one statement per page brings the page's journeys, orders and sessions and
 * only the columns a path needs: the fit read every session's nine columns and built two objects per session and
 * journey that it dropped at once (0.6-1.0 CPU s against 0.3-0.4 at scale 10). PostgreSQL reads through journeyPages.
 */
export async function* journeyPaths(db: Knex, w: Window, pageSize = 500): AsyncGenerator<JourneyPath[]> {
  if (dbOver(db).dialect !== 'sqlite') {
    for await (const page of journeyPages(db, w, pageSize)) yield page.filter((j) => journeyProblem(j) === undefined).map((j) => ({ channels: journeyChannels(j), revenue: j.revenue ?? 0 }));
    return;
  }
  const size = Math.min(500, Math.max(1, Math.floor(pageSize)));
  let after: string | undefined;
  for (;;) {
    // each journey's orders (a conversions table adopted without its key may repeat a conv_id: one journey per
    // order, as journeyPages gives) and sessions in position order; equal orders come together
    const rows = await orThrow(
      dbOver(db).select(
        "reading the window's journey paths",
        PathRow,
        `SELECT j.conv_id AS conv_id, c.conv_date AS order_date, c.conv_time AS order_time, c.revenue AS revenue,
                js.session_id AS session_id, js.event_date AS event_date, js.event_time AS event_time, js.channel_name AS channel_name
           FROM (SELECT conv_id FROM journeys WHERE +conv_date >= ? AND +conv_date <= ? ${after === undefined ? '' : 'AND conv_id > ?'}
                  ORDER BY conv_id LIMIT ${size}) j
           LEFT JOIN conversions c ON c.conv_id = j.conv_id
           LEFT JOIN journey_sessions js ON js.conv_id = j.conv_id AND +js.conv_date >= ? AND +js.conv_date <= ?
          ORDER BY j.conv_id, c.conv_date, c.conv_time, c.revenue, js.position`,
        [w.start, w.end, ...(after === undefined ? [] : [after]), w.start, w.end],
      ),
    );
    const page: JourneyPath[] = [];
    let journeys = 0;
    for (let from = 0; from < rows.length; ) {
      const head = rows[from]!;
      let to = from + 1;
      while (to < rows.length && sameOrder(rows[to]!, head)) to++;
      if (rows[to - 1]!.conv_id !== rows[to]?.conv_id) journeys++;
      addPaths(rows, from, to, page);
      from = to;
    }
    yield page;
    if (journeys < size || rows.length === 0) return;
    after = rows[rows.length - 1]!.conv_id;
  }
}

function sameOrder(a: PathRow, b: PathRow): boolean {
  return a.conv_id === b.conv_id && a.order_date === b.order_date && a.order_time === b.order_time && a.revenue === b.revenue;
}

/**
 * The path of rows[from..to), one journey and order, added once per equal order row: m equal orders repeat each
 * session m times in a row. Left out as journeyPages and journeyProblem leave them out: no order (or one without a
 * date or time), no session, a time that is no instant, a revenue that is not finite.
 */
function addPaths(rows: readonly PathRow[], from: number, to: number, page: JourneyPath[]): void {
  const head = rows[from]!;
  if (head.order_date === null || head.order_time === null || head.session_id === null) return;
  const revenue = head.revenue ?? 0;
  if (!Number.isFinite(revenue) || !Number.isFinite(toEpochSeconds(head.order_date, head.order_time))) return;
  let m = 1;
  while (from + m < to && rows[from + m]!.session_id === head.session_id) m++;
  const sessions: Array<{ sessionId: string; timestamp: number; channel: string }> = [];
  for (let i = from; i < to; i += m) {
    const r = rows[i]!;
    const timestamp = toEpochSeconds(r.event_date ?? '', r.event_time ?? '');
    if (!Number.isFinite(timestamp) || r.channel_name === null || r.session_id === null) return;
    sessions.push({ sessionId: r.session_id, timestamp, channel: r.channel_name });
  }
  const channels = channelsInOrder(sessions);
  for (let k = 0; k < m; k++) page.push({ channels, revenue });
}
