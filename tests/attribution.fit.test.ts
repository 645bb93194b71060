import test from 'ava';
import { fitIhcParams, journeySamples, LogHistogram } from '../shared/attribution/fit.js';
import { DEFAULT_IHC_PARAMS, IhcParams } from '../shared/attribution/params.js';
import * as E from 'fp-ts/lib/Either.js';

const within = (a: number, b: number, rel = 0.003): boolean => Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)) + 0.01;

test('log histogram quantiles are within the documented precision', (t) => {
  const h = new LogHistogram();
  for (let i = 1; i <= 1000; i++) h.add(i / 10);
  t.true(within(h.quantile(0.5), 50));
  t.true(within(h.quantile(0.9), 90));
  t.true(within(h.quantile(0.1), 10));
  h.add(-1);
  h.add(NaN);
  t.is(h.ignored, 2);
  t.true(Number.isNaN(new LogHistogram().quantile(0.5)));
});

test('ramps come from the median / 90th percentile of gaps and the 10th / 90th of time to conversion', (t) => {
  const gaps = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100 h
  const toConv = Array.from({ length: 200 }, (_, i) => i / 4); // 0..49.75 h
  const r = fitIhcParams({ gapsHours: gaps, hoursToConversion: toConv });
  t.true(within(r.params.initializer_ramp_hours.start, 50));
  t.true(within(r.params.initializer_ramp_hours.end, 90));
  t.true(within(r.params.closer_ramp_hours.full, 4.75));
  t.true(within(r.params.closer_ramp_hours.zero, 44.75));
  t.deepEqual(r.params.weights, DEFAULT_IHC_PARAMS.weights);
  t.deepEqual(r.notes, []);
  // the result is a valid parameter set for the config codec
  t.true(E.isRight(IhcParams.decode(r.params)));
});

test('too few samples keep the base ramps, with a note', (t) => {
  const r = fitIhcParams({ gapsHours: [1, 2, 3], hoursToConversion: [] });
  t.deepEqual(r.params.initializer_ramp_hours, DEFAULT_IHC_PARAMS.initializer_ramp_hours);
  t.deepEqual(r.params.closer_ramp_hours, DEFAULT_IHC_PARAMS.closer_ramp_hours);
  t.is(r.notes.length, 2);
});

test('journey samples: gaps in journey order, hours to conversion of closer-engaged sessions only', (t) => {
  const s = journeySamples([7200, 0, 3600 * 5], [1, 0, 1], 3600 * 6);
  t.deepEqual(s.gaps, [2, 3]);
  t.deepEqual(s.toConversion, [4, 1]);
});
