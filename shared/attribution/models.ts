import * as E from 'fp-ts/lib/Either.js';
import type { AttributionError } from './errors.js';
import { AttributionInputError } from './errors.js';
import { firstTouch, lastNonDirect, lastTouch, linear, positionBased, timeDecay } from './heuristics.js';
import { ihcCredits } from './ihc.js';
import { assertJourney, chronologicalOrder, conversionTime, journeyProblem } from './journey.js';
import type { MarkovFit } from './markov.js';
import { fitMarkov } from './markov.js';
import type { IhcParams, ModelsConfig } from './params.js';
import type { PathCount } from './paths.js';
import { pathsFromJourneys } from './paths.js';
import type { IncrementalFit } from './incremental.js';
import { creditIncrementalPath, fitIncremental } from './incremental.js';
import type { ShapleyFit } from './shapley.js';
import { fitShapley } from './shapley.js';
import type { Journey, ModelName } from './types.js';

/**
 * One entry point for every model. All models answer the same question: per-session credit summing to 1 per
 * conversion. Global models (markov, shapley) need two passes that never hold all journeys:
 *   1. `fitModel(name, cfg, paths)` over aggregated path counts (distinct paths: bounded by data variety);
 *   2. `creditJourney(fitted, journey)` per journey, spreading the fitted channel weights (rule below).
 * The other models ignore the paths of step 1 (pass []).
 *
 * Spreading rule for global models: within a journey, each distinct channel gets a part of the conversion
 * proportional to its global weight (Markov: removal effect; Shapley: attributed conversions), and that part
 * is split equally among the channel's sessions in the journey. When no channel of the journey has a positive
 * weight (all unknown to the fit, or all 0), the journey is credited linearly.
 */

export type HeuristicModel = Exclude<ModelName, 'ihc' | 'markov' | 'shapley' | 'incremental'>;

export type Fitted =
  | { readonly model: 'ihc'; readonly params: IhcParams }
  | {
      readonly model: HeuristicModel;
      readonly cfg: ModelsConfig;
      readonly direct: ReadonlySet<string>;
      readonly pathHalfLifeSteps: number;
    }
  | { readonly model: 'markov'; readonly fit: MarkovFit; readonly weights: ReadonlyMap<string, number> }
  | { readonly model: 'shapley'; readonly fit: ShapleyFit; readonly weights: ReadonlyMap<string, number> }
  | { readonly model: 'incremental'; readonly fit: IncrementalFit; readonly maxChannels: number };

export interface FitOptions {
  /** IHC parameter set to use (default: cfg.default_conversion_type) */
  readonly conversionType?: string;
  /**
   * time decay over aggregated paths, which carry no timestamps: the k-th touch from the end is k steps
   * before the conversion, with this half-life in steps (default 1: each earlier touch counts half)
   */
  readonly timeDecayHalfLifeSteps?: number;
}

export interface ChannelCredit {
  conversions: number;
  value: number;
}

export const GLOBAL_MODELS: readonly ModelName[] = ['markov', 'shapley', 'incremental'];

export function isGlobalModel(name: ModelName): boolean {
  return name === 'markov' || name === 'shapley' || name === 'incremental';
}

export function ihcParamsFor(cfg: ModelsConfig, conversionType?: string): E.Either<AttributionError, IhcParams> {
  const name = conversionType ?? cfg.default_conversion_type;
  const p = Object.prototype.hasOwnProperty.call(cfg.conversion_types, name) ? cfg.conversion_types[name] : undefined;
  return p === undefined
    ? E.left({ _tag: 'UnknownConversionType', name, known: Object.keys(cfg.conversion_types) })
    : E.right(p);
}

export function fitModel(
  name: ModelName,
  cfg: ModelsConfig,
  paths: Iterable<PathCount>,
  opts: FitOptions = {},
): E.Either<AttributionError, Fitted> {
  switch (name) {
    case 'ihc':
      return E.map((params: IhcParams): Fitted => ({ model: 'ihc', params }))(ihcParamsFor(cfg, opts.conversionType));
    case 'markov': {
      const fit = fitMarkov(paths, { order: cfg.markov.order, collapseRepeats: cfg.markov.collapse_repeats });
      return E.right({ model: 'markov', fit, weights: fit.removalEffects });
    }
    case 'shapley': {
      const fit = fitShapley(paths, { maxChannels: cfg.shapley.max_channels });
      return E.right({ model: 'shapley', fit, weights: fit.conversions });
    }
    case 'incremental': {
      const fit = fitIncremental(paths, { l2: cfg.incremental.l2, maxChannels: cfg.shapley.max_channels });
      return E.right({ model: 'incremental', fit, maxChannels: cfg.shapley.max_channels });
    }
    case 'first_touch':
    case 'last_touch':
    case 'last_non_direct':
    case 'linear':
    case 'time_decay':
    case 'position_based': {
      const steps = opts.timeDecayHalfLifeSteps ?? 1;
      if (!(steps > 0) || !Number.isFinite(steps)) {
        return E.left({ _tag: 'InvalidPaths', reason: `time decay half-life in steps must be > 0, got ${steps}` });
      }
      return E.right({ model: name, cfg, direct: new Set(cfg.direct_channels), pathHalfLifeSteps: steps });
    }
    default:
      return E.left({ _tag: 'UnknownModel', model: String(name) });
  }
}

/** Fits over stored journeys (each one conversion, revenue as value); pass 1 of a two-pass run. */
export function fitModelOnJourneys(
  name: ModelName,
  cfg: ModelsConfig,
  journeys: Iterable<Journey>,
  opts: FitOptions = {},
): E.Either<AttributionError, Fitted> {
  return fitModel(name, cfg, isGlobalModel(name) ? pathsFromJourneys(journeys) : [], opts);
}

function spread(channels: ArrayLike<string>, weights: ReadonlyMap<string, number>, out: Float64Array): Float64Array {
  const n = channels.length;
  const count = new Map<string, number>();
  for (let i = 0; i < n; i++) count.set(channels[i]!, (count.get(channels[i]!) ?? 0) + 1);
  let total = 0;
  for (const c of count.keys()) {
    const w = weights.get(c) ?? 0;
    if (w > 0 && Number.isFinite(w)) total += w;
  }
  if (!(total > 0)) return linear(n, out);
  for (let i = 0; i < n; i++) {
    const c = channels[i]!;
    const w = weights.get(c) ?? 0;
    out[i] = w > 0 && Number.isFinite(w) ? w / total / count.get(c)! : 0;
  }
  return out;
}

/** Credit per touch of a path (channels in journey order), for every model that needs no timestamps. */
export function creditPath(fitted: Fitted, channels: readonly string[], out = new Float64Array(channels.length)): Float64Array {
  const n = channels.length;
  if (n === 0) throw new AttributionInputError({ _tag: 'InvalidPaths', reason: 'a path has no channel' });
  switch (fitted.model) {
    case 'ihc':
      throw new AttributionInputError({ _tag: 'NeedsTimestamps', model: 'ihc' });
    case 'markov':
    case 'shapley':
      return spread(channels, fitted.weights, out);
    case 'incremental':
      return creditIncrementalPath(fitted.fit, channels, fitted.maxChannels, out);
    case 'first_touch':
      return firstTouch(n, out);
    case 'last_touch':
      return lastTouch(n, out);
    case 'last_non_direct':
      return lastNonDirect(channels, fitted.direct, out);
    case 'linear':
      return linear(n, out);
    case 'position_based':
      return positionBased(n, fitted.cfg.position_based, out);
    case 'time_decay': {
      const steps = new Float64Array(n);
      for (let i = 0; i < n; i++) steps[i] = n - 1 - i;
      return timeDecay(steps, fitted.pathHalfLifeSteps, out);
    }
  }
}

// hours before conversion, reused across calls (the engine is synchronous and never re-entered)
let beforeScratch = new Float64Array(64);

function channelsInOrder(sessions: Journey['sessions'], order: Int32Array | null): string[] {
  const n = sessions.length;
  const channels = new Array<string>(n);
  for (let k = 0; k < n; k++) channels[k] = sessions[order === null ? k : order[k]!]!.channel;
  return channels;
}

/**
 * Per-session credit of one journey under a fitted model, aligned with `journey.sessions`, summing to 1.
 * Sessions are taken in journey order (timestamp, then sessionId) whatever their order in the array.
 * Throws AttributionInputError for a journey with no session or non-finite times (see `tryCreditJourney`).
 */
export function creditJourney(fitted: Fitted, journey: Journey): Float64Array {
  if (fitted.model === 'ihc') return ihcCredits(journey, fitted.params);
  assertJourney(journey);
  const sessions = journey.sessions;
  const n = sessions.length;
  const out = new Float64Array(n);
  // the heuristics only need positions, so the common single-session case is answered at once
  if (n === 1) {
    out[0] = 1;
    return out;
  }
  const order = chronologicalOrder(sessions);
  const at = (k: number): number => (order === null ? k : order[k]!);
  const work = order === null ? out : new Float64Array(n);
  switch (fitted.model) {
    case 'first_touch':
      firstTouch(n, work);
      break;
    case 'last_touch':
      lastTouch(n, work);
      break;
    case 'linear':
      linear(n, work);
      break;
    case 'position_based':
      positionBased(n, fitted.cfg.position_based, work);
      break;
    case 'time_decay': {
      const convT = conversionTime(journey);
      if (beforeScratch.length < n) beforeScratch = new Float64Array(2 * n);
      const before = n === beforeScratch.length ? beforeScratch : beforeScratch.subarray(0, n);
      for (let k = 0; k < n; k++) before[k] = (convT - sessions[at(k)]!.timestamp) / 3600;
      timeDecay(before, fitted.cfg.time_decay_half_life_hours, work);
      break;
    }
    case 'last_non_direct': {
      // the rule of heuristics.lastNonDirect, without building the channel list (work is zero-filled)
      let k = n - 1;
      while (k >= 0 && fitted.direct.has(sessions[at(k)]!.channel)) k--;
      work[k < 0 ? n - 1 : k] = 1;
      break;
    }
    case 'markov':
    case 'shapley':
      spread(channelsInOrder(sessions, order), fitted.weights, work);
      break;
    case 'incremental':
      creditIncrementalPath(fitted.fit, channelsInOrder(sessions, order), fitted.maxChannels, work);
      break;
  }
  if (order !== null) for (let k = 0; k < n; k++) out[order[k]!] = work[k]!;
  return out;
}

export function tryCreditJourney(fitted: Fitted, journey: Journey): E.Either<AttributionError, Float64Array> {
  const p = journeyProblem(journey);
  return p === undefined ? E.right(creditJourney(fitted, journey)) : E.left(p);
}

export type JourneyCredit =
  | { readonly journey: Journey; readonly credits: Float64Array }
  | { readonly journey: Journey; readonly error: AttributionError };

/** Pass 2 over stored journeys: per-session credits, degenerate journeys reported as values. */
export function* creditJourneys(fitted: Fitted, journeys: Iterable<Journey>): Generator<JourneyCredit> {
  for (const journey of journeys) {
    const p = journeyProblem(journey);
    yield p === undefined ? { journey, credits: creditJourney(fitted, journey) } : { journey, error: p };
  }
}

/**
 * Per-channel attributed conversions and value over aggregated paths (`paths` is read twice for heuristic
 * models: pass an array). Global models report their global figures (Markov: share x total; Shapley: the
 * Shapley value); the other models sum per-path credit x the path's conversions (value). Every channel seen in
 * a path appears, with 0 when it earned nothing. The IHC-style model needs timestamps and is refused.
 */
export function attributePaths(
  name: ModelName,
  cfg: ModelsConfig,
  paths: readonly PathCount[],
  opts: FitOptions = {},
): E.Either<AttributionError, Map<string, ChannelCredit>> {
  if (name === 'ihc') return E.left({ _tag: 'NeedsTimestamps', model: name });
  const fitted = fitModel(name, cfg, isGlobalModel(name) ? paths : [], opts);
  if (E.isLeft(fitted)) return fitted;
  const f = fitted.right;
  const out = new Map<string, ChannelCredit>();
  const slot = (c: string): ChannelCredit => {
    let s = out.get(c);
    if (s === undefined) {
      s = { conversions: 0, value: 0 };
      out.set(c, s);
    }
    return s;
  };
  for (const p of paths) for (const c of p.channels) slot(c);
  if (f.model === 'markov') {
    for (const [c, share] of f.fit.shares) {
      const s = slot(c);
      s.conversions = share * f.fit.totalConversions;
      s.value = share * f.fit.totalValue;
    }
    return E.right(out);
  }
  if (f.model === 'shapley' || f.model === 'incremental') {
    for (const [c, v] of f.fit.conversions) slot(c).conversions = v;
    for (const [c, v] of f.fit.value) slot(c).value = v;
    return E.right(out);
  }
  let buf = new Float64Array(16);
  for (const p of paths) {
    const n = p.channels.length;
    if (n === 0 || (!(p.conversions > 0) && !(p.value > 0))) continue;
    if (buf.length < n) buf = new Float64Array(n * 2);
    const credit = creditPath(f, p.channels, buf.subarray(0, n));
    for (let i = 0; i < n; i++) {
      const s = slot(p.channels[i]!);
      s.conversions += credit[i]! * p.conversions;
      s.value += credit[i]! * p.value;
    }
  }
  return E.right(out);
}
