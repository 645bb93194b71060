import type { Knex } from 'knex';
import type { Config } from '../config.js';
import { lockForWrite } from '../db/locks.js';
import { forgetStoredInsights, storeInsights } from './insights-store.js';
import { computeInsights, type JourneyInsights } from './insights.js';
import type { Window } from '../window.js';
import { deleteNonConverting, insertNonConverting, PATHS_TABLE, type NonConvertingResult } from './nonconverting.js';
import { insertNonConvertingPg } from './nonconverting-pg.js';
import { analyzeIfUnknown, journeySql, type JourneySql } from './sql.js';
import { writeIssues, type IssueCount } from './validate.js';
import { writeTransaction } from '../db/connect.js';
import { dbOver, DbNumber, DbSum, DbText, orThrow } from '../db/db.js';
import * as t from 'io-ts';

const StatusCount = t.type({ status: DbText, n: DbNumber, s: DbSum });

export interface JourneyOptions {
  /** only sessions at most this many days (x 24 h) before the conversion; null: every earlier session */
  readonly lookbackDays: number | null;
  /** keep the latest N sessions of a journey; null: no cap */
  readonly maxSessions: number | null;
  /** a session starting in exactly the conversion's second counts as before it */
  readonly includeSameSecond: boolean;
  /** build the paths that led to no order (null: do not); see nonconverting.ts */
  readonly nonConverting: { readonly closeAfterDays: number } | null;
}

export function journeyOptionsOf(c: Config['journeys']): JourneyOptions {
  return {
    lookbackDays: c.lookback_days,
    maxSessions: c.max_sessions,
    includeSameSecond: c.include_same_second,
    nonConverting: c.non_converting.build ? { closeAfterDays: c.non_converting.close_after_days } : null,
  };
}

/** journeys.status values */
export const JOURNEY_STATUS = {
  ok: 'ok',
  noSessions: 'no_sessions',
  invalid: 'invalid',
} as const;
/** transient, only inside the build's transaction */
const PENDING = 'pending';

export interface BuildResult {
  readonly window: Window;
  /** conversions dated in the window (one journeys row each) */
  readonly conversions: number;
  /** journeys with at least one session (status ok) */
  readonly journeys: number;
  /** journey_sessions rows of those journeys */
  readonly sessions: number;
  /** valid conversions without an earlier session (status no_sessions) */
  readonly withoutSessions: number;
  /** conversions excluded by validation (status invalid) */
  readonly invalid: number;
  /** paths of sessions that led to no order (nonconverting_paths), and their sessions */
  readonly nonConverting: NonConvertingResult;
  readonly issues: readonly IssueCount[];
}

export type Step = 'validate' | 'replace' | 'journeys' | 'sessions' | 'count' | 'non_converting' | 'insights';

/**
 * buildJourneys, then the window's insights computed and stored (journey_insights) in the same transaction:
 * under the same lock as the tables they describe, and with the non-converting totals the build counted.
 */
export async function buildJourneysAndInsights(
  db: Knex,
  w: Window,
  opts: JourneyOptions,
  onStep: (step: Step) => void = () => {},
): Promise<{ readonly build: BuildResult; readonly insights: JourneyInsights }> {
  let insights: JourneyInsights | undefined;
  const build = await buildJourneys(db, w, opts, onStep, async (trx, built) => {
    onStep('insights');
    insights = await orThrow(computeInsights(dbOver(trx), w, { nonConverting: built.nonConverting }));
    await storeInsights(trx, w, insights);
  });
  if (insights === undefined) throw new Error('the build returned without its insights');
  return { build, insights };
}

/**
 * Validates and builds the window's journeys in one transaction: data_issues, journeys and journey_sessions
 * rows of the window are replaced together, so a re-run gives the same tables and a failure leaves the
 * previous state. All set work is SQL inside the database; nothing here grows with the data. `then` runs last,
 * inside the transaction.
 */
export async function buildJourneys(
  db: Knex,
  w: Window,
  opts: JourneyOptions,
  onStep: (step: Step) => void = () => {},
  then: (trx: Knex.Transaction, built: BuildResult) => Promise<void> = async () => {},
): Promise<BuildResult> {
  const q = journeySql(db);
  return writeTransaction(db, async (trx) => {
    await lockForWrite(trx, 'journeys');
    await forgetStoredInsights(trx);
    await analyzeIfUnknown(trx, ['session_sources', 'conversions', 'session_costs', 'journeys', 'journey_sessions', PATHS_TABLE]);
    onStep('validate');
    const issues = await writeIssues(trx, w, q);

    onStep('replace');
    const windowConvIds = trx('conversions').select('conv_id').whereBetween('conv_date', [w.start, w.end]);
    await trx('journey_sessions')
      .whereBetween('conv_date', [w.start, w.end])
      .orWhereIn('conv_id', windowConvIds.clone())
      .delete();
    await trx('journeys')
      .whereBetween('conv_date', [w.start, w.end])
      .orWhereIn('conv_id', windowConvIds.clone())
      .delete();
    await deleteNonConverting(trx, q, w);

    onStep('journeys');
    // one row per conv_id even when an adopted table without primary key repeats it (reported as duplicate_conv_id)
    await trx.raw(
      `INSERT INTO journeys (conv_id, user_id, conv_date, conv_time, revenue, session_count, status)
       SELECT c.conv_id, MIN(c.user_id), MIN(c.conv_date), MIN(c.conv_time), MIN(c.revenue), 0, ?
         FROM conversions c WHERE c.conv_date BETWEEN ? AND ? GROUP BY c.conv_id`,
      [PENDING, w.start, w.end],
    );
    await trx.raw(
      `UPDATE journeys SET status = ?
        WHERE conv_date BETWEEN ? AND ?
          AND conv_id IN (SELECT d.record_key FROM data_issues d
                           WHERE d.window_start = ? AND d.window_end = ? AND d.table_name = 'conversions' AND d.severity = 'error')`,
      [JOURNEY_STATUS.invalid, w.start, w.end, w.start, w.end],
    );
    // the statistics of journeys and journey_sessions describe the rows this transaction replaces; planned from
    // them, the session join and the insights that follow pick nested loops over the whole window (PostgreSQL)
    await analyzeIfUnknown(trx, ['journeys'], true);

    onStep('sessions');
    const excludedSessions = issues.some((i) => i.table === 'session_sources' && i.reason === 'duplicate_session_id');
    const sel = candidateSessions(q, w, opts, excludedSessions);
    const insert = `INSERT INTO journey_sessions (conv_id, session_id, position, conv_date, event_date, event_time, channel_name,
                                                  holder_engagement, closer_engagement, impression_interaction, conversion)`;
    if (opts.maxSessions === null) {
      // every session counts: positions and the converting (last) session from one window, one sort (0.85 ->
      // 0.75 CPU s at scale 10, SQLite)
      await trx.raw(
        `${insert}
         SELECT j.conv_id, s.session_id, ROW_NUMBER() OVER w - 1, j.conv_date, s.event_date, s.event_time, s.channel_name,
                s.holder_engagement, s.closer_engagement, s.impression_interaction, CASE WHEN LEAD(1) OVER w IS NULL THEN 1 ELSE 0 END
           ${sel.from}
         WINDOW w AS (PARTITION BY j.conv_id ORDER BY s.event_date, s.event_time, ${q.binary('s.session_id')})`,
        sel.bindings,
      );
    } else {
      // the latest N: ranked from the last session first, then numbered in time order
      await trx.raw(
        `${insert}
         SELECT x.conv_id, x.session_id,
                ROW_NUMBER() OVER (PARTITION BY x.conv_id ORDER BY x.event_date, x.event_time, ${q.binary('x.session_id')}) - 1,
                x.conv_date, x.event_date, x.event_time, x.channel_name,
                x.holder_engagement, x.closer_engagement, x.impression_interaction,
                CASE WHEN x.rn_desc = 1 THEN 1 ELSE 0 END
           FROM (SELECT j.conv_id, j.conv_date, s.session_id, s.event_date, s.event_time, s.channel_name,
                        s.holder_engagement, s.closer_engagement, s.impression_interaction,
                        ROW_NUMBER() OVER (PARTITION BY j.conv_id
                                           ORDER BY s.event_date DESC, s.event_time DESC, ${q.binary('s.session_id')} DESC) AS rn_desc
                   ${sel.from}) x
          WHERE x.rn_desc <= ${Math.trunc(opts.maxSessions)}`,
        sel.bindings,
      );
    }

    await analyzeIfUnknown(trx, ['journey_sessions'], true);

    onStep('count');
    // count and status in one pass: each journey row is rewritten once (PostgreSQL writes a new row version per
    // UPDATE, and two passes doubled the window's journeys table and its index entries)
    await trx.raw(
      `UPDATE journeys SET (session_count, status) =
              (SELECT COUNT(*), CASE WHEN COUNT(*) > 0 THEN ? ELSE ? END FROM journey_sessions js WHERE js.conv_id = journeys.conv_id)
        WHERE conv_date BETWEEN ? AND ? AND status = ?`,
      [JOURNEY_STATUS.ok, JOURNEY_STATUS.noSessions, w.start, w.end, PENDING],
    );
    // again, now that the statuses are final: sampled while every row was pending, the statistics gave status 'ok'
    // one row, and the insights joined journey_sessions by a nested loop probe per journey (PostgreSQL, scale 10:
    // the four insight queries 0.24 s, 0.1 s by hash joins; this ANALYZE about 0.05 s)
    await analyzeIfUnknown(trx, ['journeys'], true);
    let nonConverting: NonConvertingResult = { paths: 0, sessions: 0 };
    if (opts.nonConverting !== null) {
      onStep('non_converting');
      nonConverting = await (q.dialect === 'pg' ? insertNonConvertingPg : insertNonConverting)(trx, q, w, {
        closeAfterDays: opts.nonConverting.closeAfterDays,
        lookbackDays: opts.lookbackDays,
        includeSameSecond: opts.includeSameSecond,
        excludeDuplicates: excludedSessions,
      });
    }
    if (opts.nonConverting !== null) await analyzeIfUnknown(trx, [PATHS_TABLE], true);
    const counts = await orThrow(
      dbOver(trx).select('counting the window\'s journeys by status', StatusCount, (k) =>
        k('journeys')
          .select('status')
          .count({ n: '*' })
          .sum({ s: 'session_count' })
          .whereBetween('conv_date', [w.start, w.end])
          .groupBy('status'),
      ),
    );
    const of = (status: string) => counts.find((c) => c.status === status);
    const built: BuildResult = {
      window: w,
      nonConverting,
      conversions: counts.reduce((a, c) => a + c.n, 0),
      journeys: of(JOURNEY_STATUS.ok)?.n ?? 0,
      sessions: of(JOURNEY_STATUS.ok)?.s ?? 0,
      withoutSessions: of(JOURNEY_STATUS.noSessions)?.n ?? 0,
      invalid: Number(of(JOURNEY_STATUS.invalid)?.n ?? 0),
      issues,
    };
    await then(trx, built);
    return built;
  });
}

/**
 * Every (pending conversion j, earlier session s of its user) pair: the FROM and WHERE clauses. The join runs on
 * the (user_id, event_date, event_time) index; the timestamp test is written on the two columns rather than on
 * a concatenation so that the index serves it.
 */
function candidateSessions(q: JourneySql, w: Window, opts: JourneyOptions, excludeDuplicates: boolean): { from: string; bindings: Knex.RawBinding[] } {
  const timeCmp = opts.includeSameSecond ? '<=' : '<';
  const conds = [
    // SQLite: as a row value, one range of the (user, date, time) index per journey instead of an OR of two
    // searches whose rows are then merged
    q.dialect === 'pg'
      ? `(s.event_date < j.conv_date OR (s.event_date = j.conv_date AND s.event_time ${timeCmp} j.conv_time))`
      : `(s.event_date, s.event_time) ${timeCmp} (j.conv_date, j.conv_time)`,
    q.validDate('s.event_date'),
    q.validTime('s.event_time'),
  ];
  if (opts.lookbackDays !== null) {
    // at or after the same clock time N days before the conversion
    const cut = q.minusDays('j.conv_date', opts.lookbackDays);
    conds.push(`(s.event_date > ${cut} OR (s.event_date = ${cut} AND s.event_time >= j.conv_time))`);
  }
  const bindings: Knex.RawBinding[] = [w.start, w.end, PENDING];
  if (excludeDuplicates) {
    conds.push(
      `s.session_id NOT IN (SELECT d.record_key FROM data_issues d WHERE d.window_start = ? AND d.window_end = ?
                               AND d.table_name = 'session_sources' AND d.reason = 'duplicate_session_id')`,
    );
    bindings.push(w.start, w.end);
  }
  return {
    from: `FROM journeys j
            JOIN session_sources s ON s.user_id = j.user_id
           WHERE j.conv_date BETWEEN ? AND ? AND j.status = ?
             AND ${conds.join('\n             AND ')}`,
    bindings,
  };
}
