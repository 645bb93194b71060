import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { seedConversions, seedJourneys, seedSessions } from './helpers/reporting-seed.js';
import { freshDb, runCli } from './helpers/env.js';

/** Issue 11 item 5: a two-century window must not grow the stack with its 73,000 dates. */

test('process-attribution over 1900-01-01..2100-12-31 writes every output, report.html included', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedSessions(env.db, [
    { id: 's1', user: 'u1', date: '1900-01-01', time: '08:00:00', channel: 'Search', cost: 4 },
    { id: 's2', user: 'u1', date: '2100-12-30', time: '09:00:00', channel: 'Email', cost: 1 },
  ]);
  await seedConversions(env.db, [{ id: 'c1', user: 'u1', date: '2100-12-31', revenue: 80 }]);
  await seedJourneys(env.db, [{ conv: 'c1', sessions: ['s1', 's2'], answers: { s1: 0.25, s2: 0.75 } }]);
  const out = path.join(env.dir, 'out');
  const WIDE = ['--start-date', '1900-01-01', '--end-date', '2100-12-31'];
  const cli = { DATABASE_URL: env.url, OUTPUT_DIR: out, LOG_LEVEL: 'warn' };
  // the whole pipeline over the window: build-journeys (with its insights), send-to-api, process-attribution
  for (const task of ['build-journeys', 'send-to-api', 'process-attribution']) {
    const r = await runCli(task, WIDE, cli, { timeoutMs: 300_000 });
    t.is(r.code, 0, `${task}: ${r.stderr}`);
  }
  for (const f of ['journey_insights.csv', 'channel_reporting.csv', 'channel_summary.csv', 'model_comparison.csv', 'report.html']) {
    t.true(fs.existsSync(path.join(out, '1900-01-01_2100-12-31', f)), f);
  }
  t.deepEqual(fs.readdirSync(path.join(out, '1900-01-01_2100-12-31')).filter((f) => f.includes('.tmp')), []);
});
