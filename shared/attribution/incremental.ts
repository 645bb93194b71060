import { PATH_KEY_SEPARATOR, type PathCount } from './paths.js';
import { internId } from './intern.js';

/**
 * The data-driven model that separates the baseline (`incremental`): it fits the chance of an order from
 * converting and non-converting paths, with an intercept for orders that happen anyway, then splits each
 * path's fitted incremental chance among its channels by Shapley value over the fitted function (the
 * approach GA4 describes for its data-driven attribution, with the baseline kept out of the split).
 *
 * Fitted function (noisy-OR with intercept): P(order | path) = 1 - exp(-(b0 + sum_c b_c * n_c)), where n_c is
 * the number of touches of channel c in the path and every b >= 0: each touch independently adds a chance of
 * ordering, and b0 is the chance of ordering with no touch at all. Fitted by maximum likelihood with an L2
 * penalty `l2` on the channel coefficients (not on b0): projected Newton steps with a backtracking line search.
 * The log-likelihood is concave in b, so the optimum is unique.
 *
 * Attribution of a path with channels S: v(T) = f(T) - f(empty) for T a subset of S (touch counts kept), each
 * channel's Shapley value phi_c over v. Of one order on that path, phi_c / f(S) is the channel's expected
 * incremental part and f(empty) / f(S) would have happened anyway. A channel's attributed conversions (value)
 * are the sum over converting paths of conversions (value) x phi_c / f(S). Exact Shapley up to `maxChannels`
 * distinct channels in a path; above, the split is proportional to b_c * n_c (the Shapley value of the
 * first-order expansion of f).
 *
 * Without any non-converting path the model cannot tell who would have ordered anyway: every path's chance is
 * 1, b0 has no information and the fit says so in `identified` (false).
 */

export interface IncrementalOptions {
  /** L2 penalty on the channel coefficients, in units of paths' weight */
  readonly l2: number;
  readonly maxChannels: number;
}

export interface IncrementalFit {
  readonly intercept: number;
  readonly coefficients: ReadonlyMap<string, number>;
  /** attributed incremental conversions per channel */
  readonly conversions: ReadonlyMap<string, number>;
  readonly value: ReadonlyMap<string, number>;
  /** conversions that the fit says would have happened anyway */
  readonly baselineConversions: number;
  readonly baselineValue: number;
  /** channel conversions normalised to sum to 1 (all 0 when no channel earns anything) */
  readonly shares: ReadonlyMap<string, number>;
  /** false when there were no non-converting paths to fit against */
  readonly identified: boolean;
  readonly iterations: number;
}

/**
 * The fit's rows, one per path (or feature row), in flat arrays: row r's distinct channels are
 * ids[start[r]..start[r + 1]) in the order of their first touch, with their touch counts. A row object with a Map
 * and two typed arrays of its own was about 0.5 kB per distinct path, all alive through the fit and promoted, so
 * the heap's high-water mark at the fit grew with the window's distinct paths (15 MB more heap, 23 MB more RSS for
 * 23,590 paths at scale 30).
 */
interface Rows {
  readonly length: number;
  readonly start: Int32Array;
  readonly ids: Int32Array;
  readonly counts: Float64Array;
  readonly conv: Float64Array;
  readonly nulls: Float64Array;
  readonly value: Float64Array;
}

function grown<A extends Int32Array | Float64Array>(a: A, need: number): A {
  if (need <= a.length) return a;
  const b = new (a.constructor as new (n: number) => A)(Math.max(need, 2 * a.length));
  b.set(a);
  return b;
}

/** Appends rows: `touch` each feature of the row (repeats add up), then `end` the row. */
class RowsBuilder {
  private n = 0;
  private nnz = 0;
  private start = new Int32Array(1024);
  private ids = new Int32Array(2048);
  private counts = new Float64Array(2048);
  private conv = new Float64Array(1024);
  private nulls = new Float64Array(1024);
  private value = new Float64Array(1024);

  /** adds `x` to feature `id` of the row being built (a new feature goes after the row's others) */
  touch(id: number, x: number): void {
    const from = this.start[this.n]!;
    for (let k = from; k < this.nnz; k++) {
      if (this.ids[k] === id) {
        this.counts[k] = this.counts[k]! + x;
        return;
      }
    }
    this.ids = grown(this.ids, this.nnz + 1);
    this.counts = grown(this.counts, this.nnz + 1);
    this.ids[this.nnz] = id;
    this.counts[this.nnz++] = x;
  }

  end(conv: number, nulls: number, value: number): void {
    this.conv = grown(this.conv, this.n + 1);
    this.nulls = grown(this.nulls, this.n + 1);
    this.value = grown(this.value, this.n + 1);
    this.start = grown(this.start, this.n + 2);
    this.conv[this.n] = conv;
    this.nulls[this.n] = nulls;
    this.value[this.n++] = value;
    this.start[this.n] = this.nnz;
  }

  rows(): Rows {
    return {
      length: this.n,
      start: this.start,
      ids: this.ids,
      counts: this.counts,
      conv: this.conv,
      nulls: this.nulls,
      value: this.value,
    };
  }
}

/** log(1 - exp(-x)) for x > 0, accurate for small and large x */
function log1mExp(x: number): number {
  return x < Math.LN2 ? Math.log(-Math.expm1(-x)) : Math.log1p(-Math.exp(-x));
}

const MIN_ETA = 1e-12;

function rowsOf(paths: readonly PathCount[], order: readonly number[], channelId: Map<string, number>, names: string[]): Rows {
  const out = new RowsBuilder();
  for (const i of order) {
    const p = paths[i]!;
    if (p.channels.length === 0 || !(p.conversions + p.nulls > 0)) continue;
    for (const c of p.channels) out.touch(internId(channelId, names, c), 1);
    out.end(p.conversions, p.nulls, p.value);
  }
  return out.rows();
}

/** b0 + sum of b_c * x_c over row r's features */
function etaOf(rows: Rows, r: number, beta: Float64Array): number {
  let eta = beta[0]!;
  for (let k = rows.start[r]!; k < rows.start[r + 1]!; k++) eta += beta[rows.ids[k]! + 1]! * rows.counts[k]!;
  return eta;
}

function objective(rows: Rows, beta: Float64Array, l2: number): number {
  let ll = 0;
  for (let r = 0; r < rows.length; r++) {
    const eta = Math.max(etaOf(rows, r, beta), MIN_ETA);
    const conv = rows.conv[r]!;
    if (conv > 0) ll += conv * log1mExp(eta);
    ll -= rows.nulls[r]! * eta;
  }
  let pen = 0;
  for (let i = 1; i < beta.length; i++) pen += beta[i]! * beta[i]!;
  return ll - 0.5 * l2 * pen;
}

/** Solves A x = b for a symmetric positive definite A (n x n, row-major) by Cholesky; null if not SPD. */
function solveSpd(a: Float64Array, b: Float64Array, n: number): Float64Array | null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j]!;
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i * n + k]! * y[k]!;
    y[i] = s / l[i * n + i]!;
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * x[k]!;
    x[i] = s / l[i * n + i]!;
  }
  return x;
}

/** Maximum penalised likelihood with every coefficient >= 0 (index 0 is the intercept). */
function fitCoefficients(rows: Rows, d: number, l2: number): { beta: Float64Array; iterations: number } {
  let conv = 0;
  let total = 0;
  for (let r = 0; r < rows.length; r++) {
    conv += rows.conv[r]!;
    total += rows.conv[r]! + rows.nulls[r]!;
  }
  const beta = new Float64Array(d + 1);
  // start at the observed rate as if channels did nothing
  const rate = total > 0 ? Math.min(Math.max(conv / total, 1e-6), 1 - 1e-6) : 0.5;
  beta[0] = -Math.log(1 - rate);
  for (let i = 1; i <= d; i++) beta[i] = 1e-3;
  const n = d + 1;
  let f = objective(rows, beta, l2);
  let it = 0;
  for (; it < 200; it++) {
    const g = new Float64Array(n);
    const h = new Float64Array(n * n); // negative Hessian
    const { ids, counts } = rows;
    for (let r = 0; r < rows.length; r++) {
      const eta = Math.max(etaOf(rows, r, beta), MIN_ETA);
      const rc = rows.conv[r]!;
      const em1 = Math.expm1(eta);
      const d1 = (rc > 0 ? rc / em1 : 0) - rows.nulls[r]!;
      const d2 = rc > 0 ? (rc * (em1 + 1)) / (em1 * em1) : 0;
      // x = (1, counts at ids)
      g[0] = g[0]! + d1;
      h[0] = h[0]! + d2;
      const from = rows.start[r]!;
      for (let k = from; k < rows.start[r + 1]!; k++) {
        const i = ids[k]! + 1;
        const xi = counts[k]!;
        g[i] = g[i]! + d1 * xi;
        h[i * n] = h[i * n]! + d2 * xi;
        h[i] = h[i]! + d2 * xi;
        h[i * n + i] = h[i * n + i]! + d2 * xi * xi;
        for (let m = from; m < k; m++) {
          const j = ids[m]! + 1;
          const v = d2 * xi * counts[m]!;
          h[i * n + j] = h[i * n + j]! + v;
          h[j * n + i] = h[j * n + i]! + v;
        }
      }
    }
    for (let i = 1; i < n; i++) {
      g[i] = g[i]! - l2 * beta[i]!;
      h[i * n + i] = h[i * n + i]! + l2;
    }
    // free variables: positive, or at the bound with a gradient pointing inwards
    const free: number[] = [];
    for (let i = 0; i < n; i++) if (beta[i]! > 1e-12 || g[i]! > 0) free.push(i);
    const m = free.length;
    const a = new Float64Array(m * m);
    const b = new Float64Array(m);
    for (let x = 0; x < m; x++) {
      b[x] = g[free[x]!]!;
      for (let y = 0; y < m; y++) a[x * m + y] = h[free[x]! * n + free[y]!]!;
      a[x * m + x] = a[x * m + x]! + 1e-9 * (1 + a[x * m + x]!);
    }
    let step = solveSpd(a, b, m);
    if (step === null) step = b; // gradient ascent when the curvature is degenerate
    let t = 1;
    let moved = false;
    let next = beta;
    for (let ls = 0; ls < 40; ls++) {
      const cand = Float64Array.from(beta);
      for (let x = 0; x < m; x++) cand[free[x]!] = Math.max(0, beta[free[x]!]! + t * step[x]!);
      cand[0] = Math.max(cand[0]!, MIN_ETA);
      const fc = objective(rows, cand, l2);
      if (fc >= f - 1e-12 * Math.abs(f)) {
        next = cand;
        moved = fc > f + 1e-10 * Math.max(1, Math.abs(f));
        f = fc;
        break;
      }
      t /= 2;
    }
    let change = 0;
    for (let i = 0; i < n; i++) change = Math.max(change, Math.abs(next[i]! - beta[i]!));
    beta.set(next);
    if (!moved || change < 1e-10) break;
  }
  return { beta, iterations: it + 1 };
}

/** Shapley values of v(T) = f(T) - f(empty) over the channels of one path; f from eta = b0 + sum of terms. */
export function pathShapley(b0: number, terms: Float64Array, maxChannels: number, out = new Float64Array(terms.length)): Float64Array {
  const k = terms.length;
  const f = (eta: number): number => -Math.expm1(-eta);
  const base = f(b0);
  if (k === 0) return out;
  if (k > maxChannels) {
    let sum = 0;
    for (let i = 0; i < k; i++) sum += terms[i]!;
    const inc = f(b0 + sum) - base;
    for (let i = 0; i < k; i++) out[i] = sum > 0 ? (inc * terms[i]!) / sum : 0;
    return out;
  }
  const size = 1 << k;
  const v = new Float64Array(size);
  for (let mask = 1; mask < size; mask++) {
    const low = mask & -mask;
    const bit = 31 - Math.clz32(low);
    // eta of mask = eta of (mask without its lowest bit) + that channel's term; store eta - b0 first
    v[mask] = v[mask ^ low]! + terms[bit]!;
  }
  for (let mask = 0; mask < size; mask++) v[mask] = f(b0 + v[mask]!) - base;
  const w = new Float64Array(k);
  for (let s = 0; s < k; s++) {
    let c = 1; // C(k-1, s)
    for (let j = 1; j <= s; j++) c = (c * (k - s - 1 + j)) / j;
    w[s] = 1 / (k * c);
  }
  out.fill(0);
  for (let mask = 0; mask < size; mask++) {
    let pop = 0;
    for (let x = mask; x !== 0; x &= x - 1) pop++;
    for (let i = 0; i < k; i++) {
      const bit = 1 << i;
      if (mask & bit) continue;
      out[i] = out[i]! + w[pop]! * (v[mask | bit]! - v[mask]!);
    }
  }
  for (let i = 0; i < k; i++) if (out[i]! < 0) out[i] = 0;
  return out;
}

export function fitIncremental(paths: Iterable<PathCount>, opts: IncrementalOptions): IncrementalFit {
  const channelId = new Map<string, number>();
  const names: string[] = [];
  // a fixed order (paths arrive in whatever order the database pages them), so that the float sums, and the
  // figures to the last cent, are the same on every database
  const all = Array.isArray(paths) ? (paths as readonly PathCount[]) : [...paths];
  const keys = all.map((p) => p.channels.join(PATH_KEY_SEPARATOR));
  const order = Array.from(all, (_, i) => i);
  // ties keep the input order, as the stable sort of the paths themselves did
  order.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : a - b));
  keys.length = 0;
  const rows = rowsOf(all, order, channelId, names);
  let identified = false;
  for (let r = 0; r < rows.length && !identified; r++) identified = rows.nulls[r]! > 0;
  const { beta, iterations } = identified ? fitCoefficients(rows, names.length, opts.l2) : { beta: new Float64Array(names.length + 1), iterations: 0 };
  const conv = new Float64Array(names.length);
  const val = new Float64Array(names.length);
  let baseConv = 0;
  let baseVal = 0;
  let phi = new Float64Array(16);
  let terms = new Float64Array(16);
  for (let r = 0; r < rows.length; r++) {
    const rc = rows.conv[r]!;
    const rv = rows.value[r]!;
    if (!(rc > 0) && !(rv > 0)) continue;
    const from = rows.start[r]!;
    const k = rows.start[r + 1]! - from;
    const ids = rows.ids.subarray(from, from + k);
    const counts = rows.counts.subarray(from, from + k);
    if (phi.length < k) {
      phi = new Float64Array(2 * k);
      terms = new Float64Array(2 * k);
    }
    const tv = terms.subarray(0, k);
    let sum = 0;
    for (let i = 0; i < k; i++) sum += (tv[i] = beta[ids[i]! + 1]! * counts[i]!);
    if (!identified) {
      // nothing to separate the baseline with: split the order equally among the path's channels
      for (let i = 0; i < k; i++) {
        conv[ids[i]!] = conv[ids[i]!]! + rc / k;
        val[ids[i]!] = val[ids[i]!]! + rv / k;
      }
      continue;
    }
    const ph = pathShapley(beta[0]!, tv, opts.maxChannels, phi.subarray(0, k));
    const fS = -Math.expm1(-(beta[0]! + sum));
    const f0 = -Math.expm1(-beta[0]!);
    const fs = fS > 0 ? fS : 1;
    for (let i = 0; i < k; i++) {
      conv[ids[i]!] = conv[ids[i]!]! + (rc * ph[i]!) / fs;
      val[ids[i]!] = val[ids[i]!]! + (rv * ph[i]!) / fs;
    }
    baseConv += (rc * f0) / fs;
    baseVal += (rv * f0) / fs;
  }
  const coefficients = new Map<string, number>();
  const conversions = new Map<string, number>();
  const value = new Map<string, number>();
  const shares = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < names.length; i++) total += conv[i]!;
  names.forEach((name, i) => {
    coefficients.set(name, beta[i + 1]!);
    conversions.set(name, conv[i]!);
    value.set(name, val[i]!);
    shares.set(name, total > 0 ? conv[i]! / total : 0);
  });
  return {
    intercept: beta[0]!,
    coefficients,
    conversions,
    value,
    baselineConversions: baseConv,
    baselineValue: baseVal,
    shares,
    identified,
    iterations,
  };
}

/**
 * Per-touch credit of one converting path (channels in order) under a fit, summing to 1: each channel's
 * Shapley part of the path's incremental chance, split equally among its touches. The part that would have
 * happened anyway is shared in the same proportions (a per-order credit must sum to 1); a path none of whose
 * channels adds anything is credited linearly.
 */
export function creditIncrementalPath(fit: IncrementalFit, channels: ArrayLike<string>, maxChannels: number, out: Float64Array): Float64Array {
  const n = channels.length;
  const count = new Map<string, number>();
  for (let i = 0; i < n; i++) count.set(channels[i]!, (count.get(channels[i]!) ?? 0) + 1);
  const distinct = [...count.keys()];
  const terms = Float64Array.from(distinct, (c) => (fit.coefficients.get(c) ?? 0) * count.get(c)!);
  const phi = pathShapley(fit.intercept, terms, maxChannels);
  let total = 0;
  for (const p of phi) total += p;
  if (!(total > 0)) {
    out.fill(1 / n);
    return out;
  }
  const part = new Map<string, number>(distinct.map((c, i) => [c, phi[i]! / total / count.get(c)!]));
  for (let i = 0; i < n; i++) out[i] = part.get(channels[i]!)!;
  return out;
}

export interface FeatureRow {
  /** feature values >= 0 by name (missing: 0) */
  readonly features: ReadonlyMap<string, number>;
  readonly conversions: number;
  readonly nulls: number;
}

/**
 * The same penalised noisy-OR fit over any non-negative features (fit-ihc fits phase weights with it):
 * P(order) = 1 - exp(-(b0 + sum_f b_f * x_f)), every b >= 0, L2 penalty `l2` on the b_f.
 */
export function fitNoisyOr(rows: Iterable<FeatureRow>, l2: number): { intercept: number; coefficients: Map<string, number>; iterations: number } {
  const id = new Map<string, number>();
  const names: string[] = [];
  const internal = new RowsBuilder();
  for (const r of rows) {
    if (!(r.conversions + r.nulls > 0)) continue;
    for (const [f, x] of r.features) {
      if (!(x > 0) || !Number.isFinite(x)) continue;
      internal.touch(internId(id, names, f), x);
    }
    internal.end(r.conversions, r.nulls, 0);
  }
  const { beta, iterations } = fitCoefficients(internal.rows(), names.length, l2);
  return { intercept: beta[0]!, coefficients: new Map(names.map((n, i) => [n, beta[i + 1]!])), iterations };
}
