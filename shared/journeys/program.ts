import * as path from 'node:path';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { requireSchema } from '../db/migrate.js';
import { EXIT_CODES, type AppError } from '../errors.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { windowSlug, type Window } from '../window.js';
import { buildJourneysAndInsights, journeyOptionsOf, type BuildResult, type JourneyOptions } from './build.js';
import { outsizedJourneyRevenues, type JourneyInsights } from './insights.js';
import { insightsCsvRows, writeInsights } from './insights-files.js';
import { formatInsights } from './insights-table.js';

export interface BuildJourneysArgs {
  readonly window: Window;
  /** overrides of the config's journeys section (undefined: the config's value; null: none) */
  readonly lookbackDays?: number | null | undefined;
  readonly maxSessions?: number | null | undefined;
  readonly includeSameSecond?: boolean | undefined;
  /** build the non-converting paths (undefined: config journeys.non_converting.build) */
  readonly nonConverting?: boolean | undefined;
  /** exit 8 when validation excluded records */
  readonly strict?: boolean | undefined;
}

export interface BuildJourneysOutcome {
  readonly build: BuildResult;
  readonly insights: JourneyInsights;
  readonly files: { readonly json: string; readonly csv: string };
}

export function effectiveOptions(args: BuildJourneysArgs, caps: Capabilities): JourneyOptions {
  const base = journeyOptionsOf(caps.config.journeys);
  return {
    lookbackDays: args.lookbackDays !== undefined ? args.lookbackDays : base.lookbackDays,
    maxSessions: args.maxSessions !== undefined ? args.maxSessions : base.maxSessions,
    includeSameSecond: args.includeSameSecond ?? base.includeSameSecond,
    nonConverting:
      args.nonConverting === false
        ? null
        : (base.nonConverting ?? (args.nonConverting === true ? { closeAfterDays: caps.config.journeys.non_converting.close_after_days } : null)),
  };
}

/** Validate, build, compute and write insights; the parts the task's program and tests share. */
export function runBuildJourneys(args: BuildJourneysArgs, caps: Capabilities): TE.TaskEither<AppError, BuildJourneysOutcome> {
  const w = args.window;
  const opts = effectiveOptions(args, caps);
  const dir = path.join(caps.config.output.dir, windowSlug(w));
  return pipe(
    requireSchema(caps.db),
    TE.chain(() =>
      caps.db.run('building journeys failed (the previous journeys of the window are unchanged)', (db) => {
        caps.logger.info(
          `building journeys ${w.start}..${w.end} (lookback ${opts.lookbackDays ?? 'none'} days, max ${opts.maxSessions ?? 'no'} sessions, same second ${opts.includeSameSecond ? 'counts' : 'excluded'}, non-converting paths ${opts.nonConverting === null ? 'not built' : `closed after ${opts.nonConverting.closeAfterDays} days`})`,
        );
        const progress = caps.progress({ label: 'build-journeys', unit: 'steps', total: opts.nonConverting === null ? 6 : 7 });
        const started = Date.now();
        return buildJourneysAndInsights(db, w, opts, (step) => {
          caps.logger.debug(`step ${step} at ${Date.now() - started} ms`);
          progress.tick();
        }).finally(() => progress.done());
      }),
    ),
    TE.chainFirst(({ build }) =>
      TE.fromIO(() => {
        for (const i of build.issues) {
          const say = i.severity === 'error' ? caps.logger.warn : caps.logger.info;
          say(`data issue: ${i.table} ${i.reason}: ${i.count} (${i.severity === 'error' ? 'excluded' : 'kept'}; see data_issues)`);
        }
      }),
    ),
    TE.chainFirst(({ insights }) => {
      const overflowed: string[] = [];
      insightsCsvRows(insights, overflowed);
      if (overflowed.length === 0) return TE.right(undefined);
      return pipe(
        outsizedJourneyRevenues(caps.db, w),
        TE.map((culprits) =>
          caps.logger.warn(
            `journey insights: ${overflowed.length} value(s) exceed the range of a number and are left empty (${overflowed.slice(0, 3).join(', ')}); ` +
              `revenue too large: ${culprits.length > 0 ? culprits.join(', ') : 'no single conversion'}; fix the conversions file and load it again`,
          ),
        ),
      );
    }),
    TE.chain(({ build, insights }) =>
      pipe(
        writeInsights(caps.files, dir, insights),
        TE.map((files) => ({ build, insights, files })),
      ),
    ),
  );
}

export function summaryOf(b: BuildResult): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const issues = b.issues.reduce((a, i) => a + i.count, 0);
  const parts = [
    `${b.window.start}..${b.window.end}: ${n(b.journeys)} journeys (${n(b.sessions)} sessions) from ${n(b.conversions)} conversions`,
    `${n(b.withoutSessions)} without earlier session`,
  ];
  if (b.nonConverting.paths > 0) parts.push(`${n(b.nonConverting.paths)} non-converting paths (${n(b.nonConverting.sessions)} sessions)`);
  if (b.invalid > 0) parts.push(`${n(b.invalid)} invalid`);
  parts.push(`${n(issues)} data issue${issues === 1 ? '' : 's'}`);
  return parts.join('; ');
}

/** The task's program: builds, prints the insights table, and returns the one-line summary. */
export function buildJourneysProgram(args: BuildJourneysArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  return pipe(
    runBuildJourneys(args, caps),
    TE.map((o) => {
      caps.stdout(formatInsights(o.insights));
      caps.logger.info(`insights written to ${o.files.json} and ${o.files.csv}`);
      const excluded = o.build.issues.filter((i) => i.severity === 'error').reduce((a, i) => a + i.count, 0);
      const result: TaskResult = { summary: summaryOf(o.build) };
      return args.strict === true && excluded > 0 ? { ...result, exitCode: EXIT_CODES.CheckFailed } : result;
    }),
  );
}
