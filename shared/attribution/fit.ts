import { closerMembership, initializerMembership } from './ihc.js';
import { fitNoisyOr, type FeatureRow } from './incremental.js';
import type { IhcParams } from './params.js';
import { DEFAULT_IHC_PARAMS } from './params.js';

/**
 * Estimating an IHC parameter set from a user's own journeys (pure; the fit-ihc task feeds it from the
 * database). Method, also in docs/attribution-engine.md:
 *
 * - initializer ramp, from the hours between consecutive sessions of a journey (gaps): `start` = median gap,
 *   `end` = 90th percentile. A gap no longer than half of all gaps is a continuation of the same visit
 *   pattern (membership 0); a gap longer than nine gaps in ten is a fresh start (membership 1). On the public
 *   challenge data this gives about 2 h and 55 h, close to the published 2 h / 52 h.
 * - closer ramp, from the hours between each closer-engaged session and its conversion: `full` = 10th
 *   percentile, `zero` = 90th percentile: sessions as close to the conversion as the closest tenth are full
 *   closers, sessions further away than nine in ten are not closers.
 * - phase weights: from converting and non-converting journeys (fitPhaseWeights below), else kept from the base
 *   set; channel weights and redistribution are kept from the base set.
 * - a distribution with fewer than `minSamples` usable values (default 30) keeps the base ramp, with a note.
 *
 * Quantiles come from a log-scale histogram (1000 bins per decade from 0.001 h to 10^6 h; smaller values count
 * as 0), so memory is fixed whatever the number of journeys; the relative error is below 0.12%, and results are
 * rounded to 0.01 h.
 */

const MIN_H = 1e-3;
const DECADES = 9;
const PER_DECADE = 1000;

export class LogHistogram {
  private readonly bins = new Float64Array(DECADES * PER_DECADE + 2);
  count = 0;
  ignored = 0;

  add(x: number): void {
    if (!Number.isFinite(x) || x < 0) {
      this.ignored++;
      return;
    }
    this.count++;
    if (x < MIN_H) {
      this.bins[0] = this.bins[0]! + 1;
      return;
    }
    const b = Math.min(this.bins.length - 1, 1 + Math.floor(Math.log10(x / MIN_H) * PER_DECADE));
    this.bins[b] = this.bins[b]! + 1;
  }

  /** the q-quantile (0..1): the smallest bin value with at least q of the samples at or below it; NaN when empty */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let b = 0; b < this.bins.length; b++) {
      seen += this.bins[b]!;
      if (seen >= target) return b === 0 ? 0 : MIN_H * Math.pow(10, (b - 0.5) / PER_DECADE);
    }
    return MIN_H * Math.pow(10, DECADES);
  }
}

export interface DistributionSummary {
  readonly samples: number;
  readonly ignored: number;
  readonly low: number;
  readonly high: number;
}

export interface FitIhcInput {
  /** hours between consecutive sessions of a journey */
  readonly gapsHours: Iterable<number>;
  /** hours from each closer-engaged session to its conversion */
  readonly hoursToConversion: Iterable<number>;
  /** weights, channel weights and redistribution come from here, and ramps that cannot be estimated (default: the public set) */
  readonly base?: IhcParams;
  readonly minSamples?: number;
}

export interface FitIhcResult {
  readonly params: IhcParams;
  /** gaps: low = median, high = 90th percentile */
  readonly gaps: DistributionSummary;
  /** hours to conversion: low = 10th percentile, high = 90th percentile */
  readonly toConversion: DistributionSummary;
  readonly notes: readonly string[];
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export function fitIhcParams(input: FitIhcInput): FitIhcResult {
  const base = input.base ?? DEFAULT_IHC_PARAMS;
  const min = input.minSamples ?? 30;
  const notes: string[] = [];
  const gaps = new LogHistogram();
  for (const g of input.gapsHours) gaps.add(g);
  const toConv = new LogHistogram();
  for (const h of input.hoursToConversion) toConv.add(h);

  let initializer = base.initializer_ramp_hours;
  const g50 = round2(gaps.quantile(0.5));
  const g90 = round2(gaps.quantile(0.9));
  if (gaps.count >= min) initializer = { start: g50, end: g90 };
  else notes.push(`only ${gaps.count} gaps between sessions (need ${min}); initializer ramp kept from the base set`);

  let closer = base.closer_ramp_hours;
  const c10 = round2(toConv.quantile(0.1));
  const c90 = round2(toConv.quantile(0.9));
  if (toConv.count >= min) closer = { full: c10, zero: c90 };
  else notes.push(`only ${toConv.count} closer-engaged sessions (need ${min}); closer ramp kept from the base set`);

  if (gaps.ignored + toConv.ignored > 0) notes.push(`${gaps.ignored + toConv.ignored} negative or non-finite durations ignored`);
  return {
    params: { ...base, initializer_ramp_hours: initializer, closer_ramp_hours: closer },
    gaps: { samples: gaps.count, ignored: gaps.ignored, low: g50, high: g90 },
    toConversion: { samples: toConv.count, ignored: toConv.ignored, low: c10, high: c90 },
    notes,
  };
}

/**
 * The two samples of one journey, for callers that read journeys: gaps between consecutive sessions (journey
 * order) and hours to conversion of the closer-engaged sessions.
 */
export function journeySamples(
  timestamps: readonly number[],
  closerEngaged: readonly (0 | 1)[],
  conversionTimestamp: number,
): { gaps: number[]; toConversion: number[] } {
  const order = timestamps.map((_, i) => i).sort((a, b) => timestamps[a]! - timestamps[b]!);
  const gaps: number[] = [];
  const toConversion: number[] = [];
  order.forEach((i, k) => {
    if (k > 0) gaps.push((timestamps[i]! - timestamps[order[k - 1]!]!) / 3600);
    if (closerEngaged[i] === 1) toConversion.push(Math.max(0, conversionTimestamp - timestamps[i]!) / 3600);
  });
  return { gaps, toConversion };
}

/**
 * Phase weights from outcomes: each journey's raw phase memberships summed over its sessions (initializer:
 * the first session and the ramp of each gap; holder: holder-engaged sessions; closer: the closer ramp of the
 * hours from each closer-engaged session to the end, the order or, for a path without one, its last session)
 * are the features of a penalised noisy-OR regression of "ordered or not" over converting and non-converting
 * journeys (fitNoisyOr, the incremental model's fitter). A phase weight is its coefficient over their sum:
 * how much one unit of that phase raises the chance of an order, relative to the others. Needs non-converting
 * journeys (without them nothing separates a journey that ordered from one that did not); when there are
 * fewer than the minimum, or every coefficient is 0, the base weights are kept with a note.
 */
export interface PhaseFeatures {
  readonly initializer: number;
  readonly holder: number;
  readonly closer: number;
}

export function phaseFeatures(
  timestamps: readonly number[],
  holderEngaged: readonly (0 | 1)[],
  closerEngaged: readonly (0 | 1)[],
  endTimestamp: number,
  params: Pick<IhcParams, 'initializer_ramp_hours' | 'closer_ramp_hours'>,
): PhaseFeatures {
  const order = timestamps.map((_, i) => i).sort((a, b) => timestamps[a]! - timestamps[b]!);
  let initializer = 0;
  let holder = 0;
  let closer = 0;
  order.forEach((i, k) => {
    initializer += k === 0 ? 1 : initializerMembership((timestamps[i]! - timestamps[order[k - 1]!]!) / 3600, params.initializer_ramp_hours);
    holder += holderEngaged[i] === 1 ? 1 : 0;
    if (closerEngaged[i] === 1) closer += closerMembership(Math.max(0, endTimestamp - timestamps[i]!) / 3600, params.closer_ramp_hours);
  });
  return { initializer, holder, closer };
}

/** Outcomes per distinct (rounded) feature vector: memory grows with the variety of journeys, not their number. */
export class PhaseSample {
  private readonly rows = new Map<string, { features: PhaseFeatures; conversions: number; nulls: number }>();
  converting = 0;
  nonConverting = 0;

  add(f: PhaseFeatures, converted: boolean): void {
    const r = { initializer: round2(f.initializer), holder: round2(f.holder), closer: round2(f.closer) };
    const key = `${r.initializer}|${r.holder}|${r.closer}`;
    let slot = this.rows.get(key);
    if (slot === undefined) this.rows.set(key, (slot = { features: r, conversions: 0, nulls: 0 }));
    if (converted) {
      slot.conversions++;
      this.converting++;
    } else {
      slot.nulls++;
      this.nonConverting++;
    }
  }

  featureRows(): FeatureRow[] {
    return [...this.rows.values()].map((r) => ({
      features: new Map([
        ['initializer', r.features.initializer],
        ['holder', r.features.holder],
        ['closer', r.features.closer],
      ]),
      conversions: r.conversions,
      nulls: r.nulls,
    }));
  }
}

export interface PhaseWeightFit {
  readonly weights: IhcParams['weights'];
  /** the noisy-OR coefficients behind the weights (null when the base weights were kept) */
  readonly coefficients: PhaseFeatures | null;
  readonly notes: readonly string[];
}

export function fitPhaseWeights(sample: PhaseSample, base: IhcParams['weights'], opts: { minSamples: number; l2: number }): PhaseWeightFit {
  if (sample.nonConverting < opts.minSamples || sample.converting < opts.minSamples) {
    return {
      weights: base,
      coefficients: null,
      notes: [
        `phase weights kept from the base set: ${sample.converting} converting and ${sample.nonConverting} non-converting journeys (need ${opts.minSamples} of each; build-journeys builds non-converting paths when journeys.non_converting.build is on)`,
      ],
    };
  }
  const fit = fitNoisyOr(sample.featureRows(), opts.l2);
  const c = {
    initializer: fit.coefficients.get('initializer') ?? 0,
    holder: fit.coefficients.get('holder') ?? 0,
    closer: fit.coefficients.get('closer') ?? 0,
  };
  const sum = c.initializer + c.holder + c.closer;
  if (!(sum > 0)) return { weights: base, coefficients: c, notes: ['no phase raises the chance of an order in these journeys; phase weights kept from the base set'] };
  const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;
  return { weights: { initializer: r4(c.initializer / sum), holder: r4(c.holder / sum), closer: r4(c.closer / sum) }, coefficients: c, notes: [] };
}
