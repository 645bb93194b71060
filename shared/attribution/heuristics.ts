import type { ModelsConfig } from './params.js';

/**
 * Rule-based models. Each fills `out[0..n)` with credit per touch, touches in journey order (earliest first),
 * summing to 1. Inputs are assumed non-empty (the callers check).
 */

export function firstTouch(n: number, out: Float64Array): Float64Array {
  out.fill(0, 0, n);
  out[0] = 1;
  return out;
}

export function lastTouch(n: number, out: Float64Array): Float64Array {
  out.fill(0, 0, n);
  out[n - 1] = 1;
  return out;
}

/** The last touch whose channel is not direct; when every touch is direct, the last touch (documented fallback). */
export function lastNonDirect(channels: ArrayLike<string>, direct: ReadonlySet<string>, out: Float64Array): Float64Array {
  const n = channels.length;
  out.fill(0, 0, n);
  let k = n - 1;
  while (k >= 0 && direct.has(channels[k]!)) k--;
  out[k < 0 ? n - 1 : k] = 1;
  return out;
}

export function linear(n: number, out: Float64Array): Float64Array {
  out.fill(1 / n, 0, n);
  return out;
}

/**
 * weight = 2^(-t / halfLife), t = time before the conversion (hours for journeys, steps for aggregated paths).
 * Computed relative to the nearest touch so that huge gaps underflow only the far touches, never all of them.
 */
export function timeDecay(before: ArrayLike<number>, halfLife: number, out: Float64Array): Float64Array {
  const n = before.length;
  let nearest = Infinity;
  for (let i = 0; i < n; i++) {
    const t = before[i]! > 0 ? before[i]! : 0;
    if (t < nearest) nearest = t;
  }
  let s = 0;
  for (let i = 0; i < n; i++) {
    const t = before[i]! > 0 ? before[i]! : 0;
    const w = Math.pow(2, -(t - nearest) / halfLife);
    out[i] = w;
    s += w;
  }
  // s >= 1: the nearest touch has weight exactly 1
  for (let i = 0; i < n; i++) out[i] = out[i]! / s;
  return out;
}

/**
 * Position-based (U-shaped). Shares are rescaled to sum to 1; all-zero shares mean linear.
 * - 1 touch: it gets everything;
 * - 2 touches: first and last share in the ratio first:last (0.5/0.5 with 40/20/40; the middle share has no
 *   touch to go to, so it is split like the ends); equal halves when both ends are 0;
 * - 3+ touches: first and last get their shares, the middle share is split equally among the middle touches.
 */
export function positionBased(n: number, shares: ModelsConfig['position_based'], out: Float64Array): Float64Array {
  const total = shares.first + shares.middle + shares.last;
  if (!(total > 0)) return linear(n, out);
  if (n === 1) {
    out[0] = 1;
    return out;
  }
  if (n === 2) {
    const ends = shares.first + shares.last;
    out[0] = ends > 0 ? shares.first / ends : 0.5;
    out[1] = ends > 0 ? shares.last / ends : 0.5;
    return out;
  }
  const mid = shares.middle / total / (n - 2);
  out.fill(mid, 1, n - 1);
  out[0] = shares.first / total;
  out[n - 1] = shares.last / total;
  return out;
}
