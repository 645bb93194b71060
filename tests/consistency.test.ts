import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { attributeWindow } from '../shared/reporting/attribute.js';
import { seedConversions, seedJourneys, seedSessions } from './helpers/reporting-seed.js';
import { freshDb, runCli } from './helpers/env.js';

/** Issue 11 item 4: every consistency failure names its rows; no Infinity or NaN reaches an output. */

const W = ['--start-date', '2023-09-01', '--end-date', '2023-09-02'];

async function huge(t: { teardown: (f: () => Promise<void>) => void }) {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedSessions(env.db, [
    { id: 's1', user: 'u1', date: '2023-09-01', time: '08:00:00', channel: 'Search', cost: 4 },
    { id: 's2', user: 'u2', date: '2023-09-01', time: '09:00:00', channel: 'Search', cost: 1 },
    { id: 's3', user: 'u3', date: '2023-09-01', time: '09:00:00', channel: 'Email', cost: 1 },
  ]);
  await seedConversions(env.db, [
    { id: 'big1', user: 'u1', date: '2023-09-02', revenue: 1e308 },
    { id: 'big2', user: 'u2', date: '2023-09-02', revenue: 1e308 },
    { id: 'small', user: 'u3', date: '2023-09-02', revenue: 20 },
  ]);
  await seedJourneys(env.db, [
    { conv: 'big1', sessions: ['s1'], answers: 'equal' },
    { conv: 'big2', sessions: ['s2'], answers: 'equal' },
    { conv: 'small', sessions: ['s3'], answers: 'equal' },
  ]);
  return env;
}

test('revenues whose sums overflow: exit 8 naming the conversions, tables and outputs untouched', async (t) => {
  const env = await huge(t);
  const out = path.join(env.dir, 'out');
  const r = await runCli('process-attribution', W, { DATABASE_URL: env.url, OUTPUT_DIR: out });
  t.is(r.code, 8, r.stderr);
  t.regex(r.stderr, /big1/);
  t.regex(r.stderr, /big2/);
  t.notRegex(r.stderr, /small/);
  t.false(fs.existsSync(out));
  t.is(Number((await env.db('channel_reporting').count({ n: '*' }).first())?.['n']), 0);
});

test('journey_insights.csv never holds Infinity or NaN', async (t) => {
  const env = await huge(t);
  const out = path.join(env.dir, 'out');
  const r = await runCli('build-journeys', W, { DATABASE_URL: env.url, OUTPUT_DIR: out });
  t.is(r.code, 0, r.stderr);
  const csv = fs.readFileSync(path.join(out, '2023-09-01_2023-09-02', 'journey_insights.csv'), 'utf8');
  t.notRegex(csv, /Infinity|NaN/);
  t.regex(r.stderr, /big1|big2/, 'the conversions behind the missing numbers are named');
});

test('a credited session missing from session_sources is named with its conversion', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedSessions(env.db, [{ id: 's1', user: 'u1', date: '2023-09-01', time: '08:00:00', channel: 'Search', cost: 4 }]);
  await seedConversions(env.db, [{ id: 'ok', user: 'u1', date: '2023-09-01', revenue: 10 }]);
  await seedJourneys(env.db, [{ conv: 'ok', sessions: ['s1'], answers: 'equal' }]);
  await env.db('session_sources').where({ session_id: 's1' }).delete();
  const r = await attributeWindow(env.db, { start: '2023-09-01', end: '2023-09-02' }, { sumTolerance: 1e-6 })();
  t.true(E.isLeft(r));
  if (E.isLeft(r)) t.regex(JSON.stringify(r.left), /conversion ok, session s1/);
});
