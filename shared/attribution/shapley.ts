import type { PathCount } from './paths.js';
import { internId } from './intern.js';

/**
 * Shapley value over channels, with the characteristic function of the "simplified Shapley" attribution
 * (Zhao et al. 2018): v(S) = conversions (or value) of the paths whose set of distinct channels is a subset
 * of S. Order and repeats within a path do not matter.
 *
 * With non-converting paths (any `nulls` > 0), v is the conversion rate instead: v(S) = conversions / (all
 * paths) among the paths whose channel set is a subset of S (0 when there is none), so a channel that shows
 * up as often on failed paths as on converting ones earns little. The Shapley values are then normalised to
 * shares, and a channel's conversions (value) are its share of all conversions (value). Exact up to the cap;
 * above it, the closed form of the count game below.
 *
 * Exact computation: over the n distinct channels seen in converting paths, when n <= max_channels, by the
 * definition (every coalition: v by a subset-sum transform over 2^n masks, then the weighted marginal
 * contributions), O(n 2^n) time and O(2^n) memory. Above the cap the closed form is used: this v is a sum of
 * unanimity games, so each channel receives, from every path, the path's conversions divided by the number of
 * distinct channels in it. For this v both are equal (a test checks it); the cap bounds time and memory only.
 */

export interface ShapleyFit {
  /** attributed conversions per channel */
  readonly conversions: ReadonlyMap<string, number>;
  /** attributed value per channel */
  readonly value: ReadonlyMap<string, number>;
  /** conversions normalised to sum to 1 (all 0 when nothing converts) */
  readonly shares: ReadonlyMap<string, number>;
  readonly method: 'exact' | 'closed_form';
  readonly channels: number;
}

export interface ShapleyOptions {
  readonly maxChannels: number;
  /** force the closed form (tests compare both) */
  readonly method?: 'auto' | 'closed_form';
}

export function fitShapley(paths: Iterable<PathCount>, opts: ShapleyOptions): ShapleyFit {
  const channelId = new Map<string, number>();
  const names: string[] = [];
  // distinct channel sets of converting paths, as sorted id lists keyed by string
  const sets = new Map<string, { ids: number[]; conv: number; value: number; nulls: number }>();
  let anyNulls = false;
  const all = Array.isArray(paths) ? (paths as readonly PathCount[]) : [...paths];
  for (const p of all) if (p.nulls > 0 && p.channels.length > 0) anyNulls = true;
  for (const p of all) {
    if (!(p.conversions > 0) && !(p.value > 0) && !(anyNulls && p.nulls > 0)) continue;
    const ids: number[] = [];
    for (const c of new Set(p.channels)) ids.push(internId(channelId, names, c));
    if (ids.length === 0) continue;
    ids.sort((a, b) => a - b);
    const key = ids.join(',');
    const hit = sets.get(key);
    if (hit === undefined) sets.set(key, { ids, conv: p.conversions, value: p.value, nulls: p.nulls });
    else {
      hit.conv += p.conversions;
      hit.value += p.value;
      hit.nulls += p.nulls;
    }
  }
  const n = names.length;
  const exact = opts.method !== 'closed_form' && n <= opts.maxChannels && n <= 24;
  const conv = new Float64Array(n);
  const val = new Float64Array(n);
  if (exact && anyNulls) {
    rateShapley([...sets.values()], n, conv, val);
  } else if (exact) {
    const size = 1 << n;
    const vc = new Float64Array(size);
    const vv = new Float64Array(size);
    for (const s of sets.values()) {
      let mask = 0;
      for (const id of s.ids) mask |= 1 << id;
      vc[mask] = vc[mask]! + s.conv;
      vv[mask] = vv[mask]! + s.value;
    }
    subsetSums(vc, n);
    subsetSums(vv, n);
    const w = coalitionWeights(n);
    for (let m = 0; m < size; m++) {
      const ws = w[popcount(m)];
      for (let i = 0; i < n; i++) {
        const bit = 1 << i;
        if (m & bit) continue;
        const dc = vc[m | bit]! - vc[m]!;
        const dv = vv[m | bit]! - vv[m]!;
        if (dc !== 0) conv[i] = conv[i]! + ws! * dc;
        if (dv !== 0) val[i] = val[i]! + ws! * dv;
      }
    }
  } else {
    for (const s of sets.values()) {
      const k = s.ids.length;
      for (const id of s.ids) {
        conv[id] = conv[id]! + s.conv / k;
        val[id] = val[id]! + s.value / k;
      }
    }
  }
  let total = 0;
  for (let i = 0; i < n; i++) {
    // round-off in the exact sum can leave -1e-16 for a channel that never converts
    if (conv[i]! < 0) conv[i] = 0;
    if (val[i]! < 0) val[i] = 0;
    total += conv[i]!;
  }
  const conversions = new Map<string, number>();
  const value = new Map<string, number>();
  const shares = new Map<string, number>();
  names.forEach((name, i) => {
    conversions.set(name, conv[i]!);
    value.set(name, val[i]!);
    shares.set(name, total > 0 ? conv[i]! / total : 0);
  });
  return { conversions, value, shares, method: exact ? 'exact' : 'closed_form', channels: n };
}

/** subset-sum (zeta) transform in place: v[S] = sum over T subset of S */
function subsetSums(v: Float64Array, n: number): void {
  const size = 1 << n;
  for (let b = 0; b < n; b++) {
    const bit = 1 << b;
    for (let m = 0; m < size; m++) if (m & bit) v[m] = v[m]! + v[m ^ bit]!;
  }
}

/** weight of a coalition of size s not containing a given player, among n players: s! (n-s-1)! / n! */
function coalitionWeights(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    let c = 1; // C(n-1, s)
    for (let j = 1; j <= s; j++) c = (c * (n - s - 1 + j)) / j;
    w[s] = 1 / (n * c);
  }
  return w;
}

/** The conversion-rate game (see the module comment), exact; fills conv and val with attributed figures. */
function rateShapley(
  sets: readonly { ids: number[]; conv: number; value: number; nulls: number }[],
  n: number,
  conv: Float64Array,
  val: Float64Array,
): void {
  const size = 1 << n;
  const c = new Float64Array(size);
  const all = new Float64Array(size);
  let totalConv = 0;
  let totalVal = 0;
  for (const s of sets) {
    let mask = 0;
    for (const id of s.ids) mask |= 1 << id;
    c[mask] = c[mask]! + s.conv;
    all[mask] = all[mask]! + s.conv + s.nulls;
    totalConv += s.conv;
    totalVal += s.value;
  }
  subsetSums(c, n);
  subsetSums(all, n);
  const v = new Float64Array(size);
  for (let m = 0; m < size; m++) v[m] = all[m]! > 0 ? c[m]! / all[m]! : 0;
  const w = coalitionWeights(n);
  const phi = new Float64Array(n);
  for (let m = 0; m < size; m++) {
    const ws = w[popcount(m)]!;
    for (let i = 0; i < n; i++) {
      const bit = 1 << i;
      if (m & bit) continue;
      phi[i] = phi[i]! + ws * (v[m | bit]! - v[m]!);
    }
  }
  // a rate game can give a channel a negative value (it lowers the rate); it earns nothing then
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.max(0, phi[i]!);
  for (let i = 0; i < n; i++) {
    const share = sum > 0 ? Math.max(0, phi[i]!) / sum : 0;
    conv[i] = share * totalConv;
    val[i] = share * totalVal;
  }
}

function popcount(m: number): number {
  let x = m - ((m >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
