import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { DEFAULT_IHC_PARAMS } from '../shared/attribution/params.js';
import { formatError } from '../shared/errors.js';
import { sendToApi } from '../shared/ihc/send.js';
import { seedJourneys } from './helpers/ihc-testkit.js';
import { freshDb, testCaps } from './helpers/env.js';

const window = { start: '2023-09-01', end: '2023-09-07' };

async function creditsWith(convTypeId: string, stored: Record<string, unknown> | undefined) {
  const { db, config, cleanup } = await freshDb();
  try {
    await seedJourneys(db, { journeys: 30, seed: 7 });
    if (stored !== undefined) {
      await db('conversion_types').insert({ name: 'fitted', params: JSON.stringify(stored), source: 'test', created_at: '2026-01-01T00:00:00Z' });
    }
    const r = await sendToApi({ provider: 'local', convTypeId, force: false, window }, testCaps(db, config))();
    if (E.isLeft(r)) return { error: formatError(r.left), credits: new Map<string, number>() };
    const rows = (await db('api_results').select('conv_id', 'session_id', 'ihc')) as Array<{ conv_id: string; session_id: string; ihc: number }>;
    return { error: undefined, credits: new Map(rows.map((x) => [`${x.conv_id}/${x.session_id}`, x.ihc])) };
  } finally {
    await cleanup();
  }
}

test('the local provider uses a conversion type saved in table conversion_types (by fit-ihc)', async (t) => {
  const closerOnly = { ...DEFAULT_IHC_PARAMS, weights: { initializer: 0, holder: 0, closer: 1 } };
  const fitted = await creditsWith('fitted', closerOnly);
  t.is(fitted.error, undefined);
  const standard = await creditsWith('default', undefined);
  t.is(fitted.credits.size, standard.credits.size);
  t.true(fitted.credits.size > 30);
  // other weights give other credit: the stored set was really used
  t.true([...fitted.credits].some(([k, v]) => Math.abs(v - standard.credits.get(k)!) > 1e-6));
});

test('an unknown conversion type is a clear configuration error', async (t) => {
  const r = await creditsWith('nope', undefined);
  t.regex(r.error ?? '', /nope/);
});

test('a stored row that is not a parameter set is ignored with a warning, not used', async (t) => {
  const r = await creditsWith('fitted', { weights: 'heavy' });
  t.regex(r.error ?? '', /fitted/);
});
