import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import type { Knex } from 'knex';
import { fitIhcParams, fitPhaseWeights, journeySamples, phaseFeatures, PhaseSample } from '../../shared/attribution/fit.js';
import { IhcParams } from '../../shared/attribution/params.js';
import { configError, databaseError, inputError, usageError, type AppError } from '../../shared/errors.js';
import type { Capabilities, TaskResult } from '../../shared/task.js';
import { toEpochSeconds, type Window } from '../../shared/window.js';
import { writeTransaction } from '../../shared/db/connect.js';
import { count } from '../../shared/reporting/format.js';

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

/**
 * Gaps between consecutive sessions and hours from closer-engaged sessions to their conversion, over the
 * window's stored journeys (status ok), read in pages of conversions. The samples are one number per session,
 * a few bytes each; fitIhcParams folds them into fixed-size histograms.
 */
async function collectSamples(db: Knex, w: Window, pageSize = 1000): Promise<Samples> {
  const out: Samples = { journeys: 0, gaps: [], toConversion: [] };
  let after: string | undefined;
  for (;;) {
    let q = db('journeys').select('conv_id', 'conv_date', 'conv_time').where('status', 'ok').whereBetween('conv_date', [w.start, w.end]);
    if (after !== undefined) q = q.andWhere('conv_id', '>', after);
    const heads = (await q.orderBy('conv_id').limit(pageSize)) as Array<{ conv_id: string; conv_date: string; conv_time: string }>;
    if (heads.length === 0) break;
    const rows = (await db('journey_sessions')
      .select('conv_id', 'event_date', 'event_time', 'closer_engagement')
      .whereIn(
        'conv_id',
        heads.map((h) => h.conv_id),
      )
      .orderBy([{ column: 'conv_id' }, { column: 'position' }])) as Array<{
      conv_id: string;
      event_date: string;
      event_time: string;
      closer_engagement: number | string;
    }>;
    const byConv = new Map<string, { ts: number[]; closer: (0 | 1)[] }>();
    for (const r of rows) {
      let s = byConv.get(r.conv_id);
      if (s === undefined) byConv.set(r.conv_id, (s = { ts: [], closer: [] }));
      s.ts.push(toEpochSeconds(String(r.event_date), String(r.event_time)));
      s.closer.push(Number(r.closer_engagement) === 1 ? 1 : 0);
    }
    for (const h of heads) {
      const s = byConv.get(h.conv_id);
      if (s === undefined || s.ts.length === 0) continue;
      const conv = toEpochSeconds(String(h.conv_date), String(h.conv_time));
      const j = journeySamples(s.ts, s.closer, Number.isFinite(conv) ? conv : s.ts.reduce((m, x) => (x > m ? x : m), -Infinity));
      out.journeys++;
      for (const g of j.gaps) out.gaps.push(g);
      for (const c of j.toConversion) out.toConversion.push(c);
    }
    if (heads.length < pageSize) break;
    after = heads[heads.length - 1]!.conv_id;
  }
  return out;
}

/**
 * Second pass: each journey's phase features under the fitted ramps, converting ('ok') and non-converting
 * alike (the end of a non-converting path is its last session), folded into a PhaseSample.
 */
async function collectPhases(db: Knex, w: Window, params: IhcParams, pageSize = 1000): Promise<PhaseSample> {
  const sample = new PhaseSample();
  let after: string | undefined;
  for (;;) {
    let q = db('journeys')
      .select('conv_id', 'conv_date', 'conv_time', 'status')
      .whereIn('status', ['ok', 'non_converting'])
      .whereBetween('conv_date', [w.start, w.end]);
    if (after !== undefined) q = q.andWhere('conv_id', '>', after);
    const heads = (await q.orderBy('conv_id').limit(pageSize)) as Array<{ conv_id: string; conv_date: string; conv_time: string; status: string }>;
    if (heads.length === 0) break;
    const rows = (await db('journey_sessions')
      .select('conv_id', 'event_date', 'event_time', 'holder_engagement', 'closer_engagement')
      .whereIn(
        'conv_id',
        heads.map((h) => h.conv_id),
      )
      .orderBy([{ column: 'conv_id' }, { column: 'position' }])) as Array<Record<string, unknown>>;
    const byConv = new Map<string, { ts: number[]; holder: (0 | 1)[]; closer: (0 | 1)[] }>();
    for (const r of rows) {
      const id = String(r['conv_id']);
      let s = byConv.get(id);
      if (s === undefined) byConv.set(id, (s = { ts: [], holder: [], closer: [] }));
      s.ts.push(toEpochSeconds(String(r['event_date']), String(r['event_time'])));
      s.holder.push(Number(r['holder_engagement']) === 1 ? 1 : 0);
      s.closer.push(Number(r['closer_engagement']) === 1 ? 1 : 0);
    }
    for (const h of heads) {
      const s = byConv.get(h.conv_id);
      if (s === undefined || s.ts.length === 0) continue;
      const converted = h.status === 'ok';
      const conv = toEpochSeconds(String(h.conv_date), String(h.conv_time));
      const end = converted && Number.isFinite(conv) ? conv : Math.max(...s.ts);
      sample.add(phaseFeatures(s.ts, s.holder, s.closer, end, params), converted);
    }
    if (heads.length < pageSize) break;
    after = heads[heads.length - 1]!.conv_id;
  }
  return sample;
}

export function fitIhcProgram(args: FitIhcArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  return async () => {
    const models = caps.config.models;
    const baseName = args.base ?? models.default_conversion_type;
    const base = Object.prototype.hasOwnProperty.call(models.conversion_types, baseName) ? models.conversion_types[baseName] : undefined;
    if (base === undefined) {
      return E.left(configError(`unknown base conversion type "${baseName}"`, [`known: ${Object.keys(models.conversion_types).join(', ')}`]));
    }
    // readers take the config's set over a stored one of the same name, so saving it would change nothing
    if (Object.prototype.hasOwnProperty.call(models.conversion_types, args.name)) {
      return E.left(
        usageError(
          `--name ${args.name}: conversion type "${args.name}" is defined in the config (models.conversion_types), which always wins over a ` +
            `fitted set of the same name; choose another name, e.g. --name ${args.name}_fitted`,
        ),
      );
    }
    const db = caps.db.knex();
    try {
      const existing = (await db('conversion_types').where('name', args.name).first()) as unknown;
      if (existing !== undefined && !args.replace) {
        return E.left(inputError(`conversion type "${args.name}" already exists; pass --replace to overwrite it`));
      }
      const samples = await collectSamples(db, args.window);
      if (samples.journeys === 0) {
        return E.left(inputError(`no stored journeys with sessions in ${args.window.start}..${args.window.end}; run build-journeys for that window first`));
      }
      const ramps = fitIhcParams({ gapsHours: samples.gaps, hoursToConversion: samples.toConversion, base, minSamples: args.minSamples });
      const phases = await collectPhases(db, args.window, ramps.params);
      const weights = fitPhaseWeights(phases, base.weights, { minSamples: args.minSamples, l2: models.incremental.l2 });
      const fit = { ...ramps, params: { ...ramps.params, weights: weights.weights }, notes: [...ramps.notes, ...weights.notes] };
      for (const n of fit.notes) caps.logger.warn(n);
      // the saved set must be one the config codec accepts, since readers decode it with the same codec
      const check = IhcParams.decode(fit.params);
      if (E.isLeft(check)) return E.left(inputError('the fitted parameter set does not decode as IhcParams (a bug)'));
      const source = JSON.stringify({
        method:
          'fit-ihc: initializer ramp = median..p90 of gaps; closer ramp = p10..p90 of hours to conversion; phase weights = noisy-OR coefficients of converting vs non-converting journeys on their phase sums',
        phase_coefficients: weights.coefficients,
        non_converting_journeys: phases.nonConverting,
        window: args.window,
        journeys: samples.journeys,
        gaps: fit.gaps,
        to_conversion: fit.toConversion,
        base: baseName,
        run_id: caps.runId,
      });
      const row = { name: args.name, params: JSON.stringify(fit.params), source, created_at: caps.clock().toISOString() };
      await writeTransaction(db, async (trx) => {
        await trx('conversion_types').where('name', args.name).delete();
        await trx('conversion_types').insert(row);
      });
      caps.stdout(JSON.stringify({ [args.name]: fit.params }, null, 2));
      const ir = fit.params.initializer_ramp_hours;
      const cr = fit.params.closer_ramp_hours;
      return E.right({
        summary: `saved conversion type "${args.name}" fitted on ${count(samples.journeys)} journeys (${count(samples.gaps.length)} gaps, ${count(samples.toConversion.length)} closer sessions): initializer ramp ${ir.start}..${ir.end} h, closer ramp ${cr.full}..${cr.zero} h, phase weights ${fit.params.weights.initializer}/${fit.params.weights.holder}/${fit.params.weights.closer}${weights.coefficients === null ? ' (kept)' : ` (fitted against ${count(phases.nonConverting)} non-converting journeys)`}${fit.notes.length > 0 ? `; ${fit.notes.length} note(s) on stderr` : ''}`,
      });
    } catch (e) {
      return E.left(databaseError('fit-ihc', e));
    }
  };
}
