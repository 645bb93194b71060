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
 * - phase weights, channel weights and redistribution are kept from the base set: they would need outcome data
 *   (incrementality experiments) that journeys alone do not carry.
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
