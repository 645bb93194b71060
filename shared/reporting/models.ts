import type { Knex } from 'knex';
import * as E from 'fp-ts/lib/Either.js';
import { describeAttributionError } from '../attribution/errors.js';
import { creditJourney, fitModel, isGlobalModel, type Fitted } from '../attribution/models.js';
import type { ModelsConfig } from '../attribution/params.js';
import { MODEL_NAMES, type Journey, type ModelName } from '../attribution/types.js';
import { journeyProblem } from '../attribution/journey.js';
import { PathAggregator } from '../attribution/paths.js';
import { lockForWrite } from '../db/locks.js';
import type { Progress } from '../progress.js';
import type { Window } from '../window.js';
import { byText, summaryOf, type ChannelSummary } from './channels.js';
import { journeyPages, journeyPaths } from './journeys.js';
import { dbOver, orThrow } from '../db/db.js';
import { countJourneys } from '../journeys/read.js';
import { nonConvertingPathKeys } from '../journeys/nonconverting.js';
import { journeySql, type JourneySql } from '../journeys/sql.js';
import { writeTransaction } from '../db/connect.js';
import { makeStager, preparedRun, type Stager } from '../ingest/stage.js';
import { ChannelSums } from './sums.js';
import type { ChannelCredit } from './attribute.js';

/**
 * The model comparison: every local model over the window's journeys, per-session credit stored in
 * model_credits (the window's conversions replaced), then summed per channel with SQL.
 *
 * Two passes over journey_sessions, page by page: the first aggregates distinct paths (the global models,
 * Markov, Shapley and incremental, are fitted on them, with the window's non-converting paths) and gathers the journey insights; the second credits each journey
 * under each model and writes the rows. Memory grows with distinct paths and one page, not with journeys.
 */

export const MODEL_LABELS: Readonly<Record<ModelName, string>> = {
  ihc: 'IHC (pipeline)',
  first_touch: 'First touch',
  last_touch: 'Last touch',
  last_non_direct: 'Last non-direct',
  linear: 'Linear',
  time_decay: 'Time decay',
  position_based: 'Position-based',
  markov: 'Markov chain',
  shapley: 'Shapley value',
  incremental: 'Incremental (data-driven)',
};

/** One sentence per model, for the report. */
export const MODEL_EXPLANATIONS: Readonly<Record<ModelName, string>> = {
  ihc: 'What the pipeline attributed (the same numbers as the channel table): each order split between the visits that started, kept up and closed the journey.',
  first_touch: 'All credit to the first visit.',
  last_touch: 'All credit to the visit just before the order.',
  last_non_direct: 'All credit to the last visit that did not come in directly (falls back to the last visit).',
  linear: 'Equal credit to every visit.',
  time_decay: 'More credit to visits closer to the order (half-life set in config).',
  position_based: 'Most credit to the first and last visits, the rest shared by the visits between.',
  markov: 'Credit by how many orders would be lost if a channel were removed from all journeys.',
  shapley: "Credit by each channel's average extra contribution across all combinations of channels.",
  incremental:
    'Fits the chance of an order from journeys with and without one, keeps apart the orders that would have happened anyway, and splits the rest by each channel\'s extra chance.',
};

export interface ModelChannel {
  readonly channel_name: string;
  readonly cost: number;
  readonly byModel: ReadonlyMap<ModelName, ChannelSummary>;
}

export interface ModelComparison {
  readonly models: readonly ModelName[];
  readonly journeys: number;
  /** journeys no model could credit (degenerate timestamps), with the first reasons */
  readonly skipped: { readonly count: number; readonly examples: readonly string[] };
  readonly channels: readonly ModelChannel[];
  readonly creditRows: number;
}

export interface CompareOptions {
  readonly models?: readonly ModelName[];
  readonly pageSize?: number;
  readonly insertChunkRows: number;
  /** the window's cost per channel (from channel_reporting), shown beside every model */
  readonly costByChannel: ReadonlyMap<string, number>;
  /** the IHC column: what the pipeline attributed (attribution_customer_journey, whatever the provider) per channel */
  readonly ihcByChannel: readonly ChannelCredit[];
  readonly progress?: (total: number) => Progress;
}

interface ModelSum {
  readonly model: string;
  readonly channel_name: string;
  readonly orders: number;
  readonly revenue: number;
}

const CREDIT_COLUMNS = ['model', 'conv_id', 'session_id', 'credit'];

/**
 * Writes one session's credit under every fitted model: session `i` of `credits[m]`, the credits of the journey under
 * the m-th model. A promise only when the driver must wait (a staged batch flushed).
 */
interface CreditWriter {
  readonly add: (convId: string, sessionId: string, credits: readonly Float64Array[], i: number) => Promise<void> | undefined;
  readonly close: () => Promise<void>;
}

/**
 * better-sqlite3: one statement per session writes its row under each model, the two 64-character ids bound once
 * instead of once per model (9 rows, 27 strings and 9 calls into the driver before): binding was most of the
 * 336,465 rows' write at scale 10 (1.0-1.3 CPU s, 0.5 s so). Other drivers stage a row per model (makeStager).
 * Opened after a page is read and closed before the next read: the next page is read on the same connection, which a
 * PostgreSQL COPY holds until it ends.
 */
async function creditWriter(trx: Knex.Transaction, models: readonly ModelName[], chunkRows: number): Promise<CreditWriter> {
  if (models.length === 0) return { add: () => undefined, close: async () => {} };
  const values = models.map((m) => `('${m}', ?)`).join(', ');
  const run = await preparedRun(
    trx,
    `INSERT INTO model_credits (model, conv_id, session_id, credit)
     SELECT v.column1, k.c, k.s, v.column2 FROM (SELECT ? AS c, ? AS s) k, (VALUES ${values}) v`,
  );
  if (run !== undefined) {
    // one array of bound values for every row, synchronously: an array, a spread and a promise per session were
    // garbage made while the page's journeys were alive, and the page outlived young-generation collections
    const values: unknown[] = new Array<unknown>(2 + models.length);
    return {
      add: (convId, sessionId, credits, i) => {
        values[0] = convId;
        values[1] = sessionId;
        for (let m = 0; m < models.length; m++) values[2 + m] = credits[m]![i];
        run(values);
        return undefined;
      },
      close: async () => {},
    };
  }
  const stager: Stager = await makeStager(trx, 'model_credits', CREDIT_COLUMNS, chunkRows, { typed: true });
  return {
    add: (convId, sessionId, credits, i) => {
      let full = false;
      for (let m = 0; m < models.length; m++) full = stager.add([models[m], convId, sessionId, credits[m]![i]]) || full;
      return full ? stager.flush() : undefined;
    },
    close: () => stager.close(),
  };
}

/**
 * Pass 1: the window's distinct paths (the global models, Markov, Shapley and incremental, are fitted on them, with
 * the window's non-converting paths), then every model fitted. Memory grows with distinct paths and one page, not
 * with journeys; it is all released when this returns.
 */
async function fitModels(
  db: Knex,
  q: JourneySql,
  w: Window,
  cfg: ModelsConfig,
  models: readonly ModelName[],
  pageSize: number,
  progress: Progress | undefined,
): Promise<{ fitted: Fitted[]; journeys: number }> {
  const { agg, journeys } = await windowPathAggregate(db, q, w, { pageSize, perUser: models.includes('incremental'), progress });
  const paths = agg.paths();
  const fitted: Fitted[] = [];
  // the IHC column is what the pipeline attributed (attribution_customer_journey, whatever the provider), not a
  // second local estimate: one IHC number in every output
  for (const m of models.filter((x) => x !== 'ihc')) {
    const f = fitModel(m, cfg, m === 'incremental' ? agg.userPaths() : isGlobalModel(m) ? paths : []);
    if (E.isLeft(f)) throw new Error(`model ${m} cannot be fitted: ${describeAttributionError(f.left)}`);
    fitted.push(f.right);
  }
  return { fitted, journeys };
}

/**
 * The paths the global models are fitted on: the window's converting journeys (one conversion each, with its
 * revenue) and its non-converting paths, counted per path (`paths()`: Markov, Shapley) and, with `perUser`, per user
 * without an order (`userPaths()`: the incremental model's unit). Exported so that `make accuracy` scores the
 * models on the very paths the comparison fits them on.
 */
export async function windowPathAggregate(
  db: Knex,
  q: JourneySql,
  w: Window,
  opts: { readonly pageSize: number; readonly perUser: boolean; readonly progress?: Progress | undefined },
): Promise<{ agg: PathAggregator; journeys: number }> {
  const agg = new PathAggregator();
  let journeys = 0;
  for await (const page of journeyPaths(db, w, opts.pageSize)) {
    for (const j of page) {
      journeys++;
      agg.add(j.channels, 1, j.revenue, 0);
    }
    opts.progress?.tick(page.length);
  }
  opts.progress?.done();
  await addNonConverting(db, q, w, agg, opts.perUser);
  return { agg, journeys };
}

/**
 * The paths that led to no order (Markov's NULL state, Shapley's conversion rates, the incremental fit) added to the
 * aggregate, counted per path and, for the incremental model, per user. Its own function so that the rows read (two counts per distinct path, 13 MB at scale 30) are garbage
 * before the models are fitted, not kept beside the fits' own memory.
 */
async function addNonConverting(db: Knex, q: JourneySql, w: Window, agg: PathAggregator, perUser: boolean): Promise<void> {
  const nc = await nonConvertingPathKeys(db, q, w);
  // the per-path sequences first: the per-path view then lists its paths in the order Markov and Shapley summed
  // them with an aggregate of their own (the incremental fit orders its paths itself)
  for (const p of nc.perPath) agg.addKey(p.key, 0, 0, p.n, 'paths');
  if (perUser) for (const p of nc.perUser) agg.addKey(p.key, 0, 0, p.n, 'users');
}

export async function compareModels(db: Knex, w: Window, cfg: ModelsConfig, opts: CompareOptions): Promise<ModelComparison> {
  const models = opts.models ?? MODEL_NAMES;
  const pageSize = opts.pageSize ?? 500;
  const total = await orThrow(countJourneys(dbOver(db), w));
  const q = journeySql(db);
  // the distinct paths of pass 1 are garbage once the models are fitted: only the fits reach pass 2
  const { fitted, journeys } = await fitModels(db, q, w, cfg, models, pageSize, opts.progress?.(total));

  // pass 2: credit and store, replacing the window's conversions in one transaction
  const skipped: string[] = [];
  let skippedCount = 0;
  let creditRows = 0;
  // each model's credit per channel, added up as it is written: the same rows that a join of model_credits with
  // conversions and journey_sessions sums after the write (1.45 CPU s at scale 10, reading back 336,000 rows)
  const totals = new Map<ModelName, ChannelSums>();
  const totalsOf = (model: ModelName): ChannelSums => {
    let m = totals.get(model);
    if (m === undefined) totals.set(model, (m = new ChannelSums()));
    return m;
  };
  const p2 = opts.progress?.(total);
  await writeTransaction(db, async (trx) => {
    await lockForWrite(trx, 'modelCredits');
    totals.clear();
    await trx.raw(
      `DELETE FROM model_credits WHERE conv_id IN (
         SELECT conv_id FROM journeys WHERE conv_date >= ? AND conv_date <= ?
         UNION SELECT conv_id FROM conversions WHERE conv_date >= ? AND conv_date <= ?)`,
      [w.start, w.end, w.start, w.end],
    );
    for await (const page of journeyPages(trx, w, pageSize)) {
      // each journey's credit goes to the writer as it is made, never into a page-long array: rows that lived as long
      // as their page outlived two young-generation collections and were promoted, so the old generation grew with the
      // window's journeys until V8 next compacted it (peak RSS 183 -> 238 MB from scale 10 to 30, 579 MB at 100).
      const writer = await creditWriter(trx, fitted.map((f) => f.model), opts.insertChunkRows);
      for (const j of page) {
        const problem = journeyProblem(j);
        if (problem !== undefined) {
          skippedCount++;
          if (skipped.length < 5) skipped.push(describeAttributionError(problem));
          continue;
        }
        const credits = fitted.map((f) => creditJourney(f, j as Journey));
        for (let m = 0; m < fitted.length; m++) {
          const credit = credits[m]!;
          const byChannel = totalsOf(fitted[m]!.model);
          for (let i = 0; i < j.sessions.length; i++) {
            byChannel.add(j.sessions[i]!.channel, credit[i]!, j.revenue === undefined ? undefined : credit[i]! * j.revenue);
          }
          creditRows += j.sessions.length;
        }
        for (let i = 0; i < j.sessions.length; i++) {
          const flushed = writer.add(j.conversionId, j.sessions[i]!.sessionId, credits, i);
          if (flushed !== undefined) await flushed;
        }
      }
      await writer.close();
      p2?.tick(page.length);
    }
  });
  p2?.done();

  const sums: ModelSum[] = [...totals].flatMap(([model, byChannel]) => byChannel.totals().map((c) => ({ model, ...c })));
  if (models.includes('ihc')) sums.push(...opts.ihcByChannel.map((c) => ({ model: 'ihc', ...c })));
  const names = new Set<string>([...opts.costByChannel.keys(), ...sums.map((s) => s.channel_name)]);
  const channels: ModelChannel[] = [...names].sort(byText).map((channel) => {
    const cost = opts.costByChannel.get(channel) ?? 0;
    const byModel = new Map<ModelName, ChannelSummary>();
    for (const m of models) {
      const s = sums.find((x) => x.model === m && x.channel_name === channel);
      byModel.set(m, summaryOf(channel, cost, s?.orders ?? 0, s?.revenue ?? 0));
    }
    return { channel_name: channel, cost, byModel };
  });
  return { models, journeys, skipped: { count: skippedCount, examples: skipped }, channels, creditRows };
}
