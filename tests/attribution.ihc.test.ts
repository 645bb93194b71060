import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import {
  closerMembership,
  computeIhc,
  effectiveWeights,
  initializerMembership,
  tryComputeIhc,
} from '../shared/attribution/ihc.js';
import { DEFAULT_IHC_PARAMS, type IhcParams, type PhaseRedistribution, type RedistributionParameter } from '../shared/attribution/params.js';
import { redistributePhase } from '../shared/attribution/redistribution.js';
import type { Journey, JourneySession, PhaseScores } from '../shared/attribution/types.js';

const H = 3600;
const W = DEFAULT_IHC_PARAMS.weights;
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

// The vendor's published worked example (docs/design.md, "The IHC API contract"), run through computeIhc, the
// function the pipeline calls. The vendor's trained memberships are proprietary, so the example's phase values are
// planted through the engine's documented knobs: a first session only initializes (the initializer ramp starts past
// every gap), holder-engaged sessions hold in proportion to per-channel holder weights, and closer-engaged ones close
// in proportion to per-channel closer weights (the closer ramp is flat over the journey).
const EXAMPLE_CHANNELS = ['Shopping - Non Brand', 'SEO', 'Shopping - Non Brand', 'Direct'];
const EXAMPLE_PHASES: PhaseScores[] = [
  { initializer: 1, holder: 0, closer: 0 },
  { initializer: 0, holder: 0.4322, closer: 0 },
  { initializer: 0, holder: 0.3807, closer: 0.2776 },
  { initializer: 0, holder: 0.1871, closer: 0.7224 },
];
const EXAMPLE_JOURNEY: Journey = {
  conversionId: 'c1',
  sessions: EXAMPLE_CHANNELS.map((channel, i) => ({
    sessionId: `s${i}`,
    timestamp: 1_693_000_000 + i * H,
    channel,
    holderEngagement: i === 0 ? 0 : 1,
    closerEngagement: i >= 2 ? 1 : 0,
    impressionInteraction: 0,
    conversion: i === 3 ? 1 : 0,
  })),
};
const EXAMPLE_PARAMS: IhcParams = {
  ...DEFAULT_IHC_PARAMS,
  initializer_ramp_hours: { start: 1000, end: 1000 },
  closer_ramp_hours: { full: 1000, zero: 1000 },
  channel_weights: {
    holder: { SEO: 0.4322, 'Shopping - Non Brand': 0.3807, Direct: 0.1871 },
    closer: { 'Shopping - Non Brand': 0.2776, Direct: 0.7224 },
  },
};
const rule: PhaseRedistribution = { direction: 'earlier_sessions_only', receive_threshold: 0, redistribution_channel_labels: ['Direct'] };
const DIRECT_EARLIER: RedistributionParameter = { initializer: rule, holder: rule, closer: rule };

test('worked example through computeIhc: the published phase values and ihc column', (t) => {
  const r = computeIhc(EXAMPLE_JOURNEY, EXAMPLE_PARAMS);
  t.deepEqual(r.map((s) => s.sessionId), ['s0', 's1', 's2', 's3']);
  t.deepEqual(r.map((s) => round4(s.initializer)), EXAMPLE_PHASES.map((p) => p.initializer));
  t.deepEqual(r.map((s) => round4(s.holder)), EXAMPLE_PHASES.map((p) => p.holder));
  t.deepEqual(r.map((s) => round4(s.closer)), EXAMPLE_PHASES.map((p) => p.closer));
  t.deepEqual(r.map((s) => round4(s.ihc)), [0.331, 0.1634, 0.2247, 0.2809]);
});

test('worked example through computeIhc: redistributing Direct to earlier sessions gives the published columns', (t) => {
  const r = computeIhc(EXAMPLE_JOURNEY, { ...EXAMPLE_PARAMS, redistribution: DIRECT_EARLIER });
  t.deepEqual(r.map((s) => round4(s.initializer)), [1, 0, 0, 0]);
  t.deepEqual(r.map((s) => round4(s.holder)), [0, 0.5317, 0.4683, 0]);
  t.deepEqual(r.map((s) => round4(s.closer)), [0, 0, 1, 0]);
  t.deepEqual(r.map((s) => Math.round(s.ihc * 1e3) / 1e3), [0.331, 0.201, 0.468, 0]);
});

test('redistribution: later and any directions, threshold, no receiver keeps credit', (t) => {
  const v = [0.2, 0.3, 0.5];
  const ch = ['D', 'x', 'y'];
  const later = redistributePhase(v, ch, { direction: 'later_sessions_only', receive_threshold: 0, redistribution_channel_labels: ['D'] });
  t.true(Math.abs(later[0]!) < 1e-12);
  t.true(Math.abs(later[1]! - (0.3 + 0.2 * 0.3 / 0.8)) < 1e-12);
  t.true(Math.abs(later[2]! - (0.5 + 0.2 * 0.5 / 0.8)) < 1e-12);
  // threshold 0.4: only y receives
  const thr = redistributePhase(v, ch, { direction: 'any_session', receive_threshold: 0.4, redistribution_channel_labels: ['D'] });
  t.deepEqual(Array.from(thr), [0, 0.3, 0.7]);
  // earlier: the first session has nobody before it, so it keeps its credit
  const none = redistributePhase(v, ch, { direction: 'earlier_sessions_only', receive_threshold: 0, redistribution_channel_labels: ['D'] });
  t.deepEqual(Array.from(none), v);
  // sources never receive from each other
  const both = redistributePhase([0.5, 0.5], ['D', 'D'], { direction: 'any_session', receive_threshold: 0, redistribution_channel_labels: ['D'] });
  t.deepEqual(Array.from(both), [0.5, 0.5]);
});

test('membership ramps', (t) => {
  const ir = DEFAULT_IHC_PARAMS.initializer_ramp_hours;
  t.is(initializerMembership(0, ir), 0);
  t.is(initializerMembership(2, ir), 0);
  t.is(initializerMembership(27, ir), 0.5);
  t.is(initializerMembership(52, ir), 1);
  t.is(initializerMembership(1e9, ir), 1);
  const cr = DEFAULT_IHC_PARAMS.closer_ramp_hours;
  t.is(closerMembership(0, cr), 1);
  t.is(closerMembership(22.5, cr), 0.5);
  t.is(closerMembership(45, cr), 0);
  t.is(initializerMembership(5, { start: 5, end: 5 }), 1);
  t.is(initializerMembership(4.9, { start: 5, end: 5 }), 0);
  t.is(closerMembership(3, { full: 3, zero: 1 }), 1);
});

test('a missing phase shares its weight among the phases that have eligible sessions', (t) => {
  const w = effectiveWeights(true, true, false, W)!;
  t.true(Math.abs(w.initializer - 0.331 / 0.709) < 1e-15);
  t.true(Math.abs(w.holder - 0.378 / 0.709) < 1e-15);
  t.is(w.closer, 0);
  t.deepEqual(effectiveWeights(true, false, false, { initializer: 0, holder: 1, closer: 1 }), { initializer: 1, holder: 0, closer: 0 });
  t.is(effectiveWeights(false, false, false, W), null);
});

const s = (id: string, hoursBeforeEnd: number, channel: string, h: 0 | 1, c: 0 | 1, conv: 0 | 1 = 0): JourneySession => ({
  sessionId: id,
  timestamp: 1_700_000_000 - hoursBeforeEnd * H,
  channel,
  holderEngagement: h,
  closerEngagement: c,
  impressionInteraction: 0,
  conversion: conv,
});

test('computeIhc on a journey: hand-computed phases with the default parameters', (t) => {
  const j: Journey = {
    conversionId: 'c1',
    sessions: [s('a', 100, 'x', 0, 0), s('b', 73, 'y', 1, 0), s('c', 22.5, 'z', 1, 1), s('d', 0, 'x', 0, 1, 1)],
  };
  const r = computeIhc(j, DEFAULT_IHC_PARAMS);
  // initializer: a = 1, b: gap 27 h -> 0.5, c: gap 50.5 h -> 0.97, d: gap 22.5 h -> 0.41
  const raw = [1, 0.5, 48.5 / 50, 20.5 / 50];
  const sum = raw.reduce((x, y) => x + y);
  r.forEach((x, i) => t.true(Math.abs(x.initializer - raw[i]! / sum) < 1e-12));
  t.deepEqual(r.map((x) => x.holder), [0, 0.5, 0.5, 0]);
  // closer: c 22.5 h before -> 0.5, d at the conversion -> 1
  r.forEach((x, i) => t.true(Math.abs(x.closer - [0, 0, 1 / 3, 2 / 3][i]!) < 1e-12));
  r.forEach((x) => t.true(Math.abs(x.ihc - (W.initializer * x.initializer + W.holder * x.holder + W.closer * x.closer)) < 1e-12));
  t.true(Math.abs(r.reduce((a, x) => a + x.ihc, 0) - 1) < 1e-12);
  t.deepEqual(r.map((x) => x.sessionId), ['a', 'b', 'c', 'd']);
  t.is(r[0]!.conversionId, 'c1');
});

test('computeIhc: results stay aligned with the input when sessions come out of order', (t) => {
  const sessions = [s('a', 100, 'x', 0, 0), s('b', 73, 'y', 1, 0), s('c', 22.5, 'z', 1, 1), s('d', 0, 'x', 0, 1, 1)];
  const inOrder = computeIhc({ conversionId: 'c', sessions }, DEFAULT_IHC_PARAMS);
  const shuffled = [sessions[2]!, sessions[0]!, sessions[3]!, sessions[1]!];
  const r = computeIhc({ conversionId: 'c', sessions: shuffled }, DEFAULT_IHC_PARAMS);
  t.deepEqual(r.map((x) => x.sessionId), ['c', 'a', 'd', 'b']);
  for (const x of r) t.deepEqual(x, inOrder.find((y) => y.sessionId === x.sessionId));
});

test('channel weights and redistribution apply through computeIhc', (t) => {
  const sessions = [s('a', 10, 'x', 1, 1), s('b', 0, 'Direct', 1, 1, 1)];
  const params: IhcParams = { ...DEFAULT_IHC_PARAMS, channel_weights: { holder: { x: 3 } }, redistribution: DIRECT_EARLIER };
  const r = computeIhc({ conversionId: 'c', sessions }, params);
  // Direct's holder and closer move to x; x holds everything
  t.true(Math.abs(r[0]!.ihc - 1) < 1e-12);
  t.is(r[1]!.ihc, 0);
  const noRed = computeIhc({ conversionId: 'c', sessions }, { ...params, redistribution: null });
  t.true(Math.abs(noRed[0]!.holder - 0.75) < 1e-12);
});

test('all-zero channel weights: the documented equal-split fallback', (t) => {
  const params: IhcParams = {
    ...DEFAULT_IHC_PARAMS,
    channel_weights: { initializer: { x: 0 }, holder: { x: 0 }, closer: { x: 0 } },
  };
  const r = computeIhc({ conversionId: 'c', sessions: [s('a', 5, 'x', 1, 1), s('b', 0, 'x', 1, 1, 1)] }, params);
  t.deepEqual(r.map((x) => x.ihc), [0.5, 0.5]);
});

test('a journey with no session is a clear error value', (t) => {
  const r = tryComputeIhc({ conversionId: 'empty', sessions: [] }, DEFAULT_IHC_PARAMS);
  t.true(E.isLeft(r));
  if (E.isLeft(r)) t.is(r.left._tag, 'EmptyJourney');
  t.throws(() => computeIhc({ conversionId: 'empty', sessions: [] }, DEFAULT_IHC_PARAMS), { message: /empty has no sessions/ });
  const bad = tryComputeIhc({ conversionId: 'nan', sessions: [{ ...s('a', 0, 'x', 1, 1, 1), timestamp: NaN }] }, DEFAULT_IHC_PARAMS);
  t.true(E.isLeft(bad) && bad.left._tag === 'InvalidJourney');
});
