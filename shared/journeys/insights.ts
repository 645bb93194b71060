import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { CountRow, DbNumber, DbNumberOrNull, DbSum, DbText, type Db } from '../db/db.js';
import type { AppError } from '../errors.js';
import type { Window } from '../window.js';
import { JOURNEY_STATUS } from './build.js';
import { distributionOfHistogram, emptyPercentiles, PERCENTILES, percentileRanks, round, type Distribution } from './percentiles.js';
import { journeySql, type JourneySql } from './sql.js';
import { PATHS_TABLE, windowPaths } from './nonconverting.js';
import { issueCounts, type IssueCount } from './validate.js';

/**
 * The window's journey insights: what they hold and the SQL that computes them. The percentiles, the files
 * (journey_insights.json/.csv) and the printed table are their own modules.
 */

export type { Distribution } from './percentiles.js';

export const TOP_PATHS = 20;
/** between channels of a path; a channel name containing it stays readable but becomes ambiguous */
export const PATH_SEPARATOR = ' > ';

export interface PathRow {
  readonly path: string;
  readonly channels: readonly string[];
  readonly conversions: number;
  /** EUR, rounded to cents */
  readonly revenue: number;
  /** of the window's journeys */
  readonly share: number;
}

export interface ChannelShare {
  readonly channel: string;
  readonly conversions: number;
  readonly revenue: number;
  readonly share: number;
}

/** Plain JSON: what computeInsights returns and journey_insights.json holds. */
export interface JourneyInsights {
  readonly window: { readonly start: string; readonly end: string };
  /** conversions dated in the window */
  readonly conversions: number;
  /** journeys with at least one session */
  readonly journeys: number;
  /** sessions in those journeys (a session shared by two journeys counts twice) */
  readonly sessions: number;
  /** revenue of the journeys, EUR */
  readonly revenue: number;
  readonly conversions_without_journey: {
    /** no session of the user before the conversion (cannot be attributed) */
    readonly no_sessions: number;
    /** excluded by validation */
    readonly invalid: number;
  };
  /** paths of sessions that led to no order, whose last session is in the window (never attributed) */
  readonly non_converting: { readonly paths: number; readonly sessions: number };
  readonly sessions_per_journey: Distribution & {
    readonly histogram: ReadonlyArray<{ readonly sessions: number; readonly journeys: number }>;
  };
  /** from the start of the first session to the conversion */
  readonly time_to_conversion_seconds: Distribution;
  /** consecutive repeats of a channel collapsed: a > a > b is a > b */
  readonly distinct_paths: number;
  readonly top_paths: readonly PathRow[];
  readonly first_channel: readonly ChannelShare[];
  readonly last_channel: readonly ChannelShare[];
  readonly data_issues: readonly IssueCount[];
}


const StatusRow = t.type({ status: DbText, n: DbNumber, s: DbSum, r: DbSum });
const NcTotals = t.type({ n: DbNumber, s: DbSum });
const HistRow = t.type({ session_count: DbNumber, n: DbNumber });
const RankRow = t.type({ rn: DbNumber, v: DbNumber, n: DbNumber, av: DbNumberOrNull });
const PathCount = t.type({ path: DbText, conversions: DbNumber, revenue: DbSum, distinct_paths: DbNumber });
const ChannelCount = t.type({ channel_name: DbText, n: DbNumber, r: DbSum });

/**
 * The window's journey insights, computed in the database from `journeys`, `journey_sessions` and
 * `nonconverting_paths` (so the HTML report can call it after the fact). Only aggregates come back to
 * TypeScript: memory does not grow with the window.
 */
export function computeInsights(db: Db, w: Window, known: KnownTotals = {}): TE.TaskEither<AppError, JourneyInsights> {
  return pipe(
    db.run('reading the journey insights', async (k) => journeySql(k)),
    TE.chain((q) => insightsWith(db, q, w, known)),
  );
}

/** Totals the caller already holds, so that they are not counted again. */
export interface KnownTotals {
  /**
   * the window's non-converting paths, as the build that stored them counted them in the same transaction (the
   * count reads every stored path of the window: 0.23 CPU s at scale 10)
   */
  readonly nonConverting?: JourneyInsights['non_converting'];
}

function insightsWith(db: Db, q: JourneySql, w: Window, known: KnownTotals): TE.TaskEither<AppError, JourneyInsights> {
  const what = 'computing the journey insights';
  const okInWindow = `j.status = '${JOURNEY_STATUS.ok}' AND j.conv_date BETWEEN ? AND ?`;
  const b = [w.start, w.end];
  // time to conversion: one value per journey, ranked in SQL; only the ranked values we need come back
  const secs = q.secondsBetween('f.event_date', 'f.event_time', 'j.conv_date', 'j.conv_time');
  const ttcFrom = `FROM journeys j JOIN journey_sessions f ON f.conv_id = j.conv_id AND f.position = 0 WHERE ${okInWindow}`;
  const pathSql = `
    SELECT p.path, COUNT(*) AS conversions, SUM(p.revenue) AS revenue, COUNT(*) OVER () AS distinct_paths FROM (
      SELECT x.conv_id, MAX(x.revenue) AS revenue, ${q.orderedConcat('x.channel_name', PATH_SEPARATOR, 'x.position')} AS path
        FROM (SELECT js.conv_id, js.position, js.channel_name, j.revenue,
                     LAG(js.channel_name) OVER (PARTITION BY js.conv_id ORDER BY js.position) AS prev
                FROM journey_sessions js JOIN journeys j ON j.conv_id = js.conv_id
               WHERE js.conv_date BETWEEN ? AND ? AND ${okInWindow}) x
       WHERE x.prev IS NULL OR x.prev <> x.channel_name
       GROUP BY x.conv_id) p
    GROUP BY p.path
    ORDER BY COUNT(*) DESC, SUM(p.revenue) DESC, ${q.binary('p.path')}
    LIMIT ${TOP_PATHS}`;
  const channelCounts = (where: string) =>
    db.select(
      what,
      ChannelCount,
      `SELECT js.channel_name, COUNT(*) AS n, SUM(j.revenue) AS r
         FROM journey_sessions js JOIN journeys j ON j.conv_id = js.conv_id
        WHERE js.conv_date BETWEEN ? AND ? AND ${okInWindow} AND ${where}
        GROUP BY js.channel_name
        ORDER BY COUNT(*) DESC, ${q.binary('js.channel_name')}`,
      [...b, ...b],
    );
  return pipe(
    db.select(what, StatusRow, (k) =>
      k('journeys as j')
        .select('j.status')
        .count({ n: '*' })
        .sum({ s: 'j.session_count', r: 'j.revenue' })
        .whereBetween('j.conv_date', [w.start, w.end])
        .groupBy('j.status'),
    ),
    TE.bindTo('statusRows'),
    TE.bind('hist', () =>
      db.select(what, HistRow, (k) =>
        k('journeys as j')
          .select('j.session_count')
          .count({ n: '*' })
          .where('j.status', JOURNEY_STATUS.ok)
          .whereBetween('j.conv_date', [w.start, w.end])
          .groupBy('j.session_count')
          .orderBy('j.session_count'),
      ),
    ),
    TE.bind('ranked', ({ statusRows }) => {
      // Each ok journey has exactly one first session, so the ok journeys are the values' count, and one pass
      // ranks the values and returns the mean and count with the ranks asked for (a separate count, min, max and
      // mean pass over the same join took 0.23 CPU s at scale 10). Should the count differ all the same (sessions
      // removed by hand), the ranks are asked again for the count the pass found.
      const ranked = (n: number) => {
        const ranks = [1, n, ...percentileRanks(n)];
        return db.select(
          what,
          RankRow,
          `SELECT r.rn, r.v, r.n, r.av
             FROM (SELECT x.v, ROW_NUMBER() OVER (ORDER BY x.v) AS rn, COUNT(*) OVER () AS n, AVG(x.v) OVER () AS av
                     FROM (SELECT ${secs} AS v ${ttcFrom}) x) r
            WHERE r.rn IN (${ranks.map(() => '?').join(', ')})`,
          [...b, ...ranks],
        );
      };
      const expected = statusRows.find((r) => r.status === JOURNEY_STATUS.ok)?.n ?? 0;
      return pipe(
        ranked(expected),
        TE.chain((rows) => (rows.length === 0 || rows[0]!.n === expected ? TE.right(rows) : ranked(rows[0]!.n))),
      );
    }),
    TE.bind('paths', () => db.select(what, PathCount, pathSql, [...b, ...b])),
    TE.bind('first', () => channelCounts('js.position = 0')),
    TE.bind('last', () => channelCounts('js.conversion = 1')),
    TE.bind('issues', () => db.run('reading the data issues', (k) => issueCounts(k, w))),
    TE.bind('nc', () => {
      if (known.nonConverting !== undefined) return TE.right([{ n: known.nonConverting.paths, s: known.nonConverting.sessions }]);
      const win = windowPaths(q, w);
      return db.select(what, NcTotals, `SELECT COUNT(*) AS n, SUM(p.session_count) AS s FROM ${PATHS_TABLE} p WHERE ${win.sql}`, win.bindings);
    }),
    TE.map(({ statusRows, hist, ranked, paths, first, last, issues, nc }) => {
      const st = (s: string) => statusRows.find((r) => r.status === s);
      const journeys = st(JOURNEY_STATUS.ok)?.n ?? 0;
      const histogram = hist.map((h) => ({ sessions: h.session_count, journeys: h.n }));
      const nT = ranked[0]?.n ?? 0;
      const byRank = new Map(ranked.map((g) => [g.rn, g.v]));
      const ttcPercentiles = emptyPercentiles();
      if (nT > 0) {
        const ranks = percentileRanks(nT);
        PERCENTILES.forEach((p, i) => (ttcPercentiles[`p${p}`] = byRank.get(ranks[i]!) ?? null));
      }
      const shares = (rows: ReadonlyArray<t.TypeOf<typeof ChannelCount>>): ChannelShare[] =>
        rows.map((r) => ({
          channel: r.channel_name,
          conversions: r.n,
          revenue: round(r.r, 2),
          share: journeys > 0 ? round(r.n / journeys, 6) : 0,
        }));
      const sessionsPerJourney = distributionOfHistogram(histogram.map((h) => ({ value: h.sessions, count: h.journeys })));
      return {
        window: { start: w.start, end: w.end },
        conversions: statusRows.reduce((acc, r) => acc + r.n, 0),
        journeys,
        sessions: st(JOURNEY_STATUS.ok)?.s ?? 0,
        revenue: round(st(JOURNEY_STATUS.ok)?.r ?? 0, 2),
        conversions_without_journey: {
          no_sessions: st(JOURNEY_STATUS.noSessions)?.n ?? 0,
          invalid: st(JOURNEY_STATUS.invalid)?.n ?? 0,
        },
        non_converting: { paths: nc[0]?.n ?? 0, sessions: nc[0]?.s ?? 0 },
        sessions_per_journey: { ...sessionsPerJourney, histogram },
        time_to_conversion_seconds: {
          count: nT,
          min: nT > 0 ? (byRank.get(1) ?? 0) : null,
          max: nT > 0 ? (byRank.get(nT) ?? 0) : null,
          mean: nT > 0 ? round(ranked[0]?.av ?? 0, 1) : null,
          percentiles: ttcPercentiles,
        },
        distinct_paths: paths[0]?.distinct_paths ?? 0,
        top_paths: paths.map((p) => ({
          path: p.path,
          channels: p.path.split(PATH_SEPARATOR),
          conversions: p.conversions,
          revenue: round(p.revenue, 2),
          share: journeys > 0 ? round(p.conversions / journeys, 6) : 0,
        })),
        first_channel: shares(first),
        last_channel: shares(last),
        data_issues: issues,
      };
    }),
  );
}

const Outsized = t.type({ conv_id: DbText, revenue: t.unknown });

/**
 * The journeys whose revenue alone can overflow the window's sums (n values each below MAX_VALUE / n cannot),
 * named so the warning about empty insight cells points at the rows to fix.
 */
export function outsizedJourneyRevenues(db: Db, w: Window, limit = 10): TE.TaskEither<AppError, string[]> {
  const what = 'finding the journeys whose revenue overflows the insights';
  return pipe(
    db.select(what, CountRow, (k) => k('journeys').whereBetween('conv_date', [w.start, w.end]).count({ n: '*' })),
    TE.chain((n) =>
      db.select(what, Outsized, (k) =>
        k('journeys')
          .select('conv_id', 'revenue')
          .whereBetween('conv_date', [w.start, w.end])
          .andWhere((q) => q.whereNull('revenue').orWhereRaw('ABS(revenue) >= ?', [Number.MAX_VALUE / Math.max(1, n[0]?.n ?? 1)]))
          .orderBy('conv_id')
          .limit(limit),
      ),
    ),
    TE.map((rows) => rows.map((r) => `${r.conv_id} (revenue ${String(r.revenue)})`)),
  );
}
