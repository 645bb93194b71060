/**
 * Scores of an attribution against a planted truth (`make accuracy`): total variation distance between the
 * credited and the true channel shares (0 = the same, 1 = disjoint) and Spearman's rank correlation of the
 * channels. Pure functions over per-channel figures.
 */

/** Shares of a per-channel figure (negative or non-finite counted as 0); all 0 when nothing is positive. */
export function sharesOf(figures: ReadonlyMap<string, number>, channels: readonly string[]): number[] {
  const v = channels.map((c) => {
    const x = figures.get(c) ?? 0;
    return Number.isFinite(x) && x > 0 ? x : 0;
  });
  const total = v.reduce((a, b) => a + b, 0);
  return v.map((x) => (total > 0 ? x / total : 0));
}

/** Half the L1 distance between two share vectors. */
export function totalVariation(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - (b[i] ?? 0));
  return s / 2;
}

function ranks(v: readonly number[]): number[] {
  const idx = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
  const r = new Array<number>(v.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1]![0] === idx[i]![0]) j++;
    for (let k = i; k <= j; k++) r[idx[k]![1]] = (i + j) / 2 + 1; // ties share their mean rank
    i = j + 1;
  }
  return r;
}

/** Spearman's rho (Pearson over ranks, ties averaged); null when either side is constant. */
export function rankCorrelation(a: readonly number[], b: readonly number[]): number | null {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const ma = ra.reduce((x, y) => x + y, 0) / n;
  const mb = rb.reduce((x, y) => x + y, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (ra[i]! - ma) * (rb[i]! - mb);
    saa += (ra[i]! - ma) ** 2;
    sbb += (rb[i]! - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : null;
}

/**
 * Shares over the channels plus a "would have happened anyway" bucket, as parts of all orders: the measure
 * for a scenario where channels cause nothing (channel shares are undefined there). A model that does not
 * separate a baseline puts 0 in the bucket.
 */
export function sharesWithBaseline(figures: ReadonlyMap<string, number>, channels: readonly string[], orders: number): number[] {
  const v = channels.map((c) => Math.max(0, figures.get(c) ?? 0) / (orders > 0 ? orders : 1));
  const used = v.reduce((a, b) => a + b, 0);
  return [...v, Math.max(0, 1 - used)];
}
