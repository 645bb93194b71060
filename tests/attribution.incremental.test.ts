import test from 'ava';
import { fitIncremental, pathShapley } from '../shared/attribution/incremental.js';
import type { PathCount } from '../shared/attribution/paths.js';

/** paths whose conversion counts are exactly what a noisy-OR with these coefficients expects */
function planted(b0: number, beta: Record<string, number>, sets: string[][], n: number): PathCount[] {
  return sets.map((channels) => {
    const eta = b0 + channels.reduce((a, c) => a + beta[c]!, 0);
    const conv = n * -Math.expm1(-eta);
    return { channels, conversions: conv, value: conv * 10, nulls: n - conv };
  });
}

test('incremental: the fit recovers planted coefficients and splits by Shapley over the fitted function', (t) => {
  const b0 = 0.05;
  const beta = { a: 0.1, b: 0.02, c: 0 };
  const paths = planted(b0, beta, [['a'], ['b'], ['c'], ['a', 'b'], ['b', 'c'], ['a', 'a', 'c'], ['c', 'b', 'a']], 10000);
  const fit = fitIncremental(paths, { l2: 0, maxChannels: 12 });
  t.true(fit.identified);
  t.true(Math.abs(fit.intercept - b0) < 1e-6, `intercept ${fit.intercept}`);
  for (const [c, v] of Object.entries(beta)) t.true(Math.abs(fit.coefficients.get(c)! - v) < 1e-6, `${c}: ${fit.coefficients.get(c)}`);
  // a channel with no effect earns nothing; channels + baseline add up to every conversion
  t.true(fit.conversions.get('c')! < 1e-6);
  const total = paths.reduce((s, p) => s + p.conversions, 0);
  const credited = [...fit.conversions.values()].reduce((s, x) => s + x, 0) + fit.baselineConversions;
  t.true(Math.abs(credited - total) < 1e-6 * total);
  // path {a}: the order chance with a is 1-exp(-0.15), without 1-exp(-0.05); a gets the whole difference
  const pathA = paths[0]!;
  const fA = -Math.expm1(-0.15);
  const f0 = -Math.expm1(-0.05);
  t.true(fit.baselineConversions > (pathA.conversions * f0) / fA);
});

test('incremental: Shapley over the fitted function, by hand for two channels', (t) => {
  // f(T) = 1 - exp(-(b0 + sum of terms)); v(T) = f(T) - f(empty)
  const b0 = 0.1;
  const f = (x: number): number => -Math.expm1(-(b0 + x));
  const [ta, tb] = [0.3, 0.1];
  const phi = pathShapley(b0, Float64Array.from([ta, tb]), 12);
  const va = f(ta) - f(0);
  const vb = f(tb) - f(0);
  const vab = f(ta + tb) - f(0);
  t.true(Math.abs(phi[0]! - (va + (vab - vb)) / 2) < 1e-15);
  t.true(Math.abs(phi[1]! - (vb + (vab - va)) / 2) < 1e-15);
  t.true(Math.abs(phi[0]! + phi[1]! - vab) < 1e-15);
});

test('incremental: without non-converting paths the baseline cannot be told apart, and the fit says so', (t) => {
  const fit = fitIncremental([{ channels: ['a', 'b'], conversions: 4, value: 40, nulls: 0 }], { l2: 1, maxChannels: 12 });
  t.false(fit.identified);
  t.is(fit.conversions.get('a'), 2);
  t.is(fit.baselineConversions, 0);
});

test('incremental: a user without an order is one unit; split into several, the baseline is lost (by hand)', (t) => {
  // 1000 users see channel a once, 1000 see it twice. With b0 = -ln 0.9 and b_a = -ln 0.8 the order chances are
  // 1 - 0.9 x 0.8 = 0.28 and 1 - 0.9 x 0.64 = 0.424: 280 and 424 orders. The fit recovers both coefficients
  // exactly; of the 704 orders, 0.1 x 2000 = 200 would have happened anyway and a caused
  // 280 x (0.28 - 0.1) / 0.28 + 424 x (0.424 - 0.1) / 0.424 = 180 + 324 = 504.
  const perUser: PathCount[] = [
    { channels: ['a'], conversions: 280, value: 0, nulls: 720 },
    { channels: ['a', 'a'], conversions: 424, value: 0, nulls: 576 },
  ];
  const fit = fitIncremental(perUser, { l2: 0, maxChannels: 12 });
  t.true(Math.abs(fit.intercept + Math.log(0.9)) < 1e-9, `b0 ${fit.intercept}`);
  t.true(Math.abs(fit.coefficients.get('a')! + Math.log(0.8)) < 1e-9, `b_a ${fit.coefficients.get('a')}`);
  t.true(Math.abs(fit.conversions.get('a')! - 504) < 1e-6, `a ${fit.conversions.get('a')}`);
  t.true(Math.abs(fit.baselineConversions - 200) < 1e-6, `baseline ${fit.baselineConversions}`);
  // the same users, each twice-seen user without an order read as two one-touch paths (what a long gap between
  // its two visits makes of it): 1576 failures on one touch instead of 720 + 576 users. The twice-seen users now
  // look like they always order, and the fit gives the channel orders that would have happened anyway
  const split: PathCount[] = [
    { channels: ['a'], conversions: 280, value: 0, nulls: 720 + 2 * 576 },
    { channels: ['a', 'a'], conversions: 424, value: 0, nulls: 0 },
  ];
  const biased = fitIncremental(split, { l2: 0, maxChannels: 12 });
  t.true(biased.baselineConversions < 100, `baseline ${biased.baselineConversions}`);
  t.true(biased.conversions.get('a')! > 600, `a ${biased.conversions.get('a')}`);
});

test('incremental: thousands of paths with repeated touches, in any order, give the planted fit and the same figures', (t) => {
  // 3,000 distinct paths of up to 6 touches over 5 channels (more rows and touches than the fit's first allocation
  // holds), each channel's touches counted: a>a>c carries twice a's coefficient
  const b0 = 0.03;
  const beta: Record<string, number> = { a: 0.08, b: 0.02, c: 0, d: 0.05, e: 0.01 };
  const names = Object.keys(beta);
  const seen = new Set<string>();
  const sets: string[][] = [];
  let seed = 7;
  const next = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  while (sets.length < 3000) {
    const path = Array.from({ length: 1 + Math.floor(next() * 6) }, () => names[Math.floor(next() * names.length)]!);
    if (seen.has(path.join('>'))) continue;
    seen.add(path.join('>'));
    sets.push(path);
  }
  const paths = planted(b0, beta, sets, 1000);
  const fit = fitIncremental(paths, { l2: 0, maxChannels: 12 });
  t.true(Math.abs(fit.intercept - b0) < 1e-6, `intercept ${fit.intercept}`);
  for (const [c, v] of Object.entries(beta)) t.true(Math.abs(fit.coefficients.get(c)! - v) < 1e-6, `${c}: ${fit.coefficients.get(c)}`);
  // the fit sorts its input: reversed, the figures are the same to the last bit
  const again = fitIncremental([...paths].reverse(), { l2: 0, maxChannels: 12 });
  t.deepEqual([...again.conversions], [...fit.conversions]);
  t.deepEqual([...again.value], [...fit.value]);
  t.is(again.baselineConversions, fit.baselineConversions);
});
