import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { fitMarkov } from '../shared/attribution/markov.js';
import { attributePaths, creditJourney, fitModel, fitModelOnJourneys, type ChannelCredit } from '../shared/attribution/models.js';
import { DEFAULT_MODELS_CONFIG, type ModelsConfig } from '../shared/attribution/params.js';
import { decodePathRow, PathAggregator, PATH_KEY_SEPARATOR, splitPath, type PathCount } from '../shared/attribution/paths.js';
import { fitShapley } from '../shared/attribution/shapley.js';
import type { Journey, ModelName } from '../shared/attribution/types.js';
import { ROOT } from './helpers/env.js';

const cfg = DEFAULT_MODELS_CONFIG;
const P = (path: string, conversions: number, nulls = 0, value = 0): PathCount => ({ channels: path.split('>'), conversions, nulls, value });
const close = (a: number, b: number, eps = 1e-9): boolean => Math.abs(a - b) <= eps;

function credits(model: ModelName, paths: PathCount[], c: ModelsConfig = cfg): Map<string, ChannelCredit> {
  const r = attributePaths(model, c, paths);
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  return r.right;
}
const conv = (m: Map<string, ChannelCredit>, ch: string): number => m.get(ch)?.conversions ?? NaN;

test('Markov (docs/design.md, the other models): a>b (3, 1), a>c (1, 1)', (t) => {
  const paths = [P('a>b', 3, 1), P('a>c', 1, 1)];
  const fit = fitMarkov(paths, { order: 1, collapseRepeats: false });
  t.true(close(fit.conversionProbability, 2 / 3));
  t.true(close(fit.removalEffects.get('a')!, 1));
  t.true(close(fit.removalEffects.get('b')!, 0.75));
  t.true(close(fit.removalEffects.get('c')!, 0.25));
  const m = credits('markov', paths);
  t.true(close(conv(m, 'a'), 2));
  t.true(close(conv(m, 'b'), 1.5));
  t.true(close(conv(m, 'c'), 0.5));
});

test('Markov (docs/design.md, the other models): c1>c2>c3 (1, 0), c1 (0, 1), c2>c3 (0, 1)', (t) => {
  const fit = fitMarkov([P('c1>c2>c3', 1, 0), P('c1', 0, 1), P('c2>c3', 0, 1)], { order: 1, collapseRepeats: false });
  t.true(close(fit.removalEffects.get('c1')!, 0.5));
  t.true(close(fit.removalEffects.get('c2')!, 1));
  t.true(close(fit.removalEffects.get('c3')!, 1));
  t.true(close(fit.shares.get('c1')!, 0.2));
  t.true(close(fit.shares.get('c2')!, 0.4));
  t.true(close(fit.shares.get('c3')!, 0.4));
});

test('Markov: higher order and collapsed repeats', (t) => {
  const paths = [P('a>a>b', 2, 1), P('a>b>b', 1, 2), P('b>a', 1, 0)];
  const collapsed = fitMarkov(paths, { order: 1, collapseRepeats: true });
  const manual = fitMarkov([P('a>b', 3, 3), P('b>a', 1, 0)], { order: 1, collapseRepeats: false });
  t.deepEqual([...collapsed.shares], [...manual.shares]);
  // order 2 on paths without shared prefixes reproduces the observed conversion rate too
  const o2 = fitMarkov(paths, { order: 2, collapseRepeats: false });
  t.true(close(o2.conversionProbability, 4 / 7));
  let sum = 0;
  for (const v of o2.shares.values()) sum += v;
  t.true(close(sum, 1));
  // order 3 sends every state containing the channel to NULL: removing b leaves only paths without b
  const o3 = fitMarkov([P('a>b>c', 1, 0), P('a>c', 1, 1)], { order: 3, collapseRepeats: false });
  t.true(close(o3.removalEffects.get('b')!, 1 - (1 / 3) / (2 / 3)));
});

test('Markov: nothing converts gives zero shares, not NaN', (t) => {
  const m = credits('markov', [P('a>b', 0, 5)]);
  t.is(conv(m, 'a'), 0);
  t.is(conv(m, 'b'), 0);
});

test('Shapley (docs/design.md, the other models): {a} 4, {a,b} 6 -> a 7, b 3; a>b>c>d 10 -> 2.5 each', (t) => {
  const m = credits('shapley', [P('a', 4), P('a>b', 6)]);
  t.true(close(conv(m, 'a'), 7));
  t.true(close(conv(m, 'b'), 3));
  const m2 = credits('shapley', [P('a>b>c>d', 10)]);
  for (const c of ['a', 'b', 'c', 'd']) t.true(close(conv(m2, c), 2.5));
});

test('Shapley: exact computation and the closed-form fallback agree; above the cap the fallback is used', (t) => {
  const paths = [P('a>b>c', 5, 0, 50), P('b>d', 3, 0, 9), P('a', 2, 0, 1), P('c>a>e>c', 7, 0, 70), P('e', 1, 0, 3)];
  const exact = fitShapley(paths, { maxChannels: 12 });
  const closed = fitShapley(paths, { maxChannels: 12, method: 'closed_form' });
  t.is(exact.method, 'exact');
  t.is(closed.method, 'closed_form');
  for (const [c, v] of exact.conversions) t.true(close(v, closed.conversions.get(c)!));
  for (const [c, v] of exact.value) t.true(close(v, closed.value.get(c)!));
  t.is(fitShapley(paths, { maxChannels: 4 }).method, 'closed_form');
});

test('Shapley with non-converting paths: the conversion-rate game, by hand', (t) => {
  // {a}: 1 conversion, 3 not; {a,b}: 3 and 1. v(a) = 1/4, v(b) = 0 (no path within {b}), v(ab) = 4/8.
  // phi_a = (v(a) + v(ab) - v(b)) / 2 = 0.375, phi_b = (v(b) + v(ab) - v(a)) / 2 = 0.125: shares 3/4 and 1/4 of 4
  const fit = fitShapley([P('a', 1, 3, 10), P('a>b', 3, 1, 30)], { maxChannels: 12 });
  t.true(close(fit.conversions.get('a')!, 3));
  t.true(close(fit.conversions.get('b')!, 1));
  t.true(close(fit.value.get('a')!, 30));
  // the count game (no non-converting path) gives a 1 + 3/2, b 3/2
  const counts = fitShapley([P('a', 1, 0, 10), P('a>b', 3, 0, 30)], { maxChannels: 12 });
  t.true(close(counts.conversions.get('a')!, 2.5));
});

test('heuristics (docs/design.md, the other models): direct 2, search>email 3, search>social>email 5', (t) => {
  const paths = [P('direct', 2), P('search>email', 3), P('search>social>email', 5)];
  const first = credits('first_touch', paths);
  t.is(conv(first, 'direct'), 2);
  t.is(conv(first, 'search'), 8);
  t.is(conv(first, 'email'), 0);
  const last = credits('last_touch', paths);
  t.is(conv(last, 'direct'), 2);
  t.is(conv(last, 'email'), 8);
  const lin = credits('linear', paths);
  t.true(close(conv(lin, 'direct'), 2));
  t.true(close(conv(lin, 'search'), 19 / 6));
  t.true(close(conv(lin, 'email'), 19 / 6));
  t.true(close(conv(lin, 'social'), 5 / 3));
});

const H = 3600;
const journey = (hoursBefore: number[], channels: string[]): Journey => ({
  conversionId: 'j',
  conversionTimestamp: 1_000_000_000,
  sessions: hoursBefore.map((h, i) => ({
    sessionId: `s${i}`,
    timestamp: 1_000_000_000 - h * H,
    channel: channels[i] ?? 'x',
    holderEngagement: 1,
    closerEngagement: 1,
    impressionInteraction: 0,
    conversion: i === hoursBefore.length - 1 ? 1 : 0,
  })),
});

test('time decay (docs/design.md, the other models): touches 2, 1, 0 days before, half-life 1 day -> 1/7, 2/7, 4/7', (t) => {
  const f = fitModel('time_decay', { ...cfg, time_decay_half_life_hours: 24 }, []);
  if (E.isLeft(f)) return t.fail();
  const c = creditJourney(f.right, journey([48, 24, 0], ['a', 'b', 'c']));
  [1 / 7, 2 / 7, 4 / 7].forEach((x, i) => t.true(close(c[i]!, x, 1e-12)));
});

test('last non-direct skips direct channels, falls back to last touch when all are direct', (t) => {
  const m = credits('last_non_direct', [P('search>Direct', 3), P('Direct>Direct', 2)]);
  t.is(conv(m, 'search'), 3);
  t.is(conv(m, 'Direct'), 2);
});

test('position-based: 40/20/40, two-touch and one-touch rules', (t) => {
  const m = credits('position_based', [P('a>b>c>d', 10), P('e>f', 4), P('g', 1)]);
  t.true(close(conv(m, 'a'), 4));
  t.true(close(conv(m, 'b'), 1));
  t.true(close(conv(m, 'c'), 1));
  t.true(close(conv(m, 'd'), 4));
  t.true(close(conv(m, 'e'), 2));
  t.true(close(conv(m, 'f'), 2));
  t.true(close(conv(m, 'g'), 1));
  const skew = credits('position_based', [P('e>f', 4)], { ...cfg, position_based: { first: 0.3, middle: 0.5, last: 0.1 } });
  t.true(close(conv(skew, 'e'), 3));
  t.true(close(conv(skew, 'f'), 1));
});

test('time decay over aggregated paths counts steps (half-life 1 step)', (t) => {
  const m = credits('time_decay', [P('a>b>c', 7)]);
  t.true(close(conv(m, 'a'), 1));
  t.true(close(conv(m, 'b'), 2));
  t.true(close(conv(m, 'c'), 4));
});

test('the IHC-style model refuses aggregated paths with a clear message', (t) => {
  const r = attributePaths('ihc', cfg, [P('a', 1)]);
  t.true(E.isLeft(r) && r.left._tag === 'NeedsTimestamps');
});

test('global models spread their channel weights over a journey; unknown channels fall back to linear', (t) => {
  const f = fitModel('markov', cfg, [P('a>b', 3, 1), P('a>c', 1, 1)]);
  if (E.isLeft(f)) return t.fail();
  // removal effects a 1, b 0.75: a journey a>b>b gives a 1/1.75, each b 0.375/1.75
  const c = creditJourney(f.right, journey([3, 2, 1], ['a', 'b', 'b']));
  t.true(close(c[0]!, 1 / 1.75));
  t.true(close(c[1]!, 0.375 / 1.75));
  t.true(close(c[2]!, 0.375 / 1.75));
  const u = creditJourney(f.right, journey([2, 1], ['zz', 'yy']));
  t.deepEqual(Array.from(u), [0.5, 0.5]);
  // stored journeys: one conversion each
  const js = [journey([2, 1], ['a', 'b']), journey([1], ['a'])];
  const fj = fitModelOnJourneys('shapley', cfg, js);
  t.true(E.isRight(fj) && fj.right.model === 'shapley' && close(fj.right.fit.conversions.get('a')!, 1.5));
});

test('paths CSV rows: decoding and errors that name file, line and field', (t) => {
  const ok = decodePathRow({ path: 'a > b', total_conversions: '2', total_conversion_value: '3.5', total_null: '' }, 'p.csv', 2);
  t.deepEqual(ok, E.right({ channels: ['a', 'b'], conversions: 2, value: 3.5, nulls: 0 }));
  const bad = decodePathRow({ path: 'a', total_conversions: 'x' }, 'p.csv', 7);
  t.deepEqual(bad, E.left({ file: 'p.csv', line: 7, field: 'total_conversions', message: 'expected a number >= 0, got "x"' }));
  const neg = decodePathRow({ path: 'a', total_conversions: '1', total_null: '-1' }, 'p.csv', 8);
  t.true(E.isLeft(neg) && neg.left.field === 'total_null');
  const empty = decodePathRow({ path: 'a>>b', total_conversions: '1' }, 'p.csv', 9);
  t.true(E.isLeft(empty) && empty.left.field === 'path' && /channel 2/.test(empty.left.message));
  t.true(E.isLeft(splitPath('  ')));
});

// Reference figures on the GPL data set beside the checkout; never copied into the repository.
const REFERENCE = path.resolve(ROOT, '../shared/reference/pathdata.csv');
const hasReference = fs.existsSync(REFERENCE);

function readReference(): PathCount[] {
  const lines = fs.readFileSync(REFERENCE, 'utf8').trim().split('\n');
  return lines.slice(1).map((l, i) => {
    const [p, c, v, n] = l.split(',');
    const r = decodePathRow({ path: p, total_conversions: c, total_conversion_value: v, total_null: n }, REFERENCE, i + 2);
    if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
    return r.right;
  });
}

(hasReference ? test : test.skip)('reference PathData: conversion probability, first and last touch for alpha', (t) => {
  const paths = readReference();
  t.is(paths.length, 10_000);
  const fit = fitMarkov(paths, { order: 1, collapseRepeats: false });
  t.true(close(fit.conversionProbability, 0.2238451356, 1e-10));
  t.true(close(conv(credits('first_touch', paths), 'alpha'), 6308));
  t.true(close(conv(credits('last_touch', paths), 'alpha'), 8447));
  let total = 0;
  for (const c of credits('markov', paths).values()) total += c.conversions;
  t.true(close(total, 19_785, 1e-6));
});

test('PathAggregator: addKey of a joined sequence is add of its channels, in the same order with the same sums', (t) => {
  const adds: Array<[string[], number, number, number]> = [
    [['Email', 'SEO'], 1, 10.5, 0],
    [['SEO'], 0, 0, 3],
    [['Email', 'SEO'], 0, 0, 2],
    [[''], 0, 0, 1],
    [['Direct', 'Email', 'Direct'], 1, 0.1, 0],
    [['SEO'], 1, 0.2, 4],
    [['Direct', 'Email', 'Direct'], 0, 0, 5],
  ];
  const byChannels = new PathAggregator();
  for (const [c, conv, value, nulls] of adds) byChannels.add(c, conv, value, nulls);
  // the converting paths by channels, the rest by key, as the model comparison adds them
  const mixed = new PathAggregator();
  for (const [c, conv, value, nulls] of adds) {
    if (conv > 0) mixed.add(c, conv, value, nulls);
    else mixed.addKey(c.join(PATH_KEY_SEPARATOR), conv, value, nulls);
  }
  t.deepEqual(mixed.paths(), byChannels.paths());
  t.is(mixed.size, 4);
  // one string per channel name, whichever way a sequence came in
  const [first, , , direct] = mixed.paths();
  t.is(direct!.channels[1], first!.channels[0]);
});

test('PathAggregator views: per path and per user over one aggregate give what two aggregates gave', (t) => {
  const journeys: Array<[string[], number]> = [
    [['Email', 'SEO'], 10.5],
    [['SEO'], 0.2],
    [['Email', 'SEO'], 3],
  ];
  // non-converting sequences counted per path and per user: shared, per path only, per user only
  const perPath: Array<[string[], number]> = [
    [['Direct'], 4],
    [['Email', 'SEO'], 2],
    [['SEO'], 3],
  ];
  const perUser: Array<[string[], number]> = [
    [['Direct'], 3],
    [['Direct', 'SEO'], 1],
    [['SEO'], 3],
  ];
  const paths = new PathAggregator();
  const users = new PathAggregator();
  const both = new PathAggregator();
  for (const [c, value] of journeys) for (const a of [paths, users, both]) a.add(c, 1, value, 0);
  for (const [c, n] of perPath) {
    paths.addKey(c.join(PATH_KEY_SEPARATOR), 0, 0, n);
    both.addKey(c.join(PATH_KEY_SEPARATOR), 0, 0, n, 'paths');
  }
  for (const [c, n] of perUser) {
    users.addKey(c.join(PATH_KEY_SEPARATOR), 0, 0, n);
    both.addKey(c.join(PATH_KEY_SEPARATOR), 0, 0, n, 'users');
  }
  const plain = (ps: readonly PathCount[]) => ps.map((p) => ({ channels: [...p.channels], conversions: p.conversions, value: p.value, nulls: p.nulls }));
  // the per-path view in the order of its own aggregate (Markov and Shapley sum in it)
  t.deepEqual(plain(both.paths()), plain(paths.paths()));
  const byKey = (ps: readonly PathCount[]) => plain(ps).sort((a, b) => (a.channels.join('>') < b.channels.join('>') ? -1 : 1));
  t.deepEqual(byKey(both.userPaths()), byKey(users.paths()));
  t.is(both.size, 4);
});
