import test from 'ava';
import type { ModelName } from '../shared/attribution/types.js';
import { summaryOf } from '../shared/reporting/channels.js';
import type { ModelComparison } from '../shared/reporting/models.js';
import { channelSpreads, trustSection } from '../shared/reporting/trust.js';

function comparisonOf(orders: Record<string, Partial<Record<ModelName, number>>>, models: ModelName[]): ModelComparison {
  return {
    models,
    journeys: 10,
    skipped: { count: 0, examples: [] },
    creditRows: 0,
    channels: Object.entries(orders).map(([channel, by]) => ({
      channel_name: channel,
      cost: 0,
      byModel: new Map(models.map((m) => [m, summaryOf(channel, 0, by[m] ?? 0, 0)])),
    })),
  };
}

test('trust: the spread of each channel share across models, widest first', (t) => {
  // last touch: Direct 8 of 10, Video 2; first touch: Direct 2, Video 8; linear: 5 / 5; Search nowhere
  const c = comparisonOf(
    { Direct: { last_touch: 8, first_touch: 2, linear: 5 }, Video: { last_touch: 2, first_touch: 8, linear: 4 }, Search: { linear: 1 } },
    ['last_touch', 'first_touch', 'linear'],
  );
  const s = channelSpreads(c);
  t.deepEqual(
    s.map((x) => [x.channel, x.low.model, x.low.share, x.high.model, x.high.share]),
    [
      ['Direct', 'first_touch', 0.2, 'last_touch', 0.8],
      ['Video', 'last_touch', 0.2, 'first_touch', 0.8],
      ['Search', 'last_touch', 0, 'linear', 0.1],
    ],
  );
  const html = trustSection(c);
  t.regex(html, /How far to trust these numbers/);
  t.regex(html, /<td>Direct<\/td><td>20\.0%.*<td>60\.0 pts<\/td>/);
  t.regex(html, /make accuracy/);
  t.is(trustSection(undefined), '');
});

test('trust: shares that differ only in the last bits of a sum tie, so the models and channels keep their order', (t) => {
  // 0.1 + 0.2 is 0.30000000000000004: the same credit summed in another order (another plan, concurrent writers)
  const noisy = 0.1 + 0.2;
  const spreads = (a: number, b: number) =>
    channelSpreads(
      comparisonOf(
        { Direct: { first_touch: a, last_touch: b, linear: 2 }, Video: { first_touch: 10 - a, last_touch: 10 - b, linear: 8 } },
        ['first_touch', 'last_touch', 'linear'],
      ),
    ).map((x) => [x.channel, x.low.model, x.high.model]);
  t.deepEqual(spreads(noisy, 0.3), spreads(0.3, noisy));
  t.deepEqual(spreads(0.3, noisy), [
    ['Direct', 'first_touch', 'linear'],
    ['Video', 'linear', 'last_touch'],
  ]);
});
