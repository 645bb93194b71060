import type { Knex } from 'knex';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { DbText, type Db } from '../db/db.js';
import type { AppError } from '../errors.js';
import type { Window } from '../window.js';
import { computeInsights, type JourneyInsights } from './insights.js';

/**
 * The journey insights are computed once per build: build-journeys stores them (journey_insights, migration 009)
 * and process-attribution reads them back instead of scanning the journey tables again. A stored row always
 * describes the journey tables as they are: every build deletes all stored insights inside its own transaction
 * (buildJourneys), and build-journeys computes and stores its window's in that same transaction (under the
 * journeys write lock), so no build can commit between the computation and the row. Anything else falls back to
 * computing them.
 */
export const INSIGHTS_TABLE = 'journey_insights';

/** Inside a build's transaction: whatever it changes, no stored insights survive it. */
export async function forgetStoredInsights(trx: Knex.Transaction): Promise<void> {
  await trx(INSIGHTS_TABLE).delete();
}

/** A JSON round trip keeps every value: false when a number is Infinity or NaN (JSON would make it null). */
const roundTrips = (i: JourneyInsights): boolean => {
  let ok = true;
  JSON.stringify(i, (_k, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) ok = false;
    return v;
  });
  return ok;
};

/**
 * Stores the window's insights for process-attribution. Call inside the transaction that built the journey
 * tables (buildJourneysAndInsights), which holds the journeys write lock: no build can commit between the
 * computation and the row.
 */
export async function storeInsights(trx: Knex.Transaction, w: Window, i: JourneyInsights): Promise<void> {
  await trx(INSIGHTS_TABLE).where({ window_start: w.start, window_end: w.end }).delete();
  if (roundTrips(i)) await trx(INSIGHTS_TABLE).insert({ window_start: w.start, window_end: w.end, insights: JSON.stringify(i) });
}

const Stored = t.type({ insights: DbText });

/** The window's insights: as build-journeys stored them when no build has run since, computed otherwise. */
export function insightsOf(db: Db, w: Window): TE.TaskEither<AppError, JourneyInsights> {
  return pipe(
    db.select('reading the stored journey insights', Stored, (k) =>
      k(INSIGHTS_TABLE).select('insights').where({ window_start: w.start, window_end: w.end }),
    ),
    TE.chain((rows) => (rows[0] !== undefined ? TE.right(JSON.parse(rows[0].insights) as JourneyInsights) : computeInsights(db, w))),
  );
}
