import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { CountRow, DbNumber, DbText, type Db } from '../db/db.js';
import type { AppError } from '../errors.js';
import type { Window } from '../window.js';

/** What the report says about the data behind the numbers. */
export interface DataQuality {
  /** rows refused at load, by table and reason (every load so far: the quarantine is not dated by window) */
  readonly quarantine: readonly { table: string; reason: string; rows: number }[];
  /** why journeys (with sessions) failed at the provider, for the window's conversions */
  readonly failures: readonly { reason: string; count: number }[];
  /** sessions dated in the window without a cost row */
  readonly sessionsWithoutCost: number;
}

const Quarantined = t.type({ table_name: DbText, reason: DbText, n: DbNumber });
const Failed = t.type({ reason: DbText, n: DbNumber });

/**
 * `sessionsWithoutCost`, when given, is the count the reconciliation took in its pass over the window's sessions
 * (process-attribution); without it the sessions are read here.
 */
export function readDataQuality(db: Db, w: Window, sessionsWithoutCost?: number): TE.TaskEither<AppError, DataQuality> {
  const what = 'reading the data quality figures';
  const desc = (a: { n: number }, b: { n: number }): number => b.n - a.n;
  return pipe(
    db.select(what, Quarantined, `SELECT table_name, reason, COUNT(*) AS n FROM ingest_quarantine GROUP BY table_name, reason`),
    TE.bindTo('quarantine'),
    TE.bind('failures', () =>
      db.select(
        what,
        Failed,
        `SELECT f.reason AS reason, COUNT(*) AS n FROM api_failures f JOIN conversions c ON c.conv_id = f.conv_id
          WHERE c.conv_date >= ? AND c.conv_date <= ?
            AND EXISTS (SELECT 1 FROM journey_sessions js WHERE js.conv_id = f.conv_id)
          GROUP BY f.reason`,
        [w.start, w.end],
      ),
    ),
    TE.bind('nocost', () =>
      sessionsWithoutCost !== undefined
        ? TE.right([{ n: sessionsWithoutCost }])
        : db.select(
            what,
            CountRow,
            `SELECT COUNT(*) AS n FROM session_sources s
              WHERE s.event_date >= ? AND s.event_date <= ?
                AND NOT EXISTS (SELECT 1 FROM session_costs sc WHERE sc.session_id = s.session_id)`,
            [w.start, w.end],
          ),
    ),
    TE.map(({ quarantine, failures, nocost }) => ({
      quarantine: quarantine.sort(desc).map((r) => ({ table: r.table_name, reason: r.reason, rows: r.n })),
      failures: failures.sort(desc).map((r) => ({ reason: r.reason, count: r.n })),
      sessionsWithoutCost: nocost[0]?.n ?? 0,
    })),
  );
}
