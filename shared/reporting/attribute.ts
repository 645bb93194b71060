import type { Knex } from 'knex';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { lockForWrite } from '../db/locks.js';
import { checkFailed, databaseError, internal, providerError, type AppError } from '../errors.js';
import { latestRun, type AttributionRun } from '../ihc/runs.js';
import { datesOf, type Window } from '../window.js';
import * as t from 'io-ts';
import { chunks, placeholders } from '../db/in-lists.js';
import { dialectOf, writeTransaction } from '../db/connect.js';
import { CountRow, dbOver, DbFailure, DbNumber, DbText, orThrow } from '../db/db.js';
import { analyzeIfUnknown, journeySql, sessionIdsMissingSql } from '../journeys/sql.js';
import { ChannelSums, CompensatedSum } from './sums.js';

/**
 * The database half of process-attribution, as one transaction:
 *   1. classify the window's conversions (attributed / no journey / failed / stale answer / not sent yet);
 *   2. note the dates whose channel_reporting cells hold the window's current credit (before deleting it);
 *   3. replace the window's rows of attribution_customer_journey with the accepted answers;
 *   4. recompute channel_reporting for every date the run can change, from all tables;
 *   5. check: ihc sums to 1 per conversion, revenue and cost reconcile.
 * A failed check throws inside the transaction, so the tables stay exactly as they were.
 */

export interface ConversionCounts {
  /** conversions with conv_date in the window */
  readonly total: number;
  /** the provider's answers cover exactly the journey's sessions */
  readonly attributed: number;
  /** no session before the conversion (journey empty), or build-journeys never saw the conversion */
  readonly noJourney: number;
  /** build-journeys excluded the journey (journeys.status 'invalid', reasons in data_issues) */
  readonly invalid: number;
  /** the provider refused or lost the journey (api_failures) */
  readonly failed: number;
  /** answers exist but for another session set (the journey was rebuilt after sending): not used */
  readonly stale: number;
  /** a journey with sessions but neither an answer nor a failure from the run: send-to-api has not sent it with this provider */
  readonly pending: number;
  /** in a batch of the run that failed (retries exhausted, rejected answer): the next send-to-api re-sends it */
  readonly unanswered: number;
  readonly revenue: { readonly total: number; readonly attributed: number };
}

export interface Reconciliation {
  /** revenue of the attributed conversions */
  readonly attributedRevenue: number;
  /** sum of ihc x revenue of the window's rows, through session_sources (what lands in channel_reporting) */
  readonly creditedRevenue: number;
  /** sum of session_costs over all sessions dated in the window */
  readonly sessionCost: number;
  /** sessions dated in the window without a session_costs row (counted as cost 0) */
  readonly sessionsWithoutCost: number;
  /** sum of channel_reporting.cost over the window's dates */
  readonly reportedCost: number;
  /** costs whose session is not in session_sources: no channel or date, so in no report */
  readonly orphanCosts: { readonly rows: number; readonly cost: number };
}

/** The credit of the window's conversions on one channel (the channel of each credited session). */
export interface ChannelCredit {
  readonly channel_name: string;
  readonly orders: number;
  readonly revenue: number;
}

export interface WindowOutcome {
  readonly counts: ConversionCounts;
  readonly reconciliation: Reconciliation;
  /** the window's credit per channel, from the rows just written: the model comparison's IHC column */
  readonly creditByChannel: readonly ChannelCredit[];
  /** rows written to attribution_customer_journey */
  readonly acjRows: number;
  /** rows removed from attribution_customer_journey before writing */
  readonly acjRemoved: number;
  /** the dates whose channel_reporting rows were recomputed, sorted */
  readonly dates: readonly string[];
  /** (channel, date) rows written to channel_reporting */
  readonly cells: number;
  /** the attribution run whose answers were used; undefined when send-to-api never ran for the window */
  readonly run: AttributionRun | undefined;
}

export interface AttributeOptions {
  /** allowed |sum(ihc) - 1| per conversion (config provider.sum_tolerance) */
  readonly sumTolerance: number;
  /** dates per IN list */
  readonly dateChunk?: number;
  /** use the run's answers although some journeys have none (failed batches, not sent yet) */
  readonly allowPartial?: boolean;
  /** called between statements: better-sqlite3 blocks the event loop, so a progress timer cannot fire during one */
  readonly onStep?: () => void;
}

/** Thrown inside the transaction when the run is incomplete; becomes a ProviderError (exit 7) outside. */
class RunIncomplete extends Error {}

/** Thrown inside the transaction to roll it back; becomes a CheckFailed value outside. */
class CheckFailure extends Error {
  constructor(
    message: string,
    readonly details: readonly string[],
  ) {
    super(message);
  }
}

const IN_WINDOW = 'c.conv_date >= ? AND c.conv_date <= ?';
const COST_IN_WINDOW = 's.event_date >= ? AND s.event_date <= ?';

const isNumberText = (s: string): boolean => s.trim() !== '' && !Number.isNaN(Number(s));

/**
 * A sum of stored revenues or credits as the database gives it, NULL (no rows) as 0. Unlike db.ts' DbSum it lets
 * a sum beyond a double's range through (Infinity, or NaN from Infinity - Infinity): reconcile() must see the
 * overflow to name the conversions whose revenue causes it (outsizedRevenues), not fail on an undecodable row.
 */
const UnboundedSum = new t.Type<number, number, unknown>(
  'a number, possibly beyond the range of a double, or null (no rows)',
  (u): u is number => typeof u === 'number',
  (u, c) =>
    u === null || u === undefined
      ? t.success(0)
      : typeof u === 'number'
        ? t.success(u)
        : typeof u === 'string' && (isNumberText(u) || /^\s*[+-]?(Infinity|NaN)\s*$/.test(u))
          ? t.success(Number(u))
          : t.failure(u, c),
  (n) => n,
);

/** The rows of a read inside attributeWindow's transaction, decoded; a Left is thrown and mapped once outside. */
const select = <A>(db: Knex, what: string, codec: t.Decoder<unknown, A>, sql: string, bindings: readonly unknown[] = []): Promise<A[]> =>
  orThrow(dbOver(db).select(what, codec, sql, bindings));

/** The one row of an aggregate without GROUP BY (SQL always gives it). */
const selectOne = async <A>(db: Knex, what: string, codec: t.Decoder<unknown, A>, sql: string, bindings: readonly unknown[] = []): Promise<A> => {
  const [row] = await select(db, what, codec, sql, bindings);
  if (row === undefined) throw new DbFailure(internal(`${what}: the aggregate gave no row`));
  return row;
};

const DateRow = t.type({ d: DbText });
const IhcRev = t.type({ ihc: UnboundedSum, rev: UnboundedSum });

/**
 * A text as an SQL literal. Only for provider names and conversion types read back from api_batches /
 * attribution_runs: the same literal appears in many correlated subqueries, where positional bindings would
 * have to be repeated and counted by hand.
 */
const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** The run's answers: api_results of batches sent to the run's provider with its conversion type. */
const runResults = (run: AttributionRun | undefined): string =>
  run === undefined
    ? `(SELECT conv_id, session_id, ihc FROM api_results WHERE 1 = 0)`
    : `(SELECT r.conv_id, r.session_id, r.ihc FROM api_results r JOIN api_batches b ON b.batch_id = r.batch_id
         WHERE b.provider = ${literal(run.provider)} AND b.conv_type_id = ${literal(run.convTypeId)})`;

/** The run's failures; `final` = the provider's word on the journey (or never sendable), not a failed batch. */
const runFailures = (run: AttributionRun | undefined, final: boolean): string =>
  run === undefined
    ? `(SELECT conv_id FROM api_failures WHERE ${final ? 'batch_id IS NULL' : '1 = 0'})`
    : `(SELECT f.conv_id FROM api_failures f LEFT JOIN api_batches b ON b.batch_id = f.batch_id
         WHERE ${
           final
             ? `f.batch_id IS NULL OR (b.provider = ${literal(run.provider)} AND b.conv_type_id = ${literal(run.convTypeId)} AND b.status <> 'failed')`
             : `b.provider = ${literal(run.provider)} AND b.conv_type_id = ${literal(run.convTypeId)} AND b.status = 'failed'`
         })`;

/**
 * The window's conversions whose journey the run's answers cover exactly, as a table of conv_id (bindings: the
 * window twice): as many answers as journey sessions, and every journey session answered (both are keyed by
 * (conv_id, session_id), so equal counts plus full coverage is set equality). Answers of another provider or
 * conversion type never count. Counted once per window with GROUP BY: the former counts per conversion in
 * correlated subqueries were estimated by PostgreSQL at 2 rows and joined to the batches by nested loop
 * (7.25 M rows read and discarded at scale 10).
 */
const acceptedInWindow = (run: AttributionRun | undefined): string => `(
  SELECT j.conv_id
    FROM (SELECT js.conv_id, COUNT(*) AS n, COUNT(a.conv_id) AS answered
            FROM conversions c JOIN journey_sessions js ON js.conv_id = c.conv_id
            LEFT JOIN ${runResults(run)} a ON a.conv_id = js.conv_id AND a.session_id = js.session_id
           WHERE ${IN_WINDOW}
           GROUP BY js.conv_id) j
    JOIN (SELECT r.conv_id, COUNT(*) AS n FROM ${runResults(run)} r JOIN conversions c ON c.conv_id = r.conv_id
           WHERE ${IN_WINDOW}
           GROUP BY r.conv_id) a ON a.conv_id = j.conv_id
   WHERE j.answered = j.n AND a.n = j.n
)`;

/** A conversion's category; its query reads `conversions c` joined to `ok` (classified below). */
const category = (run: AttributionRun | undefined): string => `CASE
  WHEN ok.conv_id IS NOT NULL THEN 'attributed'
  WHEN EXISTS (SELECT 1 FROM journeys j WHERE j.conv_id = c.conv_id AND j.status = 'invalid') THEN 'invalid'
  WHEN NOT EXISTS (SELECT 1 FROM journey_sessions js WHERE js.conv_id = c.conv_id) THEN 'no_journey'
  WHEN EXISTS (SELECT 1 FROM ${runFailures(run, true)} f WHERE f.conv_id = c.conv_id) THEN 'failed'
  WHEN EXISTS (SELECT 1 FROM ${runFailures(run, false)} f WHERE f.conv_id = c.conv_id) THEN 'unanswered'
  WHEN EXISTS (SELECT 1 FROM ${runResults(run)} r WHERE r.conv_id = c.conv_id) THEN 'stale'
  ELSE 'pending'
END`;

/** The window's accepted conversions as a table of conv_id, with its bindings. */
interface Accepted {
  readonly sql: string;
  readonly bindings: readonly string[];
}

const acceptedOf = (run: AttributionRun | undefined, w: Window): Accepted => ({ sql: acceptedInWindow(run), bindings: [w.start, w.end, w.start, w.end] });

/**
 * SQLite: the accepted conversions counted once into a temporary table, which classifying the conversions and
 * writing their answers both read (each counted the window's answers and journey sessions again: 0.65 CPU s
 * apiece at scale 10). PostgreSQL does the same with its own temporary table (below).
 */
const ACCEPTED = 'temp.pa_accepted';

async function materializeAccepted(db: Knex, run: AttributionRun | undefined, w: Window): Promise<Accepted> {
  if (dialectOf(db) === 'pg') {
    // PostgreSQL: computed once for the classification and the credit's INSERT (it was computed for each), and
    // analysed: planned as a subquery, its count conditions were guessed at 42 rows of 19,434 and the INSERT probed
    // api_results by key for each. Scale 10, server time of the classification and the INSERT: 1.31-1.51 s (4 runs)
    // -> 1.05 s with the copy and its ANALYZE. Dropped with the transaction.
    const acc = acceptedOf(run, w);
    await db.raw(`CREATE TEMPORARY TABLE pa_accepted ON COMMIT DROP AS SELECT conv_id FROM ${acc.sql} x`, acc.bindings);
    await db.raw(`ANALYZE pa_accepted`);
    return { sql: `(SELECT conv_id FROM pg_temp.pa_accepted)`, bindings: [] };
  }
  if (dialectOf(db) !== 'sqlite') return acceptedOf(run, w);
  await db.raw(`DROP TABLE IF EXISTS ${ACCEPTED}`);
  await db.raw(`CREATE TEMPORARY TABLE pa_accepted (conv_id TEXT PRIMARY KEY) WITHOUT ROWID`);
  await db.raw(`INSERT INTO ${ACCEPTED} (conv_id) ${sqliteAccepted(run)}`, [w.start, w.end]);
  return { sql: `(SELECT conv_id FROM ${ACCEPTED})`, bindings: [] };
}

/**
 * acceptedInWindow for SQLite (bindings: the window once). SQLite copied the run's answers into a temporary table
 * and built an automatic index on it for the journey sessions to probe, and grouped the answers per conversion
 * in a second sorted copy: 58 MB of its memory at scale 30 that the process kept, growing with the window, and
 * 0.5 CPU s at scale 10. api_results is keyed by (conv_id, session_id), so each journey session probes its answer
 * by key and the answer's batch says whether it is the run's; a conversion's answers of the run are counted by
 * its key range. Same test: as many answers as journey sessions, every journey session answered.
 */
const sqliteAccepted = (run: AttributionRun | undefined): string => {
  const ofRun = run === undefined ? '0' : `b.provider = ${literal(run.provider)} AND b.conv_type_id = ${literal(run.convTypeId)}`;
  return `SELECT js.conv_id FROM conversions c JOIN journey_sessions js ON js.conv_id = c.conv_id
            LEFT JOIN api_results r ON r.conv_id = js.conv_id AND r.session_id = js.session_id
            LEFT JOIN api_batches b ON b.batch_id = r.batch_id AND ${ofRun}
           WHERE ${IN_WINDOW}
           GROUP BY js.conv_id
          HAVING COUNT(b.batch_id) = COUNT(*)
             AND (SELECT COUNT(*) FROM api_results r JOIN api_batches b ON b.batch_id = r.batch_id WHERE r.conv_id = js.conv_id AND ${ofRun}) = COUNT(*)`;
};

/** The window's conversions with the accepted ones marked (bindings: the accepted table's, then the window). */
const classified = (acc: Accepted): string => `conversions c LEFT JOIN ${acc.sql} ok ON ok.conv_id = c.conv_id WHERE ${IN_WINDOW}`;

/** Categories that say the run did not answer the journey: re-sending would change the numbers. */
const INCOMPLETE = `('unanswered', 'pending', 'stale')`;

export async function classifyConversions(db: Knex, w: Window, run?: AttributionRun, acc: Accepted = acceptedOf(run, w)): Promise<ConversionCounts> {
  const rows = await select(
    db,
    "classifying the window's conversions",
    t.type({ category: DbText, n: DbNumber, revenue: UnboundedSum }),
    `SELECT category, COUNT(*) AS n, SUM(revenue) AS revenue
       FROM (SELECT ${category(run)} AS category, c.revenue AS revenue FROM ${classified(acc)}) x
      GROUP BY category`,
    [...acc.bindings, w.start, w.end],
  );
  const by = new Map(rows.map((r) => [r.category, { n: r.n, revenue: r.revenue }]));
  const n = (k: string): number => by.get(k)?.n ?? 0;
  return {
    total: rows.reduce((s, r) => s + r.n, 0),
    attributed: n('attributed'),
    noJourney: n('no_journey'),
    invalid: n('invalid'),
    failed: n('failed'),
    stale: n('stale'),
    pending: n('pending'),
    unanswered: n('unanswered'),
    revenue: { total: rows.reduce((s, r) => s + r.revenue, 0), attributed: by.get('attributed')?.revenue ?? 0 },
  };
}

const CreditCell = t.type({ d: t.union([DbText, t.null]), channel_name: t.union([DbText, t.null]), orders: UnboundedSum, revenue: UnboundedSum, rows: DbNumber, placed: DbNumber });
type CreditCell = t.TypeOf<typeof CreditCell>;

/**
 * The credit of the window's conversions per session date and channel (d and channel_name NULL: credited sessions
 * missing from session_sources), read once after the window's rows are written: the dates they touch, the
 * reconciliation's credited revenue and the model comparison's IHC column all come from it (three joins of the same
 * tables before, 1.8 CPU s at scale 10); read before the window's rows are replaced, it gives the dates they leave
 * and how many they were. The credit rows are looked up in session order: at random, each session
 * lookup read a page of session_sources (0.8 -> 0.45 CPU s). The sums do not depend on the plan's order (stableSum).
 */
async function windowCredit(db: Knex, w: Window): Promise<CreditCell[]> {
  const q = journeySql(db);
  return select(
    db,
    "summing the window's credit per date and channel",
    CreditCell,
    `SELECT s.event_date AS d, s.channel_name AS channel_name, ${q.stableSum('a.ihc')} AS orders, ${q.stableSum('a.ihc * a.revenue')} AS revenue,
            COUNT(*) AS rows, COUNT(s.session_id) AS placed
       FROM (SELECT a.session_id, a.ihc, c.revenue FROM attribution_customer_journey a JOIN conversions c ON c.conv_id = a.conv_id
              WHERE ${IN_WINDOW} ORDER BY a.session_id) a
       LEFT JOIN session_sources s ON s.session_id = a.session_id
      GROUP BY s.event_date, s.channel_name`,
    [w.start, w.end],
  );
}

const datesOfCredit = (credit: readonly CreditCell[]): string[] => credit.flatMap((c) => (c.d === null ? [] : [c.d]));
const rowsOfCredit = (credit: readonly CreditCell[]): number => credit.reduce((n, c) => n + c.rows, 0);

/** The credit cells added up per channel, the dates of each channel in date order (the same sums on every run). */
function channelTotals(credit: readonly CreditCell[]): ChannelCredit[] {
  const sums = new ChannelSums();
  const placed = credit.filter((c): c is CreditCell & { d: string; channel_name: string } => c.channel_name !== null && c.d !== null);
  placed.sort((a, b) => (a.d < b.d ? -1 : a.d > b.d ? 1 : 0));
  for (const c of placed) sums.add(c.channel_name, c.orders, c.revenue);
  return sums.totals();
}

/** Event dates of the window's journey sessions (the snapshot build-journeys took). */
async function journeyDates(db: Knex, w: Window): Promise<string[]> {
  const rows = await select(
    db,
    "reading the dates of the window's journeys",
    DateRow,
    `SELECT DISTINCT js.event_date AS d FROM journey_sessions js WHERE js.conv_date >= ? AND js.conv_date <= ?`,
    [w.start, w.end],
  );
  return rows.map((r) => r.d);
}

/**
 * FROM attribution_customer_journey a joined to its sessions s and its conversions c, WHERE the sessions are on
 * the dates of `inList` (bindings: the dates). The credit of a set of dates can be found from either side: from the dates' sessions, each looking up
 * its credit rows, or from all credit rows, each looking up its session. SQLite takes the side the query names
 * first (CROSS JOIN), so it is told the smaller: at scale 10, 37,385 credit rows against 580,721 sessions (1.35 ->
 * 0.5 CPU s per pass); a short window over a long history has fewer sessions than credit rows. The credit rows
 * are counted whole (the smallest index's entries), the sessions up to that count. PostgreSQL plans this itself.
 */
async function creditOfDates(db: Knex, inList: string, dates: readonly string[]): Promise<string> {
  const where = `JOIN conversions c ON c.conv_id = a.conv_id WHERE s.event_date IN (${inList})`;
  const byDates = `session_sources s JOIN attribution_customer_journey a ON a.session_id = s.session_id ${where}`;
  if (dialectOf(db) !== 'sqlite') return byDates;
  const credit = await selectOne(db, 'counting the credit rows', CountRow, `SELECT COUNT(*) AS n FROM attribution_customer_journey`);
  const sessions = await selectOne(
    db,
    "counting the dates' sessions",
    CountRow,
    `SELECT COUNT(*) AS n FROM (SELECT 1 FROM session_sources WHERE event_date IN (${inList}) LIMIT ?) x`,
    [...dates, credit.n + 1],
  );
  return sessions.n <= credit.n ? byDates : `attribution_customer_journey a CROSS JOIN session_sources s ON s.session_id = a.session_id ${where}`;
}

/**
 * channel_reporting for the given dates, from everything in the tables. Cost: every session of the channel and
 * date with a session_costs row, each counted once (the cost side never joins the journeys, so a session
 * shared by two conversions cannot be counted twice). ihc and ihc_revenue: attribution_customer_journey joined
 * to its session (for channel and date) and its conversion (for revenue). A cell exists when it has a cost row
 * or credit; dates that carry only cost appear with ihc 0. Each side is summed per cell on its own: both read the
 * sessions in the (event_date, channel_name) order of an index, so neither sorts its rows (one GROUP BY over the
 * union sorted every session of the dates through a temporary B-tree).
 */
export async function recomputeChannelReporting(db: Knex, dates: readonly string[], chunkSize = 200, costCells = false): Promise<number> {
  let cells = 0;
  for (const part of chunks(dates, chunkSize)) {
    const inList = placeholders(part.length);
    await db.raw(`DELETE FROM channel_reporting WHERE date IN (${inList})`, part);
    const credit = await creditOfDates(db, inList, part);
    const cost = costCells
      ? `SELECT channel_name, date AS d, cost, 0.0 AS ihc, 0.0 AS ihc_revenue FROM ${costCellsIn(db)} WHERE date IN (${inList})`
      : `SELECT s.channel_name AS channel_name, s.event_date AS d, SUM(COALESCE(sc.cost, 0)) AS cost,
                  0.0 AS ihc, 0.0 AS ihc_revenue
             FROM session_sources s JOIN session_costs sc ON sc.session_id = s.session_id
            WHERE s.event_date IN (${inList})
            GROUP BY s.event_date, s.channel_name`;
    await db.raw(
      `INSERT INTO channel_reporting (channel_name, date, cost, ihc, ihc_revenue)
       SELECT channel_name, d, SUM(cost), SUM(ihc), SUM(ihc_revenue)
         FROM (
           ${cost}
           UNION ALL
           SELECT s.channel_name, s.event_date, 0.0, SUM(a.ihc), SUM(a.ihc * c.revenue)
             FROM ${credit}
            GROUP BY s.event_date, s.channel_name
         ) x
        GROUP BY channel_name, d`,
      [...part, ...part],
    );
    const r = await selectOne(db, 'counting the rows of channel_reporting written', CountRow, `SELECT COUNT(*) AS n FROM channel_reporting WHERE date IN (${inList})`, part);
    cells += r.n;
  }
  return cells;
}

async function checkIhcSums(db: Knex, w: Window, tol: number): Promise<void> {
  const bad = await select(
    db,
    "checking that each conversion's ihc sums to 1",
    t.type({ conv_id: DbText, total: UnboundedSum, lo: UnboundedSum, hi: UnboundedSum }),
    `SELECT a.conv_id AS conv_id, SUM(a.ihc) AS total, MIN(a.ihc) AS lo, MAX(a.ihc) AS hi
       FROM attribution_customer_journey a JOIN conversions c ON c.conv_id = a.conv_id
      WHERE ${IN_WINDOW}
      GROUP BY a.conv_id
     HAVING SUM(a.ihc) < ? OR SUM(a.ihc) > ? OR MIN(a.ihc) < ? OR MAX(a.ihc) > ?`,
    [w.start, w.end, 1 - tol, 1 + tol, -tol, 1 + tol],
  );
  if (bad.length === 0) return;
  bad.sort((a, b) => (a.conv_id < b.conv_id ? -1 : a.conv_id > b.conv_id ? 1 : 0));
  throw new CheckFailure(
    `ihc does not sum to 1 (within ${tol}) for ${bad.length} conversion(s) of the window; nothing was written. ` +
      `Re-send them (send-to-api) or check the provider:`,
    [
      ...bad.slice(0, 10).map((r) => `conversion ${r.conv_id}: sum ${r.total}, session credit from ${r.lo} to ${r.hi}`),
      ...(bad.length > 10 ? [`... and ${bad.length - 10} more`] : []),
    ],
  );
}

async function reconcile(
  db: Knex,
  w: Window,
  counts: ConversionCounts,
  dates: readonly string[],
  tol: number,
  chunkSize: number,
  sessions: number,
  costCells: boolean,
  credit: readonly CreditCell[],
): Promise<{ reconciliation: Reconciliation; creditByChannel: ChannelCredit[] }> {
  const creditByChannel = channelTotals(credit);
  const revenue = new CompensatedSum();
  for (const c of creditByChannel) revenue.add(c.revenue);
  const credited = {
    revenue: revenue.value,
    rows: rowsOfCredit(credit),
    placed: credit.reduce((n, r) => n + r.placed, 0),
  };
  const cost = costCells ? await cellCosts(db, w) : await windowCosts(db, w);
  const reported = await selectOne(
    db,
    "summing the window's reported cost",
    t.type({ cost: UnboundedSum }),
    `SELECT SUM(cost) AS cost FROM channel_reporting WHERE date >= ? AND date <= ?`,
    [w.start, w.end],
  );
  const r: Reconciliation = {
    attributedRevenue: counts.revenue.attributed,
    creditedRevenue: credited.revenue,
    sessionCost: cost.cost,
    sessionsWithoutCost: sessions - cost.costed,
    reportedCost: reported.cost,
    orphanCosts: { rows: cost.orphans, cost: cost.orphanCost },
  };
  const problems: string[] = [...cost.problems];
  // NaN-safe: a comparison with NaN is false, so "not within" is the test, never "outside"
  const within = (x: number, y: number, t: number): boolean => Math.abs(x - y) <= t;
  const unplaced = credited.rows - credited.placed;
  if (unplaced > 0) {
    problems.push(`${unplaced} credited session(s) of the window are missing from session_sources, so their revenue has no channel or date:`);
    problems.push(...(await unplacedSessions(db, w)));
  }
  const sums = [r.creditedRevenue, r.attributedRevenue, r.sessionCost, r.reportedCost];
  if (sums.some((x) => !Number.isFinite(x))) {
    problems.push(OVERFLOW);
    problems.push(...(await outsizedRevenues(db, w)));
  } else {
    // each conversion's credit may be off by sumTolerance, so its revenue by sumTolerance x revenue
    const revenueTol = tol * Math.abs(r.attributedRevenue) + 1e-9 * Math.max(1, Math.abs(r.attributedRevenue));
    if (!within(r.creditedRevenue, r.attributedRevenue, revenueTol)) {
      problems.push(`revenue: sum of ihc x revenue is ${r.creditedRevenue}, revenue of the attributed conversions is ${r.attributedRevenue}:`);
      problems.push(...(await revenueMismatches(db, w, tol)));
    }
    if (!within(r.reportedCost, r.sessionCost, 1e-9 * Math.max(1, Math.abs(r.sessionCost)))) {
      problems.push(`cost: channel_reporting holds ${r.reportedCost} for the window's dates, session_costs ${r.sessionCost}:`);
      problems.push(...(await cellMismatches(db, datesOf(w), chunkSize)));
    }
  }
  // the rows just written must equal the credit and cost of their dates, whoever's conversions they belong to
  if (problems.length === 0) {
    const onlyWindow = await creditIsTheWindows(db, w);
    for (const part of chunks(dates, chunkSize)) {
      const inList = placeholders(part.length);
      const rep = await selectOne(
        db,
        'summing channel_reporting for the dates written',
        IhcRev,
        `SELECT SUM(ihc) AS ihc, SUM(ihc_revenue) AS rev FROM channel_reporting WHERE date IN (${inList})`,
        part,
      );
      const src = onlyWindow
        ? creditOfCells(credit, part)
        : await selectOne(
            db,
            'summing attribution_customer_journey for the dates written',
            IhcRev,
            `SELECT SUM(a.ihc) AS ihc, SUM(a.ihc * c.revenue) AS rev
               FROM ${await creditOfDates(db, inList, part)}`,
            part,
          );
      const close = (x: number, y: number): boolean => within(x, y, 1e-9 * Math.max(1, Math.abs(y)));
      if (!close(rep.ihc, src.ihc) || !close(rep.rev, src.rev)) {
        problems.push(
          `channel_reporting for ${part[0]}..${part[part.length - 1]} holds ihc ${rep.ihc} / revenue ${rep.rev}, ` +
            `attribution_customer_journey gives ${src.ihc} / ${src.rev}:`,
        );
        problems.push(...(await cellMismatches(db, part, chunkSize)));
        if (![rep.rev, src.rev].every(Number.isFinite)) problems.push(...(await outsizedRevenues(db, w)));
      }
    }
  }
  if (problems.length > 0) throw new CheckFailure('the reconciliation failed; nothing was written:', problems);
  return { reconciliation: r, creditByChannel };
}

/**
 * Whether every row of attribution_customer_journey credits a conversion of the window. Then the credit of any set
 * of dates is the window's credit on those dates, which windowCredit read once (its own join, in its own order,
 * not the recompute's): the check of the rows written adds up those cells instead of joining every credit row to its
 * session and conversion again (0.4 CPU s at scale 10, where the window is all the data).
 */
async function creditIsTheWindows(db: Knex, w: Window): Promise<boolean> {
  const other = await select(
    db,
    'looking for the credit of conversions outside the window',
    t.type({ one: DbNumber }),
    `SELECT 1 AS one FROM attribution_customer_journey a
      WHERE NOT EXISTS (SELECT 1 FROM conversions c WHERE c.conv_id = a.conv_id AND ${IN_WINDOW}) LIMIT 1`,
    [w.start, w.end],
  );
  return other.length === 0;
}

/** The credit cells of the given dates added up, as the join of creditOfDates sums them (any channel). */
function creditOfCells(credit: readonly CreditCell[], dates: readonly string[]): { ihc: number; rev: number } {
  const wanted = new Set(dates);
  const ihc = new CompensatedSum();
  const rev = new CompensatedSum();
  for (const c of credit) {
    if (c.d === null || !wanted.has(c.d)) continue;
    ihc.add(c.orders);
    rev.add(c.revenue);
  }
  return { ihc: ihc.value, rev: rev.value };
}

/**
 * The cost side of the reconciliation for a short window (a window holding a quarter of the cost rows or more reads
 * the cost cells instead, see makeCostCells), from session_costs and session_sources alone, so that its work
 * follows the window: the window's sessions each looking up their cost row, and the costs without a session
 * (which only a pass over all cost rows can find) from the key indexes alone.
 */
async function windowCosts(db: Knex, w: Window): Promise<WindowCostFigures> {
  const inWindow = await selectOne(
    db,
    "summing the window's session costs",
    t.type({ cost: UnboundedSum, costed: DbNumber }),
    `SELECT SUM(sc.cost) AS cost, COUNT(sc.session_id) AS costed
       FROM session_sources s LEFT JOIN session_costs sc ON sc.session_id = s.session_id
      WHERE ${COST_IN_WINDOW}`,
    [w.start, w.end],
  );
  const orphans = (await anyOrphanCost(db))
    ? await selectOne(
        db,
        'summing the costs of sessions without a source',
        t.type({ n: DbNumber, cost: UnboundedSum }),
        `SELECT COUNT(*) AS n, SUM(sc.cost) AS cost FROM session_costs sc
          WHERE NOT EXISTS (SELECT 1 FROM session_sources s WHERE s.session_id = sc.session_id)`,
      )
    : { n: 0, cost: 0 };
  return { ...inWindow, orphans: orphans.n, orphanCost: orphans.cost, problems: [] };
}

/**
 * Whether some cost row has no session, asked before summing them: the sum probes session_sources once per cost
 * row of the whole table, whatever the window (0.28 CPU s at scale 10), where SQLite answers the usual "none" by
 * one merge of the two key indexes front to back (0.08), as build-journeys' validation counts them. PostgreSQL's
 * anti-join is one hash pass already: always true.
 */
async function anyOrphanCost(db: Knex): Promise<boolean> {
  if (dialectOf(db) !== 'sqlite') return true;
  const found = await selectOne(
    db,
    'looking for costs of sessions without a source',
    CountRow,
    `SELECT ${sessionIdsMissingSql('session_costs', 'session_sources', 1)} AS n`,
  );
  return found.n > 0;
}

interface WindowCostFigures {
  readonly cost: number;
  readonly costed: number;
  readonly orphans: number;
  readonly orphanCost: number;
  readonly problems: readonly string[];
}

/** A quarter of the cost rows or more are on the window's dates: one pass over all cost rows is the cheaper read. */
async function windowHoldsMostCosts(db: Knex, sessions: number): Promise<boolean> {
  const costRows = await selectOne(
    db,
    'counting the cost rows',
    CountRow,
    `SELECT COUNT(*) AS n FROM (SELECT 1 FROM session_costs LIMIT ?) x`,
    [sessions * 4 + 1],
  );
  return costRows.n <= sessions * 4;
}

/**
 * The cost per channel and session date of every cost row, as a temporary table (`orphan`: costs without a session;
 * a session without a date counts as neither in the window nor an orphan, as in windowCosts), made in one pass over
 * session_costs in its key order, each row's session looked up front to back through session_sources' key index.
 * channel_reporting's cost and the reconciliation's cost side both read it: channel_reporting's former cost side
 * walked the sessions by date and channel and probed session_costs at random (2.2 CPU s at scale 10), and the
 * reconciliation then joined the same tables again (0.9 s); this pass takes 1.8 s. Only when the window holds a good
 * part of the cost rows (else its work would not follow the window). On PostgreSQL too: channel_reporting's cost
 * side and the reconciliation's join took 2.0 + 0.6 s at scale 10, the cells 0.8.
 */
const COST_CELLS = 'pa_cost_cells';
/** the temporary table's schema-qualified name: SQLite calls the schema temp, PostgreSQL pg_temp */
const costCellsIn = (db: Knex): string => `${dialectOf(db) === 'sqlite' ? 'temp' : 'pg_temp'}.${COST_CELLS}`;

async function makeCostCells(db: Knex): Promise<void> {
  await db.raw(`DROP TABLE IF EXISTS ${costCellsIn(db)}`);
  if (dialectOf(db) === 'sqlite') return sqliteCostCells(db);
  // stableSum: the plan sums in parallel workers, so a plain float SUM took its rows in a different order from run
  // to run (at scale 10 one channel's cost came out either side of 193,092.50, and the report's chart showed
  // €193,092 or €193,093 for the same data)
  await db.raw(
    `CREATE TEMPORARY TABLE pa_cost_cells AS
     SELECT s.event_date AS date, s.channel_name AS channel_name, s.session_id IS NULL AS orphan,
            ${journeySql(db).stableSum('COALESCE(sc.cost, 0)')} AS cost, COUNT(*) AS n
       FROM session_costs sc LEFT JOIN session_sources s ON s.session_id = sc.session_id
      GROUP BY s.event_date, s.channel_name, s.session_id IS NULL`,
  );
}

/**
 * SQLite groups by sorting: GROUP BY over the joined cost rows sorted all 580,721 of them into a temporary B-tree
 * for 150 cells (1.3 of the pass's 2.0 CPU s at scale 10). Each joined row is added to its cell instead, an UPSERT
 * into a table keyed by the cell, whose few pages stay in the cache (1.6-1.7 against 2.0 CPU s). The sums are
 * SQLite's own SUM() step (Kahan-Babuska-Neumaier, see CompensatedSum), the running sum and its compensation kept
 * in two columns and added at the end, so a cell's cost does not depend on the order its rows come in. A key
 * column cannot be NULL: a missing date or channel is a flag beside an empty key value (never equal to a stored
 * one, which would take the flag 0); date, channel_name and cost are what the readers see, as from the GROUP BY.
 * A NaN (Infinity - Infinity) is NULL in SQLite, as SUM() gives it.
 */
async function sqliteCostCells(db: Knex): Promise<void> {
  await db.raw(
    `CREATE TEMPORARY TABLE ${COST_CELLS} (
       orphan INTEGER NOT NULL, no_date INTEGER NOT NULL, date_key NOT NULL, no_channel INTEGER NOT NULL, channel_key NOT NULL,
       total REAL, err REAL, n INTEGER NOT NULL,
       date GENERATED ALWAYS AS (CASE WHEN no_date THEN NULL ELSE date_key END) VIRTUAL,
       channel_name GENERATED ALWAYS AS (CASE WHEN no_channel THEN NULL ELSE channel_key END) VIRTUAL,
       cost GENERATED ALWAYS AS (CASE WHEN total - total = 0 THEN total + err ELSE total END) VIRTUAL,
       PRIMARY KEY (orphan, no_date, date_key, no_channel, channel_key)) WITHOUT ROWID`,
  );
  // WHERE true: an INSERT ... SELECT with ON CONFLICT needs a WHERE (SQLite's parsing ambiguity); the SET
  // expressions all read the row's values before the update
  await db.raw(
    `INSERT INTO ${costCellsIn(db)} (orphan, no_date, date_key, no_channel, channel_key, total, err, n)
     SELECT s.session_id IS NULL, s.event_date IS NULL, COALESCE(s.event_date, ''), s.channel_name IS NULL, COALESCE(s.channel_name, ''),
            COALESCE(sc.cost, 0), 0.0, 1
       FROM session_costs sc LEFT JOIN session_sources s ON s.session_id = sc.session_id
      WHERE true
     ON CONFLICT DO UPDATE SET
       total = total + excluded.total,
       err = err + CASE WHEN abs(total) > abs(excluded.total) THEN (total - (total + excluded.total)) + excluded.total
                        ELSE (excluded.total - (total + excluded.total)) + total END,
       n = n + 1`,
  );
}

/**
 * The reconciliation's cost side from the cost cells. So that it is no check of a number against itself, the cells
 * must hold every cost row once: their row count and cost are checked against session_costs read alone (its key
 * index, no join), so a cost row lost, counted twice or summed wrongly while grouping shows up here.
 */
async function cellCosts(db: Knex, w: Window): Promise<WindowCostFigures> {
  const cells = await selectOne(
    db,
    "summing the window's session costs",
    t.type({ cost: UnboundedSum, costed: DbNumber, orphans: DbNumber, orphanCost: UnboundedSum, total: UnboundedSum, rows: DbNumber }),
    `SELECT SUM(CASE WHEN date >= ? AND date <= ? THEN cost END) AS cost, COALESCE(SUM(CASE WHEN date >= ? AND date <= ? THEN n END), 0) AS costed,
            COALESCE(SUM(CASE WHEN orphan THEN n END), 0) AS orphans, SUM(CASE WHEN orphan THEN cost END) AS "orphanCost",
            SUM(cost) AS total, COALESCE(SUM(n), 0) AS rows
       FROM ${costCellsIn(db)}`,
    [w.start, w.end, w.start, w.end],
  );
  const all = await selectOne(db, 'summing all session costs', t.type({ cost: UnboundedSum, rows: DbNumber }), `SELECT SUM(cost) AS cost, COUNT(*) AS rows FROM session_costs`);
  const problems =
    all.rows === cells.rows && Math.abs(all.cost - cells.total) <= 1e-9 * Math.max(1, Math.abs(all.cost))
      ? []
      : [`cost: session_costs holds ${all.rows} rows costing ${all.cost}, its per channel and date sums ${cells.rows} rows costing ${cells.total}`];
  return { cost: cells.cost, costed: cells.costed, orphans: cells.orphans, orphanCost: cells.orphanCost, problems };
}

const OVERFLOW = "the window's sums exceed the range of a number (about 1.8e308); these conversions' revenue cannot be added up:";
const NAMED = 10;
const more = (shown: number, total: number): string[] => (total > shown ? [`  ... and ${total - shown} more`] : []);

async function unplacedSessions(db: Knex, w: Window): Promise<string[]> {
  const rows = await select(
    db,
    'naming the credited sessions without a source',
    t.type({ conv_id: DbText, session_id: DbText, n: DbNumber }),
    `SELECT a.conv_id AS conv_id, a.session_id AS session_id, COUNT(*) OVER () AS n
       FROM attribution_customer_journey a JOIN conversions c ON c.conv_id = a.conv_id
      WHERE ${IN_WINDOW} AND NOT EXISTS (SELECT 1 FROM session_sources s WHERE s.session_id = a.session_id)
      ORDER BY a.conv_id, a.session_id LIMIT ${NAMED}`,
    [w.start, w.end],
  );
  return [...rows.map((r) => `  conversion ${r.conv_id}, session ${r.session_id}`), ...more(rows.length, rows[0]?.n ?? 0)];
}

/**
 * Conversions whose revenue alone can overflow the window's sums: n values each below MAX_VALUE / n cannot,
 * so the ones at or above it (or not finite) are the cause.
 */
async function outsizedRevenues(db: Knex, w: Window): Promise<string[]> {
  const c = await selectOne(
    db,
    "counting the window's credited conversions",
    CountRow,
    `SELECT COUNT(DISTINCT a.conv_id) AS n FROM attribution_customer_journey a JOIN conversions c ON c.conv_id = a.conv_id WHERE ${IN_WINDOW}`,
    [w.start, w.end],
  );
  const limit = Number.MAX_VALUE / Math.max(1, c.n);
  const rows = await select(
    db,
    'naming the conversions whose revenue overflows the sums',
    t.type({ conv_id: DbText, revenue: UnboundedSum, n: DbNumber }),
    `SELECT c.conv_id AS conv_id, c.revenue AS revenue, COUNT(*) OVER () AS n FROM conversions c
      WHERE ${IN_WINDOW} AND (c.revenue IS NULL OR ABS(c.revenue) >= ?)
        AND EXISTS (SELECT 1 FROM attribution_customer_journey a WHERE a.conv_id = c.conv_id)
      ORDER BY c.conv_id LIMIT ${NAMED}`,
    [w.start, w.end, limit],
  );
  return [...rows.map((r) => `  conversion ${r.conv_id}: revenue ${r.revenue}; fix the conversions file and load it again`), ...more(rows.length, rows[0]?.n ?? 0)];
}

/** Attributed conversions whose credited revenue differs from their revenue by more than the tolerance allows. */
async function revenueMismatches(db: Knex, w: Window, tol: number): Promise<string[]> {
  const rows = await select(
    db,
    'naming the conversions whose credited revenue differs',
    t.type({ conv_id: DbText, revenue: UnboundedSum, credited: UnboundedSum }),
    `SELECT a.conv_id AS conv_id, MAX(c.revenue) AS revenue, SUM(CASE WHEN s.session_id IS NULL THEN 0 ELSE a.ihc * c.revenue END) AS credited
       FROM attribution_customer_journey a JOIN conversions c ON c.conv_id = a.conv_id
       LEFT JOIN session_sources s ON s.session_id = a.session_id
      WHERE ${IN_WINDOW}
      GROUP BY a.conv_id
     HAVING ABS(SUM(CASE WHEN s.session_id IS NULL THEN 0 ELSE a.ihc * c.revenue END) - MAX(c.revenue)) > ? * ABS(MAX(c.revenue)) + 1e-9
      ORDER BY a.conv_id LIMIT ${NAMED}`,
    [w.start, w.end, tol],
  );
  return rows.map((r) => `  conversion ${r.conv_id}: revenue ${r.revenue}, credited ${r.credited}`);
}

const Cell = t.type({
  channel_name: DbText,
  date: DbText,
  cost: UnboundedSum,
  ihc: UnboundedSum,
  rev: UnboundedSum,
  want_cost: UnboundedSum,
  want_ihc: UnboundedSum,
  want_rev: UnboundedSum,
});

/** The (channel, date) cells of channel_reporting that differ from what the tables give. */
async function cellMismatches(db: Knex, dates: readonly string[], chunkSize: number): Promise<string[]> {
  const out: string[] = [];
  for (const part of chunks(dates, chunkSize)) {
    const inList = placeholders(part.length);
    const rows = await select(
      db,
      'naming the channel_reporting cells that differ',
      Cell,
      `SELECT cr.channel_name AS channel_name, cr.date AS date, cr.cost AS cost, cr.ihc AS ihc, cr.ihc_revenue AS rev,
              (SELECT SUM(sc.cost) FROM session_sources s JOIN session_costs sc ON sc.session_id = s.session_id
                WHERE s.channel_name = cr.channel_name AND s.event_date = cr.date) AS want_cost,
              (SELECT SUM(a.ihc) FROM attribution_customer_journey a JOIN session_sources s ON s.session_id = a.session_id
                WHERE s.channel_name = cr.channel_name AND s.event_date = cr.date) AS want_ihc,
              (SELECT SUM(a.ihc * c.revenue) FROM attribution_customer_journey a JOIN session_sources s ON s.session_id = a.session_id
                 JOIN conversions c ON c.conv_id = a.conv_id
                WHERE s.channel_name = cr.channel_name AND s.event_date = cr.date) AS want_rev
         FROM channel_reporting cr WHERE cr.date IN (${inList}) ORDER BY cr.date, cr.channel_name`,
      part,
    );
    const same = (x: number, y: number): boolean => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
    for (const r of rows) {
      if (same(r.cost, r.want_cost) && same(r.ihc, r.want_ihc) && same(r.rev, r.want_rev)) continue;
      if (out.length === NAMED) return [...out, '  ... and more'];
      out.push(
        `  channel ${r.channel_name}, ${r.date}: cost ${r.cost} / ihc ${r.ihc} / revenue ${r.rev}, ` +
          `the tables give ${r.want_cost} / ${r.want_ihc} / ${r.want_rev}`,
      );
    }
  }
  return out;
}

/** Steps 1-5 above in one transaction; a failed check gives CheckFailed and leaves every table unchanged. */
export function attributeWindow(db: Knex, w: Window, opts: AttributeOptions): TE.TaskEither<AppError, WindowOutcome> {
  const chunkSize = opts.dateChunk ?? 200;
  return TE.tryCatch(
    () =>
      writeTransaction(db, async (trx) => {
        await lockForWrite(trx, 'reporting');
        const step = opts.onStep ?? (() => {});
        // send-to-api just filled api_batches and api_results: planned without their statistics, every conversion's
        // answer count walked all batches (74 s of 127 at scale 10 on PostgreSQL)
        await analyzeIfUnknown(trx, ['api_batches', 'api_results'], true);
        await analyzeIfUnknown(trx, ['conversions', 'session_sources', 'session_costs', 'journeys', 'journey_sessions', 'attribution_customer_journey']);
        const run = await latestRun(trx, w);
        const accepted = await materializeAccepted(trx, run, w);
        const counts = await classifyConversions(trx, w, run, accepted);
        const missing = counts.unanswered + counts.pending + counts.stale;
        if (opts.allowPartial !== true && (missing > 0 || (run !== undefined && run.status !== 'complete'))) {
          throw new RunIncomplete(await describeIncomplete(trx, w, run, counts, accepted));
        }
        step();
        // the dates whose cells hold the window's credit now, and how many rows it has
        const previous = await windowCredit(trx, w);
        const before = datesOfCredit(previous);
        await trx.raw(
          `DELETE FROM attribution_customer_journey
            WHERE conv_id IN (SELECT c.conv_id FROM conversions c WHERE ${IN_WINDOW})`,
          [w.start, w.end],
        );
        await trx.raw(
          `INSERT INTO attribution_customer_journey (conv_id, session_id, ihc)
           SELECT r.conv_id, r.session_id, r.ihc
             FROM ${runResults(run)} r JOIN ${accepted.sql} ok ON ok.conv_id = r.conv_id`,
          accepted.bindings,
        );
        // the window's credit rows were just replaced: the recompute and the reconciliation join them
        await analyzeIfUnknown(trx, ['attribution_customer_journey'], true);
        step();
        await checkIhcSums(trx, w, opts.sumTolerance);
        step();

        const credit = await windowCredit(trx, w);
        const after = datesOfCredit(credit);
        const dates = [...new Set([...datesOf(w), ...before, ...after, ...(await journeyDates(trx, w))])].sort();
        const sessions = await selectOne(
          trx,
          "counting the window's sessions",
          CountRow,
          `SELECT COUNT(*) AS n FROM session_sources s WHERE s.event_date >= ? AND s.event_date <= ?`,
          [w.start, w.end],
        );
        const costCells = await windowHoldsMostCosts(trx, sessions.n);
        if (costCells) await makeCostCells(trx);
        const cells = await recomputeChannelReporting(trx, dates, chunkSize, costCells).catch(async (e: unknown) => {
          // SQLite before 3.45 (node-sqlite3 bundles 3.44) sums an overflowing column to NULL, so the insert
          // breaks channel_reporting's NOT NULL before the reconciliation can name the cause; a failed
          // statement leaves a SQLite transaction usable, so ask which revenues overflow (PostgreSQL: rethrow)
          const outsized = dialectOf(trx) === 'sqlite' ? await outsizedRevenues(trx, w) : [];
          if (outsized.length === 0) throw e;
          throw new CheckFailure('the reconciliation failed; nothing was written:', [OVERFLOW, ...outsized]);
        });
        step();
        const { reconciliation, creditByChannel } = await reconcile(trx, w, counts, dates, opts.sumTolerance, chunkSize, sessions.n, costCells, credit);
        if (costCells) await trx.raw(`DROP TABLE ${costCellsIn(trx)}`);
        if (dialectOf(trx) === 'sqlite') await trx.raw(`DROP TABLE ${ACCEPTED}`);
        return { counts, reconciliation, creditByChannel, acjRows: rowsOfCredit(credit), acjRemoved: rowsOfCredit(previous), dates, cells, run };
      }),
    (e): AppError =>
      e instanceof DbFailure
        ? e.error
        : e instanceof CheckFailure
        ? checkFailed(e.message, e.details)
        : e instanceof RunIncomplete
          ? providerError(e.message)
          : databaseError('writing attribution_customer_journey and channel_reporting failed', e),
  );
}

const SHOWN_IDS = 5;

/** Why the run cannot be used: how many journeys lack its answer, the first few ids, and the command that resumes. */
async function describeIncomplete(db: Knex, w: Window, run: AttributionRun | undefined, c: ConversionCounts, acc: Accepted): Promise<string> {
  const missing = c.unanswered + c.pending + c.stale;
  const ids = await select(
    db,
    'naming the journeys the run did not answer',
    t.type({ conv_id: DbText }),
    `SELECT conv_id FROM (SELECT c.conv_id AS conv_id, ${category(run)} AS category FROM ${classified(acc)}) x
      WHERE category IN ${INCOMPLETE} ORDER BY conv_id LIMIT ${SHOWN_IDS}`,
    [...acc.bindings, w.start, w.end],
  );
  const parts = [
    ...(c.unanswered > 0 ? [`${c.unanswered} in failed batches`] : []),
    ...(c.pending > 0 ? [`${c.pending} not sent with this provider yet`] : []),
    ...(c.stale > 0 ? [`${c.stale} with answers for an older journey`] : []),
  ];
  const eg = ids.length > 0 ? ` (${parts.join(', ')}), e.g. ${ids.map((r) => r.conv_id).join(', ')}${missing > ids.length ? ', ...' : ''}` : '';
  const partial = `or accept a partial run: process-attribution --start-date ${w.start} --end-date ${w.end} --allow-partial`;
  if (run === undefined) {
    return (
      `send-to-api has not attributed ${w.start}..${w.end} yet: ${missing} journeys have no answer${eg}; nothing was written. ` +
      `Run: send-to-api --start-date ${w.start} --end-date ${w.end} (${partial})`
    );
  }
  const state = run.status === 'running' ? 'did not finish (still running or killed)' : run.status === 'incomplete' ? 'ended with failures' : 'left journeys unanswered';
  return (
    `the latest attribution run for ${w.start}..${w.end} (provider ${run.provider}, conv_type_id ${run.convTypeId}, window ` +
    `${run.window.start}..${run.window.end}) ${state}: ${missing} journeys of the window have no answer from it${eg}; nothing was written. ` +
    `Resume with: send-to-api --start-date ${run.window.start} --end-date ${run.window.end} --provider ${run.provider} ` +
    `--conv-type-id ${run.convTypeId} (${partial})`
  );
}
