import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { inputError, type AppError } from '../errors.js';
import { CountRow, DbText, orThrow, type Db } from '../db/db.js';
import { journeyPages } from '../journeys/read.js';
import { toEpochSeconds, type Window } from '../window.js';
import { contractTimestamp, type ContractJourney } from './contract.js';

/**
 * build-journeys writes a journeys row for every conversion of its window (with or without sessions), so a
 * window with conversions and no journeys row was never built: an error that names the command to run,
 * instead of "0 of 0" or "every conversion without journey".
 */
export function journeysNeverBuilt(db: Db, w: Window): TE.TaskEither<AppError, void> {
  const count = (table: 'journeys' | 'conversions') =>
    pipe(
      db.select(`counting the window's ${table}`, CountRow, `SELECT COUNT(*) AS n FROM ${table} WHERE conv_date >= ? AND conv_date <= ?`, [w.start, w.end]),
      TE.map((r) => r[0]?.n ?? 0),
    );
  return pipe(
    count('journeys'),
    TE.chain((built) => (built > 0 ? TE.right(0) : count('conversions'))),
    TE.chain((n) =>
      n === 0
        ? TE.right(undefined)
        : TE.left(
            inputError(
              `no journeys were built for ${w.start}..${w.end} (${n} conversions in the window): run ` +
                `build-journeys --start-date ${w.start} --end-date ${w.end} first`,
            ),
          ),
    ),
  );
}

/**
 * The window's journeys as the IHC contract has them (shared/journeys/read.ts reads them page by page).
 * Non-converting paths are never sent (they are not journeys rows): they have no order to attribute.
 * `orders`, when given, is told each journey's order time as the page brings it (see OrderTimes).
 */
export async function* streamJourneys(
  db: Db,
  w: Window,
  pageSize = 500,
  keep: (convId: string) => boolean = () => true,
  orders?: OrderTimes,
): AsyncGenerator<ContractJourney> {
  for await (const page of journeyPages(db, w, { pageSize, prefetch: true })) {
    for (const j of page) {
      if (!keep(j.conv_id)) continue;
      orders?.note(j.conv_id, j.order === null ? undefined : toEpochSeconds(j.order.date, j.order.time));
      yield {
        conversionId: j.conv_id,
        sessions: j.sessions.map((s) => ({
          conversion_id: j.conv_id,
          session_id: s.session_id,
          timestamp: contractTimestamp(s.event_date, s.event_time),
          channel_label: s.channel_name,
          holder_engagement: s.holder_engagement,
          closer_engagement: s.closer_engagement,
          conversion: s.conversion,
          impression_interaction: s.impression_interaction,
        })),
      };
    }
  }
}

const OrderTime = t.type({ conv_id: DbText, conv_date: DbText, conv_time: DbText });

/** When each order was placed (epoch seconds, UTC), for the local engine's closer phase. */
export async function conversionTimes(db: Db, ids: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  // 500 ids per IN list: under SQLite's 999 bound values on old builds
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await orThrow(
      db.select("reading the orders' times", OrderTime, (k) => k('conversions').select('conv_id', 'conv_date', 'conv_time').whereIn('conv_id', ids.slice(i, i + 500))),
    );
    for (const r of rows) {
      const t = toEpochSeconds(r.conv_date, r.conv_time);
      // an unreadable time (build-journeys reports it) leaves the engine on the converting session's time
      if (Number.isFinite(t)) out.set(r.conv_id, t);
    }
  }
  return out;
}

/**
 * The orders' times of the journeys in flight, as the journey pages read them (each page reads its orders
 * anyway), so that the local engine's batches need no query of their own: one round trip less per batch. Only
 * ids the pages did not bring are read from the database (conversionTimes). Entries are forgotten when their
 * batch is done (`forget`), so the map holds the journeys between the reader and the writer, never the window.
 */
export class OrderTimes {
  /** undefined: the page had no order (row gone) or an unreadable time; the engine then uses the converting session */
  private readonly known = new Map<string, number | undefined>();
  private readonly repeated = new Set<string>();

  note(convId: string, epochSeconds: number | undefined): void {
    // a conversions table adopted without its key may repeat an id: leave that one to the database read
    if (this.known.has(convId)) this.repeated.add(convId);
    this.known.set(convId, epochSeconds !== undefined && Number.isFinite(epochSeconds) ? epochSeconds : undefined);
  }

  async of(db: Db, ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const unknown: string[] = [];
    for (const id of ids) {
      if (!this.known.has(id) || this.repeated.has(id)) unknown.push(id);
      else {
        const t = this.known.get(id);
        if (t !== undefined) out.set(id, t);
      }
    }
    if (unknown.length > 0) for (const [id, t] of await conversionTimes(db, unknown)) out.set(id, t);
    return out;
  }

  forget(ids: readonly string[]): void {
    for (const id of ids) {
      this.known.delete(id);
      this.repeated.delete(id);
    }
  }
}
