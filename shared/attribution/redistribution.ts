import type { Direction, PhaseRedistribution } from './params.js';

/**
 * The IHC `redistribution_parameter` contract (docs/design.md, "The IHC API contract"), for one phase of one journey.
 *
 * Rule, applied to every phase independently:
 * - sources: sessions whose channel is one of `redistribution_channel_labels`;
 * - receivers of a source: the other sessions in `direction` (earlier_sessions_only: before it in journey order;
 *   later_sessions_only: after it; any_session: all) that are not sources themselves and already hold more
 *   than 0 and at least `receive_threshold` of that phase;
 * - the source's phase credit moves to its receivers in proportion to what they already hold of the phase
 *   (proportions taken from the values before any move, so the result does not depend on processing order);
 * - a source with no receiver keeps its credit, so the phase still sums to what it summed to before.
 *
 * `values` and `channels` are in journey order. Runs in O(n) with prefix sums.
 */
export function redistributePhase(
  values: ArrayLike<number>,
  channels: ArrayLike<string>,
  rule: PhaseRedistribution,
  out: Float64Array = new Float64Array(values.length),
): Float64Array {
  const n = values.length;
  const labels = rule.redistribution_channel_labels;
  for (let i = 0; i < n; i++) out[i] = values[i]!;
  if (labels.length === 0 || n < 2) return out;
  const isSource = new Uint8Array(n);
  let anySource = false;
  for (let i = 0; i < n; i++) {
    if (labels.includes(channels[i]!)) {
      isSource[i] = 1;
      anySource = true;
    }
  }
  if (!anySource) return out;
  const thr = rule.receive_threshold;
  const receives = (i: number): boolean => isSource[i] === 0 && values[i]! > 0 && values[i]! >= thr;
  // receiver credit strictly before / after i, each summed directly (a difference of prefix sums would lose
  // small holdings next to large ones)
  const before = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) before[i + 1] = before[i]! + (receives(i) ? values[i]! : 0);
  const after = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) after[i] = after[i + 1]! + (receives(i) ? values[i]! : 0);
  const total = before[n]!;
  // factor[i] = credit moved per unit held, from source i (0 when it keeps its credit)
  const factor = new Float64Array(n);
  const pools = new Float64Array(n);
  let finite = true;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (isSource[i] === 0 || !(v > 0)) continue;
    const pool = poolFor(rule.direction, before[i]!, after[i + 1]!, total);
    if (pool > 0) {
      pools[i] = pool;
      factor[i] = v / pool;
      if (!Number.isFinite(factor[i]!)) finite = false;
      out[i] = 0;
    }
  }
  if (finite) addReceived(rule.direction, values, factor, receives, out);
  else addReceivedDirect(rule.direction, values, pools, receives, out);
  return out;
}

/**
 * O(n x sources) version for receivers holding subnormal amounts, where credit / pool overflows: the share
 * x_j / pool is at most 1, so computing it first stays finite.
 */
function addReceivedDirect(
  direction: Direction,
  values: ArrayLike<number>,
  pools: Float64Array,
  receives: (i: number) => boolean,
  out: Float64Array,
): void {
  const n = values.length;
  for (let s = 0; s < n; s++) {
    const pool = pools[s]!;
    if (!(pool > 0)) continue;
    const lo = direction === 'later_sessions_only' ? s + 1 : 0;
    const hi = direction === 'earlier_sessions_only' ? s : n;
    for (let j = lo; j < hi; j++) if (j !== s && receives(j)) out[j] = out[j]! + values[s]! * (values[j]! / pool);
  }
}

function poolFor(direction: Direction, earlier: number, later: number, all: number): number {
  switch (direction) {
    case 'earlier_sessions_only':
      return earlier;
    case 'later_sessions_only':
      return later;
    case 'any_session':
      return all;
  }
}

function addReceived(
  direction: Direction,
  values: ArrayLike<number>,
  factor: Float64Array,
  receives: (i: number) => boolean,
  out: Float64Array,
): void {
  const n = values.length;
  if (direction === 'earlier_sessions_only') {
    // a receiver gets from the sources after it
    let f = 0;
    for (let i = n - 1; i >= 0; i--) {
      if (receives(i)) out[i] = out[i]! + values[i]! * f;
      f += factor[i]!;
    }
  } else if (direction === 'later_sessions_only') {
    let f = 0;
    for (let i = 0; i < n; i++) {
      if (receives(i)) out[i] = out[i]! + values[i]! * f;
      f += factor[i]!;
    }
  } else {
    let f = 0;
    for (let i = 0; i < n; i++) f += factor[i]!;
    for (let i = 0; i < n; i++) if (receives(i)) out[i] = out[i]! + values[i]! * f;
  }
}
