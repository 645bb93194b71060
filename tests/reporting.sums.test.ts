import test from 'ava';
import { ChannelSums, CompensatedSum } from '../shared/reporting/sums.js';

const sumOf = (xs: readonly number[]): number => {
  const s = new CompensatedSum();
  for (const x of xs) s.add(x);
  return s.value;
};

test('a compensated sum keeps the low bits that a running sum loses', (t) => {
  t.is(sumOf([1e16, 1, -1e16]), 1);
  t.is(sumOf([1, 1e100, 1, -1e100]), 2);
  t.is(sumOf(Array.from({ length: 10 }, () => 0.1)), 1);
  t.not(
    Array.from({ length: 10 }, () => 0.1).reduce((a, b) => a + b, 0),
    1,
    'the plain sum drifts (else the test proves nothing)',
  );
});

test('a compensated sum of nothing is 0, and an overflow stays an overflow', (t) => {
  t.is(sumOf([]), 0);
  t.is(sumOf([Number.MAX_VALUE, Number.MAX_VALUE]), Infinity);
  t.is(sumOf([-Number.MAX_VALUE, -Number.MAX_VALUE]), -Infinity);
});

test('channel sums add orders and revenue per channel, compensated, in the order the channels first came', (t) => {
  const s = new ChannelSums();
  s.add('SEO', 1e16, 10);
  s.add('Email', 0.5, undefined);
  s.add('SEO', 1, 0.1);
  s.add('SEO', -1e16, 0.2);
  s.add('Email', 0.25, 4);
  t.deepEqual(s.totals(), [
    { channel_name: 'SEO', orders: 1, revenue: sumOf([10, 0.1, 0.2]) },
    { channel_name: 'Email', orders: 0.75, revenue: 4 },
  ]);
  t.deepEqual(new ChannelSums().totals(), []);
});
