import { spawn } from 'node:child_process';
import * as path from 'node:path';
import test from 'ava';
import { seedJourneys, startScriptedServer } from './helpers/ihc-testkit.js';
import { configWithProvider, driverUnderTest, freshDb, ROOT, runCli } from './helpers/env.js';

/** Rough edges of issue 11: killed runs leave a trace; fit-ihc refuses a name the config overrides. */

const W = ['--start-date', '2023-09-01', '--end-date', '2023-09-07'];

test('a send-to-api killed mid-run leaves pipeline_runs and attribution_runs rows "running", and process-attribution refuses the run', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: 30 });
  const cfg = configWithProvider(env.dir, { max_journeys_per_request: 5 });
  const server = await startScriptedServer(() => ({ kind: 'hang' }));
  t.teardown(server.close);
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks/send-to-api/main.js'), ...W, '--provider', server.url], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ATTRIBUTION_CONFIG: cfg, DATABASE_URL: env.url, DATABASE_SQLITE_CLIENT: driverUnderTest(), IHC_API_KEY: 'k-123456' },
    stdio: 'ignore',
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  for (let i = 0; i < 600 && server.log.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.true(server.log.length > 0, 'the run got as far as its first request');
  child.kill('SIGKILL');
  await closed;

  const runs = (await env.db('pipeline_runs').select('task', 'status', 'finished_at', 'window_start')) as Array<Record<string, unknown>>;
  t.deepEqual(runs, [{ task: 'send-to-api', status: 'running', finished_at: null, window_start: '2023-09-01' }]);
  const attribution = (await env.db('attribution_runs').select('provider', 'status')) as Array<Record<string, unknown>>;
  t.deepEqual(attribution, [{ provider: server.url, status: 'running' }]);

  const proc = await runCli('process-attribution', [...W, '--models', 'none'], { ATTRIBUTION_CONFIG: cfg, DATABASE_URL: env.url, OUTPUT_DIR: path.join(env.dir, 'out') });
  t.is(proc.code, 7, proc.stderr);
  t.regex(proc.stderr, /did not finish \(still running or killed\).*Resume with: send-to-api --start-date 2023-09-01 --end-date 2023-09-07 --provider http:\/\/127\.0\.0\.1:\d+ --conv-type-id default/);
  // a finished run closes its own row
  const closedRuns = (await env.db('pipeline_runs').where('task', 'process-attribution').select('status', 'finished_at')) as Array<Record<string, unknown>>;
  t.is(closedRuns.length, 1);
  t.is(closedRuns[0]!['status'], 'failed');
  t.truthy(closedRuns[0]!['finished_at']);
});

test('fit-ihc --name of a conversion type the config defines is refused (exit 2) and nothing is saved', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: 50 });
  const r = await runCli('fit-ihc', [...W, '--name', 'default'], { DATABASE_URL: env.url });
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /conversion type "default" is defined in the config \(models\.conversion_types\), which always wins .* e\.g\. --name default_fitted/);
  t.is(Number((await env.db('conversion_types').count({ n: '*' }).first())?.['n']), 0);
});
