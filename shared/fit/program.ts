import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { fitIhcParams, fitPhaseWeights, journeySamples, phaseFeatures, PhaseSample } from '../attribution/fit.js';
import { IhcParams } from '../attribution/params.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { DbText, type Db } from '../db/db.js';
import { configError, inputError, usageError, type AppError } from '../errors.js';
import { JOURNEY_STATUS } from '../journeys/build.js';
import { journeyPages } from '../journeys/read.js';
import { nonConvertingPathPages, type StoredPathSession } from '../journeys/nonconverting.js';
import { count } from '../format.js';
import { toEpochSeconds, type Window } from '../window.js';

export interface FitIhcArgs {
  readonly name: string;
  /** conversion type whose weights, channel weights and redistribution are kept (default: config default) */
  readonly base?: string | undefined;
  readonly replace: boolean;
  readonly minSamples: number;
  readonly window: Window;
}

interface Samples {
  journeys: number;
  gaps: number[];
  toConversion: number[];
}

const epochOr = (t: number, fallback: () => number): number => (Number.isFinite(t) ? t : fallback());

/**
 * Gaps between consecutive sessions and hours from closer-engaged sessions to their conversion, over the
 * window's stored journeys (status ok), read in pages of conversions. The samples are one number per session,
 * a few bytes each; fitIhcParams folds them into fixed-size histograms.
 */
async function collectSamples(db: Db, w: Window): Promise<Samples> {
  const out: Samples = { journeys: 0, gaps: [], toConversion: [] };
  for await (const page of journeyPages(db, w, { statuses: [JOURNEY_STATUS.ok] })) {
    for (const j of page) {
      if (j.sessions.length === 0) continue;
      const ts = j.sessions.map((s) => toEpochSeconds(s.event_date, s.event_time));
      const closer = j.sessions.map((s) => s.closer_engagement);
      const conv = epochOr(toEpochSeconds(j.conv_date, j.conv_time), () => ts.reduce((m, x) => (x > m ? x : m), -Infinity));
      const samples = journeySamples(ts, closer, conv);
      out.journeys++;
      for (const g of samples.gaps) out.gaps.push(g);
      for (const c of samples.toConversion) out.toConversion.push(c);
    }
  }
  return out;
}

/**
 * Second pass: each journey's phase features under the fitted ramps, converting ('ok') and non-converting
 * alike (the end of a non-converting path is its last session), folded into a PhaseSample.
 */
async function collectPhases(db: Db, w: Window, params: IhcParams): Promise<PhaseSample> {
  const sample = new PhaseSample();
  const add = (sessions: readonly StoredPathSession[], end: number | null): void => {
    const ts = sessions.map((s) => toEpochSeconds(s.event_date, s.event_time));
    const features = phaseFeatures(
      ts,
      sessions.map((s) => s.holder_engagement),
      sessions.map((s) => s.closer_engagement),
      end !== null && Number.isFinite(end) ? end : Math.max(...ts),
      params,
    );
    sample.add(features, end !== null);
  };
  for await (const page of journeyPages(db, w, { statuses: [JOURNEY_STATUS.ok] })) {
    for (const j of page) if (j.sessions.length > 0) add(j.sessions, toEpochSeconds(j.conv_date, j.conv_time));
  }
  for await (const page of nonConvertingPathPages(db, w)) for (const path of page) add(path, null);
  return sample;
}

const Named = t.type({ name: DbText });

/** fit-ihc: fits a parameter set on the window's stored journeys and saves it in conversion_types. */
export function fitIhcProgram(args: FitIhcArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  const models = caps.config.models;
  const baseName = args.base ?? models.default_conversion_type;
  const base = Object.prototype.hasOwnProperty.call(models.conversion_types, baseName) ? models.conversion_types[baseName] : undefined;
  if (base === undefined) {
    return TE.left(configError(`unknown base conversion type "${baseName}"`, [`known: ${Object.keys(models.conversion_types).join(', ')}`]));
  }
  // readers take the config's set over a stored one of the same name, so saving it would change nothing
  if (Object.prototype.hasOwnProperty.call(models.conversion_types, args.name)) {
    return TE.left(
      usageError(
        `--name ${args.name}: conversion type "${args.name}" is defined in the config (models.conversion_types), which always wins over a ` +
          `fitted set of the same name; choose another name, e.g. --name ${args.name}_fitted`,
      ),
    );
  }
  const db = caps.db;
  const w = args.window;
  return pipe(
    db.select('reading table conversion_types', Named, (k) => k('conversion_types').select('name').where('name', args.name)),
    TE.chain((existing) =>
      existing.length > 0 && !args.replace ? TE.left(inputError(`conversion type "${args.name}" already exists; pass --replace to overwrite it`)) : TE.right(undefined),
    ),
    TE.chain(() => db.run("reading the window's stored journeys", () => collectSamples(db, w))),
    TE.chain((samples) =>
      samples.journeys === 0
        ? TE.left(inputError(`no stored journeys with sessions in ${w.start}..${w.end}; run build-journeys for that window first`))
        : TE.right(samples),
    ),
    TE.bindTo('samples'),
    TE.bind('ramps', ({ samples }) =>
      TE.right(fitIhcParams({ gapsHours: samples.gaps, hoursToConversion: samples.toConversion, base, minSamples: args.minSamples })),
    ),
    TE.bind('phases', ({ ramps }) => db.run("reading the window's stored journeys", () => collectPhases(db, w, ramps.params))),
    TE.chain(({ samples, ramps, phases }) => {
      const weights = fitPhaseWeights(phases, base.weights, { minSamples: args.minSamples, l2: models.incremental.l2 });
      const fit = { ...ramps, params: { ...ramps.params, weights: weights.weights }, notes: [...ramps.notes, ...weights.notes] };
      for (const n of fit.notes) caps.logger.warn(n);
      // the saved set must be one the config codec accepts, since readers decode it with the same codec
      if (E.isLeft(IhcParams.decode(fit.params))) return TE.left(inputError('the fitted parameter set does not decode as IhcParams (a bug)'));
      const source = JSON.stringify({
        method:
          'fit-ihc: initializer ramp = median..p90 of gaps; closer ramp = p10..p90 of hours to conversion; phase weights = noisy-OR coefficients of converting vs non-converting journeys on their phase sums',
        phase_coefficients: weights.coefficients,
        non_converting_journeys: phases.nonConverting,
        window: w,
        journeys: samples.journeys,
        gaps: fit.gaps,
        to_conversion: fit.toConversion,
        base: baseName,
        run_id: caps.runId,
      });
      const row = { name: args.name, params: JSON.stringify(fit.params), source, created_at: caps.clock().toISOString() };
      return pipe(
        db.transaction(`saving conversion type "${args.name}"`, (tx) =>
          pipe(
            tx.exec('replacing the conversion type', (k) => k('conversion_types').where('name', args.name).delete()),
            TE.chain(() => tx.exec('saving the conversion type', (k) => k('conversion_types').insert(row))),
          ),
        ),
        TE.map((): TaskResult => {
          caps.stdout(JSON.stringify({ [args.name]: fit.params }, null, 2));
          const ir = fit.params.initializer_ramp_hours;
          const cr = fit.params.closer_ramp_hours;
          return {
            summary: `saved conversion type "${args.name}" fitted on ${count(samples.journeys)} journeys (${count(samples.gaps.length)} gaps, ${count(samples.toConversion.length)} closer sessions): initializer ramp ${ir.start}..${ir.end} h, closer ramp ${cr.full}..${cr.zero} h, phase weights ${fit.params.weights.initializer}/${fit.params.weights.holder}/${fit.params.weights.closer}${weights.coefficients === null ? ' (kept)' : ` (fitted against ${count(phases.nonConverting)} non-converting journeys)`}${fit.notes.length > 0 ? `; ${fit.notes.length} note(s) on stderr` : ''}`,
          };
        }),
      );
    }),
  );
}
