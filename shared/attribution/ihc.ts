import * as E from 'fp-ts/lib/Either.js';
import type { AttributionError } from './errors.js';
import { assertJourney, chronologicalOrder, conversionTime, journeyProblem } from './journey.js';
import type { IhcParams } from './params.js';
import { redistributePhase } from './redistribution.js';
import type { IhcSessionResult, Journey, PhaseScores } from './types.js';

/**
 * IHC-style attribution: the structure of the IHC model (initializer, holder, closer phases, each normalised
 * within the journey, combined with phase weights) with documented, configurable membership functions.
 * It approximates the vendor's trained model; it does not reproduce it. See docs/attribution-engine.md.
 */

const HOUR = 3600;

export type Weights = IhcParams['weights'];

/** 0 at or below `start` hours since the previous session, 1 at or above `end`, linear between (a step at `start` when end <= start). */
export function initializerMembership(gapHours: number, ramp: IhcParams['initializer_ramp_hours']): number {
  const { start, end } = ramp;
  if (!(end > start)) return gapHours >= start ? 1 : 0;
  if (gapHours <= start) return 0;
  if (gapHours >= end) return 1;
  return (gapHours - start) / (end - start);
}

/** 1 at or below `full` hours before the conversion, 0 at or above `zero`, linear between (a step at `full` when zero <= full). */
export function closerMembership(hoursBefore: number, ramp: IhcParams['closer_ramp_hours']): number {
  const { full, zero } = ramp;
  if (!(zero > full)) return hoursBefore <= full ? 1 : 0;
  if (hoursBefore <= full) return 1;
  if (hoursBefore >= zero) return 0;
  return (zero - hoursBefore) / (zero - full);
}

/**
 * The phase weights actually applied, given which phases have any eligible session (sum > 0).
 * Rule: the weight of a phase with no eligible session is shared among the eligible phases in proportion to
 * their own weights (equivalently: the eligible phases' weights are rescaled to sum to 1), so credit still
 * sums to 1. When every eligible phase has weight 0 they share equally. Returns null when no phase is eligible.
 */
export function effectiveWeights(hasInit: boolean, hasHold: boolean, hasClose: boolean, w: Weights): Weights | null {
  const wi = hasInit ? w.initializer : 0;
  const wh = hasHold ? w.holder : 0;
  const wc = hasClose ? w.closer : 0;
  const total = wi + wh + wc;
  if (total > 0 && Number.isFinite(total)) return { initializer: wi / total, holder: wh / total, closer: wc / total };
  const k = (hasInit ? 1 : 0) + (hasHold ? 1 : 0) + (hasClose ? 1 : 0);
  if (k === 0) return null;
  return { initializer: hasInit ? 1 / k : 0, holder: hasHold ? 1 / k : 0, closer: hasClose ? 1 / k : 0 };
}

/**
 * ihc = wI*initializer + wH*holder + wC*closer per session, with the phase-weight sharing rule of
 * `effectiveWeights`. The phases are expected to be normalised (each sums to 1 or to 0 over the journey).
 * When no phase has an eligible session, every session gets 1/n (documented fallback).
 */
export function combinePhases(phases: readonly PhaseScores[], weights: Weights): number[] {
  let si = 0;
  let sh = 0;
  let sc = 0;
  for (const p of phases) {
    si += p.initializer;
    sh += p.holder;
    sc += p.closer;
  }
  const w = effectiveWeights(si > 0, sh > 0, sc > 0, weights);
  if (w === null) return phases.map(() => 1 / phases.length);
  return phases.map((p) => w.initializer * p.initializer + w.holder * p.holder + w.closer * p.closer);
}

function normalise(a: Float64Array, n: number): boolean {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i]!;
  if (!(s > 0) || !Number.isFinite(s)) {
    a.fill(0, 0, n);
    return false;
  }
  for (let i = 0; i < n; i++) a[i] = a[i]! / s;
  return true;
}

/**
 * The engine's fast path: phase scores and ihc for every session, aligned with `journey.sessions`, in one
 * Float64Array laid out as [initializer x n, holder x n, closer x n, ihc x n]. Throws AttributionInputError
 * for a journey with no session or non-finite times (validate at the boundary with `validateJourney`).
 */
export function ihcScores(journey: Journey, params: IhcParams): Float64Array {
  assertJourney(journey);
  const sessions = journey.sessions;
  const n = sessions.length;
  const order = chronologicalOrder(sessions);
  const at = (k: number): number => (order === null ? k : order[k]!);
  const ini = new Float64Array(n);
  const hol = new Float64Array(n);
  const clo = new Float64Array(n);
  const convT = conversionTime(journey);
  const cwI = params.channel_weights.initializer;
  const cwH = params.channel_weights.holder;
  const cwC = params.channel_weights.closer;
  const iRamp = params.initializer_ramp_hours;
  const cRamp = params.closer_ramp_hours;
  let prevT = 0;
  for (let k = 0; k < n; k++) {
    const s = sessions[at(k)]!;
    const ch = s.channel;
    let m = k === 0 ? 1 : initializerMembership((s.timestamp - prevT) / HOUR, iRamp);
    if (cwI !== undefined && m > 0) m *= cwI[ch] ?? 1;
    ini[k] = m;
    let h: number = s.holderEngagement === 1 ? 1 : 0;
    if (cwH !== undefined && h > 0) h *= cwH[ch] ?? 1;
    hol[k] = h;
    let c = 0;
    if (s.closerEngagement === 1) {
      const before = convT - s.timestamp;
      c = closerMembership(before > 0 ? before / HOUR : 0, cRamp);
      if (cwC !== undefined && c > 0) c *= cwC[ch] ?? 1;
    }
    clo[k] = c;
    prevT = s.timestamp;
  }
  const hasI = normalise(ini, n);
  const hasH = normalise(hol, n);
  const hasC = normalise(clo, n);
  let fi: Float64Array = ini;
  let fh: Float64Array = hol;
  let fc: Float64Array = clo;
  const red = params.redistribution;
  if (red !== null && n > 1) {
    const channels: string[] = new Array<string>(n);
    for (let k = 0; k < n; k++) channels[k] = sessions[at(k)]!.channel;
    if (red.initializer !== undefined) fi = redistributePhase(ini, channels, red.initializer);
    if (red.holder !== undefined) fh = redistributePhase(hol, channels, red.holder);
    if (red.closer !== undefined) fc = redistributePhase(clo, channels, red.closer);
  }
  const out = new Float64Array(4 * n);
  const w = effectiveWeights(hasI, hasH, hasC, params.weights);
  for (let k = 0; k < n; k++) {
    const j = at(k);
    const a = fi[k]!;
    const b = fh[k]!;
    const c = fc[k]!;
    out[j] = a;
    out[n + j] = b;
    out[2 * n + j] = c;
    out[3 * n + j] = w === null ? 1 / n : w.initializer * a + w.holder * b + w.closer * c;
  }
  // a lone session holds all the credit, exactly (rescaled weights may sum to 1 +- 1 ulp)
  if (n === 1) out[3] = 1;
  return out;
}

/** Per-session ihc credit only (sums to 1), aligned with `journey.sessions`. */
export function ihcCredits(journey: Journey, params: IhcParams): Float64Array {
  const n = journey.sessions.length;
  return ihcScores(journey, params).subarray(3 * n);
}

/**
 * The IHC answer for one journey, aligned with `journey.sessions`: the same fields as the IHC API's `value`
 * items. Throws AttributionInputError on a journey with no session (see `tryComputeIhc`).
 */
export function computeIhc(journey: Journey, params: IhcParams): IhcSessionResult[] {
  const scores = ihcScores(journey, params);
  const n = journey.sessions.length;
  const res = new Array<IhcSessionResult>(n);
  for (let i = 0; i < n; i++) {
    res[i] = {
      conversionId: journey.conversionId,
      sessionId: journey.sessions[i]!.sessionId,
      initializer: scores[i]!,
      holder: scores[n + i]!,
      closer: scores[2 * n + i]!,
      ihc: scores[3 * n + i]!,
    };
  }
  return res;
}

/** `computeIhc` with degenerate input as a value, for edges that take journeys from outside. */
export function tryComputeIhc(journey: Journey, params: IhcParams): E.Either<AttributionError, IhcSessionResult[]> {
  const p = journeyProblem(journey);
  return p === undefined ? E.right(computeIhc(journey, params)) : E.left(p);
}
