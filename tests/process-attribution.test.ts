import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { seedConversions, seedJourneys, seedSessions } from './helpers/reporting-seed.js';
import { freshDb, runCli } from './helpers/env.js';

async function seeded(t: { teardown: (f: () => Promise<void>) => void }) {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedSessions(env.db, [
    { id: 's1', user: 'u1', date: '2023-09-01', time: '08:00:00', channel: 'Search', cost: 4 },
    { id: 's2', user: 'u1', date: '2023-09-02', time: '09:00:00', channel: 'Email', cost: 1 },
    { id: 's3', user: 'u3', date: '2023-09-02', time: '09:00:00', channel: 'Display', cost: 6 },
  ]);
  await seedConversions(env.db, [
    { id: 'c1', user: 'u1', date: '2023-09-02', revenue: 80 },
    { id: 'c2', user: 'u2', date: '2023-09-02', revenue: 20 },
  ]);
  await seedJourneys(env.db, [
    { conv: 'c1', sessions: ['s1', 's2'], answers: { s1: 0.25, s2: 0.75 } },
    { conv: 'c2', sessions: [], failure: 'no sessions' },
  ]);
  return env;
}

const ARGS = ['--start-date', '2023-09-01', '--end-date', '2023-09-02'];

test('process-attribution CLI: writes the tables and the four outputs, prints reconciliation, summary table and one summary line', async (t) => {
  const { url, dir } = await seeded(t);
  const out = path.join(dir, 'out');
  const r = await runCli('process-attribution', ARGS, { DATABASE_URL: url, OUTPUT_DIR: out, LOG_LEVEL: 'warn' });
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(
    lines[lines.length - 1],
    `process-attribution: 2023-09-01..2023-09-02: 1 conversions attributed (1 without journey, 0 failed), 3 channel-days recomputed, revenue reconciled; outputs in ${path.join(out, '2023-09-01_2023-09-02')}, open ${path.join(out, '2023-09-01_2023-09-02', 'report.html')} first`,
  );
  t.regex(r.stdout, /revenue: +sum of ihc_revenue €80\.00 = revenue of the attributed conversions €80\.00/);
  t.regex(r.stdout, /Search +€4\.00 +0\.25 +€20\.00 +€16\.00 +5\.00/);
  for (const f of ['channel_reporting.csv', 'channel_summary.csv', 'model_comparison.csv', 'report.html']) {
    t.true(fs.existsSync(path.join(out, '2023-09-01_2023-09-02', f)), f);
  }
  t.is(r.stderr, '');
});

test('process-attribution CLI: exit 8 and unchanged tables when ihc does not sum to 1', async (t) => {
  const { db, url, dir } = await seeded(t);
  await db('api_results').where({ conv_id: 'c1', session_id: 's1' }).update({ ihc: 0.3 });
  const r = await runCli('process-attribution', ARGS, { DATABASE_URL: url, OUTPUT_DIR: path.join(dir, 'out') });
  t.is(r.code, 8);
  t.regex(r.stderr, /ihc does not sum to 1 .* for 1 conversion/);
  t.regex(r.stderr, /conversion c1: sum 1\.05/);
  t.is((await db('attribution_customer_journey').count({ n: '*' }))[0]!['n'], 0);
  t.is((await db('channel_reporting').count({ n: '*' }))[0]!['n'], 0);
  t.false(fs.existsSync(path.join(dir, 'out', '2023-09-01_2023-09-02')));
});

test('process-attribution CLI: an unknown model is a usage error (exit 2)', async (t) => {
  const { url, dir } = await seeded(t);
  const r = await runCli('process-attribution', [...ARGS, '--models', 'linear,bogus'], { DATABASE_URL: url, OUTPUT_DIR: path.join(dir, 'out') });
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown model "bogus"/);
});

test('process-attribution CLI: a database without the schema is refused with exit 5', async (t) => {
  const env = await freshDb({ migrate: false });
  t.teardown(env.cleanup);
  const r = await runCli('process-attribution', ARGS, { DATABASE_URL: env.url, OUTPUT_DIR: path.join(env.dir, 'out') });
  t.is(r.code, 5);
  t.regex(r.stderr, /setup-db/);
});
