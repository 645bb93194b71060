import type { Knex } from 'knex';
import * as t from 'io-ts';
import { dbOver, DbFailure, DbNumber, DbText, orThrow } from '../db/db.js';
import { internal } from '../errors.js';
import type { Window } from '../window.js';

/**
 * Attribution runs (table attribution_runs, migration 005): which provider and conversion type attributed a
 * window. send-to-api opens a row before its first request and closes it at the end, so a killed run stays
 * 'running'; process-attribution reads the window's latest run and uses only that provider's answers.
 */

export type RunStatus = 'running' | 'complete' | 'incomplete';

export interface AttributionRun {
  readonly id: number;
  readonly provider: string;
  readonly convTypeId: string;
  readonly status: RunStatus;
  readonly window: Window;
}

const RunRow = t.type({
  id: DbNumber,
  provider: DbText,
  conv_type_id: DbText,
  status: t.keyof({ running: null, complete: null, incomplete: null }),
  window_start: DbText,
  window_end: DbText,
});

export async function openRun(db: Knex, r: { runId: string; window: Window; provider: string; convTypeId: string; now: string }): Promise<number> {
  // the rows of its RETURNING: knex gives `{ id }` on every driver it supports RETURNING on
  const [row] = await orThrow(
    dbOver(db).select('opening an attribution run', t.type({ id: DbNumber }), (k) =>
      k('attribution_runs')
        .insert({
          run_id: r.runId,
          window_start: r.window.start,
          window_end: r.window.end,
          provider: r.provider,
          conv_type_id: r.convTypeId,
          status: 'running',
          started_at: r.now,
        })
        .returning('id'),
    ),
  );
  if (row === undefined) throw new DbFailure(internal('opening an attribution run: the insert returned no id'));
  return row.id;
}

export async function closeRun(db: Knex, id: number, r: { status: RunStatus; journeys: number; failed: number; now: string }): Promise<void> {
  await db('attribution_runs').where('id', id).update({ status: r.status, journeys: r.journeys, failed: r.failed, finished_at: r.now });
}

/**
 * The latest run whose window covers `w`: a run for a wider window attributed this one too. Undefined when
 * send-to-api never ran for it.
 */
export async function latestRun(db: Knex, w: Window): Promise<AttributionRun | undefined> {
  const [row] = await orThrow(
    dbOver(db).select("reading the window's latest attribution run", RunRow, (k) =>
      k('attribution_runs')
        .select('id', 'provider', 'conv_type_id', 'status', 'window_start', 'window_end')
        .where('window_start', '<=', w.start)
        .andWhere('window_end', '>=', w.end)
        .orderBy('id', 'desc')
        .limit(1),
    ),
  );
  if (row === undefined) return undefined;
  return {
    id: row.id,
    provider: row.provider,
    convTypeId: row.conv_type_id,
    status: row.status,
    window: { start: row.window_start.slice(0, 10), end: row.window_end.slice(0, 10) },
  };
}
