import * as path from 'node:path';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { MODEL_NAMES, type ModelName } from '../attribution/types.js';
import { requireSchema } from '../db/migrate.js';
import { internal, messageOf, type AppError } from '../errors.js';
import { journeysNeverBuilt } from '../ihc/journeys.js';
import type { AttributionRun } from '../ihc/runs.js';
import { insightsOf } from '../journeys/insights-store.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { datesOf, windowSlug, type Window } from '../window.js';
import { attributeWindow, type WindowOutcome } from './attribute.js';
import { dailyTotals, readChannelReporting, readPreviousPeriod, summarizeChannels, targetsOf, totalOf } from './channels.js';
import { count, euros, type Precision } from '../format.js';
import { renderReport } from './html.js';
import { compareModels, type ModelComparison } from './models.js';
import { asOutputError } from '../files.js';
import { OUTPUT_FILES, summaryTable, writeCsvs, type RunColumns } from './outputs.js';
import { readDataQuality } from './quality.js';

export interface ProcessOptions {
  /** models of the comparison; [] skips it (the report says so) */
  readonly models: readonly ModelName[];
  /** use the latest run's answers although some journeys have none (exit 7 otherwise) */
  readonly allowPartial?: boolean;
}

export interface ProcessOutput {
  readonly outcome: WindowOutcome;
  readonly dir: string;
  readonly files: readonly string[];
  readonly comparison: ModelComparison | undefined;
}

export const precisionOf = (caps: Capabilities): Precision => ({
  money: caps.config.output.money_decimals,
  ratio: caps.config.output.ratio_decimals,
});

/** The reconciliation, as printed on stdout. */
export function describeReconciliation(w: Window, o: WindowOutcome, p: Precision): string {
  const c = o.counts;
  const r = o.reconciliation;
  const notAttributed = [
    `${count(c.noJourney)} without journey`,
    ...(c.invalid > 0 ? [`${count(c.invalid)} excluded as invalid`] : []),
    `${count(c.failed)} failed at the provider`,
    ...(c.unanswered > 0 ? [`${count(c.unanswered)} in failed batches`] : []),
    ...(c.stale > 0 ? [`${count(c.stale)} with stale answers`] : []),
    ...(c.pending > 0 ? [`${count(c.pending)} not sent yet`] : []),
  ];
  return [
    `Reconciliation ${w.start}..${w.end} (${runLabel(o.run)})`,
    `  conversions: ${count(c.total)} in the window, ${count(c.attributed)} attributed, not attributed: ${notAttributed.join(', ')}`,
    `  revenue:     sum of ihc_revenue ${euros(r.creditedRevenue, p.money)} = revenue of the attributed conversions ${euros(r.attributedRevenue, p.money)}  ok`,
    `  cost:        channel_reporting ${euros(r.reportedCost, p.money)} = cost of all sessions on the window's dates ${euros(r.sessionCost, p.money)}  ok`,
    `  written:     ${count(o.acjRows)} attribution_customer_journey rows (${count(o.acjRemoved)} replaced), ` +
      `${count(o.cells)} channel-days over ${count(o.dates.length)} dates (${o.dates[0] ?? '-'}..${o.dates[o.dates.length - 1] ?? '-'})`,
    ...(r.orphanCosts.rows > 0 ? [`  note:        ${count(r.orphanCosts.rows)} cost rows (${euros(r.orphanCosts.cost, p.money)}) have no session and are in no report`] : []),
  ].join('\n');
}

/** Writing an output: its own failure (exit 9) with the path; anything else thrown there is a bug. */
const writing = <A>(what: string, f: () => Promise<A>): TE.TaskEither<AppError, A> =>
  TE.tryCatch(
    f,
    asOutputError((e) => internal(`${what}: ${messageOf(e)}`)),
  );

/**
 * process-attribution for one window: tables (one transaction, checked), then outputs in
 * `<output.dir>/<start>_<end>/`: channel_reporting.csv, channel_summary.csv, model_comparison.csv, report.html.
 */
export function processAttribution(w: Window, caps: Capabilities, opts: ProcessOptions): TE.TaskEither<AppError, ProcessOutput> {
  const db = caps.db.knex();
  const p = precisionOf(caps);
  const dir = path.join(caps.config.output.dir, windowSlug(w));
  // the steps below are few but long (one transaction, the model comparison): the progress line's timer keeps a
  // non-terminal log from going silent while one of them runs
  const work = caps.progress({ label: 'process-attribution', unit: 'steps', total: 5 });
  const timed = async <A>(label: string, f: () => Promise<A>): Promise<A> => {
    const t0 = Date.now();
    const a = await f();
    caps.logger.info(`${label} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    work.tick();
    return a;
  };
  return pipe(
    requireSchema(caps.db),
    TE.chain(() => journeysNeverBuilt(caps.db, w)),
    TE.chain(() => {
      const t0 = Date.now();
      return pipe(
        attributeWindow(db, w, { sumTolerance: caps.config.provider.sum_tolerance, allowPartial: opts.allowPartial === true, onStep: () => work.tick(0) }),
        TE.map((o) => {
          caps.logger.info(`attribution_customer_journey and channel_reporting written and checked in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
          work.tick();
          return o;
        }),
      );
    }),
    TE.chain((outcome) => {
      caps.stdout(describeReconciliation(w, outcome, p));
      return pipe(
        readChannelReporting(caps.db, w),
        TE.bindTo('channelDays'),
        TE.bind('summary', ({ channelDays }) => TE.right(summarizeChannels(channelDays))),
        TE.bind('comparison', ({ summary }) =>
          opts.models.length === 0
            ? TE.right(undefined)
            : caps.db.run('comparing the models', () =>
                timed(`model comparison (${opts.models.length} models)`, () =>
                  compareModels(db, w, caps.config.models, {
                    models: opts.models,
                    insertChunkRows: caps.config.database.insert_chunk_rows,
                    costByChannel: new Map(summary.map((s) => [s.channel_name, s.cost])),
                    ihcByChannel: outcome.creditByChannel,
                    progress: (totalJourneys) => caps.progress({ label: 'model comparison', unit: 'journeys', total: totalJourneys }),
                  }),
                ),
              ),
        ),
        TE.bind('files', ({ channelDays, summary, comparison }) => {
          if (comparison === undefined) work.tick();
          return writing('writing the outputs failed', async () => {
            const files = await writeCsvs(dir, { channelDays, summary, comparison, run: runColumns(outcome.run) }, p);
            work.tick();
            return files;
          });
        }),
        TE.bind('insights', () => {
          const t0 = Date.now();
          return pipe(
            insightsOf(caps.db, w),
            TE.map((i) => {
              caps.logger.info(`journey insights in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
              work.tick();
              return i;
            }),
          );
        }),
        TE.bind('quality', () => readDataQuality(caps.db, w, outcome.reconciliation.sessionsWithoutCost)),
        TE.bind('previous', () => readPreviousPeriod(caps.db, w)),
        TE.chain(({ channelDays, summary, comparison, files, insights, quality, previous }) => {
          const total = totalOf(summary);
          const html = renderReport({
            window: w,
            generatedAt: caps.clock().toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
            provider: runLabel(outcome.run),
            precision: p,
            outcome,
            summary,
            total,
            daily: dailyTotals(channelDays, datesOf(w)),
            comparison,
            ...(comparison === undefined ? { comparisonNote: 'The model comparison was switched off for this run (--models none).' } : {}),
            insights,
            quality,
            files: [...files, path.join(dir, OUTPUT_FILES.report)].map((f) => path.basename(f)),
            targets: targetsOf(caps.config.output),
            ...(previous !== undefined ? { previous } : {}),
          });
          const report = path.join(dir, OUTPUT_FILES.report);
          return pipe(
            caps.files.writeText(report, html),
            TE.map(() => {
              work.tick();
              work.done();
              caps.stdout(`\nPer channel, ${w.start}..${w.end} (cost and credit on the day of the session)\n${summaryTable(summary, total, p)}`);
              return { outcome, dir, files: [...files, report], comparison };
            }),
          );
        }),
      );
    }),
    TE.mapLeft((e) => {
      work.done();
      return e;
    }),
  );
}

/** Who produced the numbers, from the run that was used (never from the config, which may have changed since). */
export function runLabel(run: AttributionRun | undefined): string {
  if (run === undefined) return 'no attribution provider (send-to-api has not run for the window)';
  return `${providerLabel(run.provider)}, conversion type ${run.convTypeId}`;
}

const runColumns = (run: AttributionRun | undefined): RunColumns => ({ provider: run?.provider ?? '', conv_type_id: run?.convTypeId ?? '' });

function providerLabel(name: string): string {
  if (name === 'local') return 'the local attribution engine (IHC-style)';
  if (name === 'ihc') return 'the IHC attribution API';
  try {
    // a URL may carry credentials; show only where it points
    const u = new URL(name);
    return `the attribution server at ${u.host}`;
  } catch {
    return name;
  }
}

/** The task's one-line summary. */
export function summaryLine(w: Window, out: ProcessOutput): string {
  const c = out.outcome.counts;
  const extra = [
    ...(c.invalid > 0 ? [`${count(c.invalid)} invalid`] : []),
    ...(c.stale > 0 ? [`${count(c.stale)} stale answers`] : []),
    ...(c.pending > 0 ? [`${count(c.pending)} not sent yet`] : []),
    ...(c.unanswered > 0 ? [`${count(c.unanswered)} in failed batches`] : []),
  ];
  return (
    `${w.start}..${w.end}: ${count(c.attributed)} conversions attributed (${count(c.noJourney)} without journey, ${count(c.failed)} failed` +
    `${extra.length > 0 ? `, ${extra.join(', ')}` : ''}), ${count(out.outcome.cells)} channel-days recomputed, revenue reconciled; outputs in ${out.dir}, open ${path.join(out.dir, OUTPUT_FILES.report)} first`
  );
}

export function processProgram(w: Window, caps: Capabilities, opts: ProcessOptions): TE.TaskEither<AppError, TaskResult> {
  return pipe(
    processAttribution(w, caps, opts),
    TE.map((out) => ({ summary: summaryLine(w, out) })),
  );
}

export const ALL_MODELS: readonly ModelName[] = MODEL_NAMES;
