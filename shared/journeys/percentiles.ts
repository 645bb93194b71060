/** Percentiles reported, by nearest rank: the value at rank ceil(p/100 * n) of the n sorted values. */
export const PERCENTILES = [25, 50, 75, 90, 95, 99] as const;

export interface Distribution {
  readonly count: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  /** keys "p25", "p50", ...; null when there is no value */
  readonly percentiles: Readonly<Record<string, number | null>>;
}

export const round = (x: number, d: number): number => {
  const f = 10 ** d;
  return Math.round(x * f) / f;
};

/** rank (1-based) of each reported percentile among n sorted values */
export function percentileRanks(n: number): number[] {
  return PERCENTILES.map((p) => Math.max(1, Math.ceil((p / 100) * n)));
}

export function emptyPercentiles(): Record<string, number | null> {
  return Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, null]));
}

/** Percentiles from a histogram (value -> how many), which is small for session counts. */
export function distributionOfHistogram(hist: ReadonlyArray<{ value: number; count: number }>): Distribution {
  const sorted = [...hist].filter((h) => h.count > 0).sort((a, b) => a.value - b.value);
  const n = sorted.reduce((a, h) => a + h.count, 0);
  if (n === 0) return { count: 0, min: null, max: null, mean: null, percentiles: emptyPercentiles() };
  const percentiles: Record<string, number | null> = {};
  const ranks = percentileRanks(n);
  PERCENTILES.forEach((p, i) => {
    let seen = 0;
    for (const h of sorted) {
      seen += h.count;
      if (seen >= ranks[i]!) {
        percentiles[`p${p}`] = h.value;
        break;
      }
    }
  });
  const sum = sorted.reduce((a, h) => a + h.value * h.count, 0);
  return { count: n, min: sorted[0]!.value, max: sorted[sorted.length - 1]!.value, mean: round(sum / n, 4), percentiles };
}

