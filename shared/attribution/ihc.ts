import * as E from 'fp-ts/lib/Either.js';
import type { AttributionError } from './errors.js';
import { assertJourney, chronologicalOrder, conversionTime, journeyProblem } from './journey.js';
import type { IhcParams } from './params.js';
import { redistributePhase } from './redistribution.js';
import type { IhcSessionResult, Journey } from './types.js';

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

function normalise(a: Float64Array, off: number, n: number): boolean {
  let s = 0;
  for (let i = off; i < off + n; i++) s += a[i]!;
  if (!(s > 0) || !Number.isFinite(s)) {
    a.fill(0, off, off + n);
    return false;
  }
  for (let i = off; i < off + n; i++) a[i] = a[i]! / s;
  return true;
}

// Scratch space for the phase memberships, reused across calls (the engine is synchronous and never
// re-entered), so that attributing a journey allocates only its answer.
let scratch = new Float64Array(3 * 64);

/**
 * Computes the journey's phases and ihc. Writes ihc to `ihcOut[0..n)` and, when `phasesOut` is given, the
 * three phases to `phasesOut[0..3n)` (initializer x n, holder x n, closer x n); both aligned with
 * `journey.sessions`. The journey must be valid.
 */
function ihcInto(journey: Journey, params: IhcParams, phasesOut: Float64Array | null, ihcOut: Float64Array, ihcOff: number): void {
  const sessions = journey.sessions;
  const n = sessions.length;
  const order = chronologicalOrder(sessions);
  if (scratch.length < 3 * n) scratch = new Float64Array(3 * n * 2);
  // initializer at [0, n), holder at [n, 2n), closer at [2n, 3n)
  let ph = scratch;
  const convT = conversionTime(journey);
  const cwI = params.channel_weights.initializer;
  const cwH = params.channel_weights.holder;
  const cwC = params.channel_weights.closer;
  const iRamp = params.initializer_ramp_hours;
  const cRamp = params.closer_ramp_hours;
  let prevT = 0;
  for (let k = 0; k < n; k++) {
    const s = sessions[order === null ? k : order[k]!]!;
    const ch = s.channel;
    let m = k === 0 ? 1 : initializerMembership((s.timestamp - prevT) / HOUR, iRamp);
    if (cwI !== undefined && m > 0) m *= cwI[ch] ?? 1;
    ph[k] = m;
    let h: number = s.holderEngagement === 1 ? 1 : 0;
    if (cwH !== undefined && h > 0) h *= cwH[ch] ?? 1;
    ph[n + k] = h;
    let c = 0;
    if (s.closerEngagement === 1) {
      const before = convT - s.timestamp;
      c = closerMembership(before > 0 ? before / HOUR : 0, cRamp);
      if (cwC !== undefined && c > 0) c *= cwC[ch] ?? 1;
    }
    ph[2 * n + k] = c;
    prevT = s.timestamp;
  }
  const hasI = normalise(ph, 0, n);
  const hasH = normalise(ph, n, n);
  const hasC = normalise(ph, 2 * n, n);
  const red = params.redistribution;
  if (red !== null && n > 1) {
    const channels: string[] = new Array<string>(n);
    for (let k = 0; k < n; k++) channels[k] = sessions[order === null ? k : order[k]!]!.channel;
    const moved = ph.slice(0, 3 * n);
    if (red.initializer !== undefined) moved.set(redistributePhase(ph.subarray(0, n), channels, red.initializer), 0);
    if (red.holder !== undefined) moved.set(redistributePhase(ph.subarray(n, 2 * n), channels, red.holder), n);
    if (red.closer !== undefined) moved.set(redistributePhase(ph.subarray(2 * n, 3 * n), channels, red.closer), 2 * n);
    ph = moved;
  }
  // one call per journey, not per session: the hot loop below only multiplies
  const e = effectiveWeights(hasI, hasH, hasC, params.weights);
  const equal = e === null;
  const wi = e?.initializer ?? 0;
  const wh = e?.holder ?? 0;
  const wc = e?.closer ?? 0;
  for (let k = 0; k < n; k++) {
    const j = order === null ? k : order[k]!;
    const a = ph[k]!;
    const b = ph[n + k]!;
    const c = ph[2 * n + k]!;
    if (phasesOut !== null) {
      phasesOut[j] = a;
      phasesOut[n + j] = b;
      phasesOut[2 * n + j] = c;
    }
    ihcOut[ihcOff + j] = equal ? 1 / n : wi * a + wh * b + wc * c;
  }
  // a lone session holds all the credit, exactly (rescaled weights may sum to 1 +- 1 ulp)
  if (n === 1) ihcOut[ihcOff] = 1;
}

/**
 * Phase scores and ihc for every session, aligned with `journey.sessions`, in one Float64Array laid out as
 * [initializer x n, holder x n, closer x n, ihc x n]. Throws AttributionInputError for a journey with no
 * session or non-finite times (validate at the boundary with `validateJourney`).
 */
export function ihcScores(journey: Journey, params: IhcParams): Float64Array {
  assertJourney(journey);
  const n = journey.sessions.length;
  const out = new Float64Array(4 * n);
  ihcInto(journey, params, out, out, 3 * n);
  return out;
}

/** The engine's fast path: per-session ihc credit only (sums to 1), aligned with `journey.sessions`. */
export function ihcCredits(journey: Journey, params: IhcParams): Float64Array {
  assertJourney(journey);
  const out = new Float64Array(journey.sessions.length);
  ihcInto(journey, params, null, out, 0);
  return out;
}

/**
 * The IHC answer for one journey, aligned with `journey.sessions`: the same fields as the IHC API's `value`
 * items. Throws AttributionInputError on a journey with no session (see `tryComputeIhc`).
 */
export function computeIhc(journey: Journey, params: IhcParams): IhcSessionResult[] {
  const scores = ihcScores(journey, params);
  const n = journey.sessions.length;
  const res = new Array<IhcSessionResult>(n);
  // (ihcScores validated the journey)
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
