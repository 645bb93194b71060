import test from 'ava';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { computeIhc } from '../shared/attribution/ihc.js';
import { attributePaths, creditJourney, fitModel, type Fitted } from '../shared/attribution/models.js';
import { DEFAULT_MODELS_CONFIG, type IhcParams, type ModelsConfig, type PhaseRedistribution } from '../shared/attribution/params.js';
import type { PathCount } from '../shared/attribution/paths.js';
import { MODEL_NAMES, type Journey, type ModelName } from '../shared/attribution/types.js';

const CHANNELS = ['a', 'b', 'c', 'd', 'e', 'Direct'];
const RUNS = { numRuns: 300 };

const bit = fc.constantFrom<0 | 1>(0, 1);
/** gaps in seconds: equal timestamps, seconds, hours, and huge (decades) */
const gap = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 600, max: 400 * 3600 }), fc.constant(3e9));

const journeyArb = (channels: string[] = CHANNELS, maxLen = 25): fc.Arbitrary<Journey> =>
  fc
    .record({
      start: fc.integer({ min: 0, max: 2_000_000_000 }),
      steps: fc.array(fc.record({ gap, channel: fc.constantFrom(...channels), h: bit, c: bit, i: bit }), { minLength: 1, maxLength: maxLen }),
      tail: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 100 * 3600 }), fc.constant(undefined)),
      revenue: fc.double({ min: 0, max: 1e6, noNaN: true }),
    })
    .map(({ start, steps, tail, revenue }) => {
      let ts = start;
      const sessions = steps.map((s, k) => {
        ts += k === 0 ? 0 : s.gap;
        return {
          sessionId: `s${String(k).padStart(3, '0')}`,
          timestamp: ts,
          channel: s.channel,
          holderEngagement: s.h,
          closerEngagement: s.c,
          impressionInteraction: s.i,
          conversion: (k === steps.length - 1 ? 1 : 0) as 0 | 1,
        };
      });
      return tail === undefined
        ? { conversionId: 'j', revenue, sessions }
        : { conversionId: 'j', revenue, conversionTimestamp: ts + tail, sessions };
    });

const weight = fc.double({ min: 0, max: 5, noNaN: true });
const hours = fc.double({ min: 0, max: 500, noNaN: true });
const phaseRule: fc.Arbitrary<PhaseRedistribution> = fc.record({
  direction: fc.constantFrom('earlier_sessions_only', 'later_sessions_only', 'any_session'),
  receive_threshold: fc.double({ min: 0, max: 1, noNaN: true }),
  redistribution_channel_labels: fc.subarray(CHANNELS),
});
const paramsArb: fc.Arbitrary<IhcParams> = fc.record({
  weights: fc.record({ initializer: weight, holder: weight, closer: weight }),
  initializer_ramp_hours: fc.record({ start: hours, end: hours }),
  closer_ramp_hours: fc.record({ full: hours, zero: hours }),
  channel_weights: fc.record(
    { initializer: fc.dictionary(fc.constantFrom(...CHANNELS), weight), holder: fc.dictionary(fc.constantFrom(...CHANNELS), weight) },
    { requiredKeys: [] },
  ),
  redistribution: fc.option(fc.record({ initializer: phaseRule, holder: phaseRule, closer: phaseRule }, { requiredKeys: [] }), { nil: null }),
});

// revenue comes with orders: a path with no conversion carries no value (the incremental model, which splits
// each order's chance, has nothing to split such value by)
const pathsArb: fc.Arbitrary<PathCount[]> = fc.array(
  fc
    .record({
      channels: fc.array(fc.constantFrom(...CHANNELS), { minLength: 1, maxLength: 8 }),
      conversions: fc.nat(20),
      value: fc.double({ min: 0, max: 1000, noNaN: true }),
      nulls: fc.nat(20),
    })
    .map((p) => (p.conversions === 0 ? { ...p, value: 0 } : p)),
  { minLength: 1, maxLength: 30 },
);

const cfgArb: fc.Arbitrary<ModelsConfig> = fc.record({
  order: fc.integer({ min: 1, max: 3 }),
  collapse: fc.boolean(),
  first: fc.double({ min: 0, max: 1, noNaN: true }),
  middle: fc.double({ min: 0, max: 1, noNaN: true }),
  last: fc.double({ min: 0, max: 1, noNaN: true }),
  halfLife: fc.double({ min: 1e-3, max: 1e4, noNaN: true }),
  maxCh: fc.integer({ min: 1, max: 12 }),
}).map((r) => ({
  ...DEFAULT_MODELS_CONFIG,
  markov: { order: r.order, collapse_repeats: r.collapse },
  position_based: { first: r.first, middle: r.middle, last: r.last },
  time_decay_half_life_hours: r.halfLife,
  shapley: { max_channels: r.maxCh },
}));

function fitted(name: ModelName, cfg: ModelsConfig, paths: PathCount[], params?: IhcParams): Fitted {
  const c = params === undefined ? cfg : { ...cfg, conversion_types: { default: params } };
  const f = fitModel(name, c, paths);
  if (E.isLeft(f)) throw new Error(JSON.stringify(f.left));
  return f.right;
}

function isCredit(c: ArrayLike<number>): boolean {
  let s = 0;
  for (let i = 0; i < c.length; i++) {
    const x = c[i]!;
    if (!Number.isFinite(x) || x < 0) return false;
    s += x;
  }
  return Math.abs(s - 1) <= 1e-9;
}

test('every model: finite, non-negative credit summing to 1 for any journey', (t) => {
  fc.assert(
    fc.property(journeyArb(), cfgArb, pathsArb, paramsArb, fc.constantFrom(...MODEL_NAMES), (j, cfg, paths, params, model) => {
      const c = creditJourney(fitted(model, cfg, paths, params), j);
      return c.length === j.sessions.length && isCredit(c);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('IHC phases: each is normalised (sums to 1 or 0), ihc sums to 1, nothing negative', (t) => {
  fc.assert(
    fc.property(journeyArb(), paramsArb, (j, params) => {
      const r = computeIhc(j, params);
      const sum = (k: 'initializer' | 'holder' | 'closer'): number => r.reduce((a, x) => a + x[k], 0);
      const ok = (s: number): boolean => Math.abs(s - 1) <= 1e-9 || s === 0;
      return (
        ok(sum('initializer')) &&
        ok(sum('holder')) &&
        ok(sum('closer')) &&
        isCredit(r.map((x) => x.ihc)) &&
        r.every((x) => x.initializer >= 0 && x.holder >= 0 && x.closer >= 0)
      );
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('the order of sessions in the input does not matter (results follow the sessions)', (t) => {
  fc.assert(
    fc.property(journeyArb(), pathsArb, fc.constantFrom(...MODEL_NAMES), fc.infiniteStream(fc.nat()), (j, paths, model, rnd) => {
      const f = fitted(model, DEFAULT_MODELS_CONFIG, paths);
      const base = creditJourney(f, j);
      const keys = j.sessions.map(() => rnd.next().value as number);
      const idx = j.sessions.map((_, i) => i).sort((a, b) => keys[a]! - keys[b]!);
      const shuffled = creditJourney(f, { ...j, sessions: idx.map((i) => j.sessions[i]!) });
      return idx.every((orig, k) => Math.abs(shuffled[k]! - base[orig]!) <= 1e-12);
    }),
    RUNS,
  );
  t.pass();
});

test('renaming channels does not change credit', (t) => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  fc.assert(
    fc.property(journeyArb(names), pathsArb.map((ps) => ps.map((p) => ({ ...p, channels: p.channels.map((c) => (c === 'Direct' ? 'a' : c)) }))), fc.shuffledSubarray(names, { minLength: 5, maxLength: 5 }), fc.constantFrom(...MODEL_NAMES), (j, paths, perm, model) => {
      const rename = (c: string): string => `x${perm[names.indexOf(c)]}`;
      const a = creditJourney(fitted(model, DEFAULT_MODELS_CONFIG, paths), j);
      const renamedPaths = paths.map((p) => ({ ...p, channels: p.channels.map(rename) }));
      const b = creditJourney(fitted(model, DEFAULT_MODELS_CONFIG, renamedPaths), {
        ...j,
        sessions: j.sessions.map((s) => ({ ...s, channel: rename(s.channel) })),
      });
      return a.every((x, i) => Math.abs(x - b[i]!) <= 1e-9);
    }),
    RUNS,
  );
  t.pass();
});

test('single-session journeys get all the credit; one-channel journeys are linear for global models', (t) => {
  fc.assert(
    fc.property(journeyArb(CHANNELS, 1), pathsArb, paramsArb, fc.constantFrom(...MODEL_NAMES), (j, paths, params, model) => {
      const c = creditJourney(fitted(model, DEFAULT_MODELS_CONFIG, paths, params), j);
      return c.length === 1 && c[0] === 1;
    }),
    RUNS,
  );
  fc.assert(
    fc.property(journeyArb(['a']), pathsArb, fc.constantFrom<ModelName>('markov', 'shapley', 'linear'), (j, paths, model) => {
      const c = creditJourney(fitted(model, DEFAULT_MODELS_CONFIG, paths), j);
      return c.every((x) => Math.abs(x - 1 / j.sessions.length) <= 1e-12);
    }),
    RUNS,
  );
  t.pass();
});

test('over paths: every model but ihc attributes exactly the total conversions and value (incremental: with its baseline); zero-conversion paths attribute nothing', (t) => {
  fc.assert(
    fc.property(pathsArb, cfgArb, fc.constantFrom(...MODEL_NAMES.filter((m) => m !== 'ihc')), (paths, cfg, model) => {
      const r = attributePaths(model, cfg, paths);
      if (E.isLeft(r)) return false;
      // the incremental model keeps apart what would have happened anyway: channels + baseline = total
      const f = model === 'incremental' ? fitModel(model, cfg, paths) : undefined;
      const base = f !== undefined && E.isRight(f) && f.right.model === 'incremental' ? f.right.fit : undefined;
      let conv = 0;
      let val = 0;
      for (const c of r.right.values()) {
        if (!(c.conversions >= 0) || !(c.value >= 0) || !Number.isFinite(c.conversions) || !Number.isFinite(c.value)) return false;
        conv += c.conversions;
        val += c.value;
      }
      conv += base?.baselineConversions ?? 0;
      val += base?.baselineValue ?? 0;
      const tc = paths.reduce((a, p) => a + p.conversions, 0);
      const tv = paths.reduce((a, p) => a + (p.conversions > 0 || model !== 'markov' ? p.value : p.value), 0);
      const convOk = Math.abs(conv - tc) <= 1e-9 * Math.max(1, tc);
      // a path with value but no conversion is still credited by path-level models
      const valOk = Math.abs(val - tv) <= 1e-9 * Math.max(1, tv) || tc === 0;
      return convOk && valOk;
    }),
    { numRuns: 1000 },
  );
  const none = attributePaths('markov', DEFAULT_MODELS_CONFIG, [{ channels: ['a', 'b'], conversions: 0, value: 0, nulls: 3 }]);
  t.true(E.isRight(none) && [...none.right.values()].every((c) => c.conversions === 0 && c.value === 0));
});

test('order-independent models give the same channel totals for reversed paths', (t) => {
  fc.assert(
    fc.property(pathsArb, fc.constantFrom<ModelName>('linear', 'shapley'), (paths, model) => {
      const a = attributePaths(model, DEFAULT_MODELS_CONFIG, paths);
      const b = attributePaths(model, DEFAULT_MODELS_CONFIG, paths.map((p) => ({ ...p, channels: [...p.channels].reverse() })));
      if (E.isLeft(a) || E.isLeft(b)) return false;
      return [...a.right].every(([c, v]) => Math.abs(v.conversions - b.right.get(c)!.conversions) <= 1e-9);
    }),
    RUNS,
  );
  t.pass();
});
