import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import test from 'ava';
import type { Knex } from 'knex';
import { seedJourneys, startScriptedServer } from './helpers/ihc-testkit.js';
import { configWithProvider, driverUnderTest, freshDb, ROOT, runCli } from './helpers/env.js';

/** End to end with real processes: the attribution-api CLI on 127.0.0.1 and the send-to-api CLI against it. */

const KEY = 'e2e-key-3b9f51c0aa';
const WINDOW = ['--start-date', '2023-09-01', '--end-date', '2023-09-07'];

type Row = { conv_id: string; session_id: string; initializer: number; holder: number; closer: number; ihc: number };
async function snapshot(db: Knex): Promise<Map<string, Row>> {
  const rows = (await db('api_results').select('*')) as Row[];
  return new Map(rows.map((r) => [`${r.conv_id}|${r.session_id}`, r]));
}

function startApi(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks/attribution-api/main.js'), '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`attribution-api did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, stderr: () => err });
      }
    });
    child.on('close', (code) => reject(new Error(`attribution-api exited ${code}: ${err}`)));
  });
}

test('send-to-api against the real attribution-api gives the local provider results to 1e-9', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: 700, sessionsOf: (i) => (i % 97 === 0 ? 40 : 1 + (i % 11)) });
  const cfg = configWithProvider(env.dir, { max_journeys_per_request: 50, max_sessions_per_request: 400 });
  const base = { ATTRIBUTION_CONFIG: cfg, DATABASE_URL: env.url };

  const local = await runCli('send-to-api', [...WINDOW, '--provider', 'local'], base);
  t.is(local.code, 0, local.stderr);
  t.regex(local.stdout, /journeys 700 attributed, 0 not attributed/);
  const expected = await snapshot(env.db);

  const api = await startApi({ PATH: process.env['PATH'], HOME: process.env['HOME'], ...base, DATABASE_SQLITE_CLIENT: driverUnderTest(), ATTRIBUTION_API_KEYS: `other-key,${KEY}` });
  const closed = new Promise<number | null>((resolve) => api.child.on('close', (c) => resolve(c)));
  t.teardown(() => void api.child.kill('SIGKILL'));
  const remote = await runCli('send-to-api', [...WINDOW, '--provider', api.url], { ...base, IHC_API_KEY: KEY });
  t.is(remote.code, 0, remote.stderr);
  t.regex(remote.stdout, /batches \d+ sent, 0 already done, 0 retried \(0 retries\), 0 failed; journeys 700 attributed, 0 not attributed of 700/);
  t.log(local.stdout.trim());
  t.log(remote.stdout.trim());
  const got = await snapshot(env.db);
  t.is(got.size, expected.size);
  let worst = 0;
  for (const [k, e] of expected) {
    const g = got.get(k)!;
    for (const f of ['initializer', 'holder', 'closer', 'ihc'] as const) worst = Math.max(worst, Math.abs(g[f] - e[f]));
  }
  t.true(worst <= 1e-9, `largest difference ${worst}`);
  t.true(((await env.db('api_batches').distinct('provider')) as Array<{ provider: string }>).some((p) => p.provider === api.url));

  // a wrong key: exit 7 with the server's words, and the key is nowhere in the output
  const refused = await runCli('send-to-api', [...WINDOW, '--provider', api.url, '--force'], { ...base, IHC_API_KEY: 'wrong-key-123' });
  t.is(refused.code, 7);
  t.regex(refused.stderr, /refused the API key \(HTTP 403\): the API key in x-api-key is not valid/);
  t.false(`${refused.stdout}${refused.stderr}`.includes('wrong-key-123'));
  // a missing key for the vendor provider: exit 3 before any work
  const noKey = await runCli('send-to-api', [...WINDOW, '--provider', 'ihc'], base);
  t.is(noKey.code, 3);
  t.regex(noKey.stderr, /IHC_API_KEY/);

  api.child.kill('SIGTERM');
  t.is(await closed, 0);
  t.false(api.stderr().includes(KEY));
});

test('killed between batches, a re-run resumes: no batch answered twice, every journey attributed', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: 400 });
  // first run: three batches are answered, then the server holds every request until the client is killed,
  // so the kill falls between completed batches; the second run is answered normally
  let resumed = false;
  const server = await startScriptedServer((n) => (resumed || n <= 3 ? { kind: 'answer', delayMs: 50 } : { kind: 'hang' }));
  t.teardown(server.close);
  const cfg = configWithProvider(env.dir, { max_journeys_per_request: 20, concurrency: 2 });
  const childEnv = {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    ATTRIBUTION_CONFIG: cfg,
    DATABASE_URL: env.url,
    DATABASE_SQLITE_CLIENT: driverUnderTest(),
    IHC_API_KEY: KEY,
  };
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks/send-to-api/main.js'), ...WINDOW, '--provider', server.url], { env: childEnv, stdio: 'ignore' });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const countBatches = async () => Number(((await env.db('api_batches').count({ n: '*' }).first()) as { n: number }).n);
  const deadline = Date.now() + 60_000;
  while ((await countBatches()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  const first = await exited;
  t.is(first.signal, 'SIGKILL');
  const recorded = await countBatches();
  t.is(recorded, 3);
  const firstRunRequests = server.log.length;
  resumed = true;

  const again = await runCli('send-to-api', [...WINDOW, '--provider', server.url], { ...childEnv });
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, new RegExp(`${20 - recorded} sent, ${recorded} already done.*journeys 400 attributed, 0 not attributed`));

  const answered = server.log.filter((q) => q.answered);
  const shas = answered.map((q) => q.bodySha);
  t.is(new Set(shas).size, shas.length, 'a batch was answered twice');
  t.is(answered.length, 20);
  // every batch completed before the kill was skipped by the re-run; only the ones in flight at the kill were sent again
  const secondRun = server.log.slice(firstRunRequests);
  const firstRunAnswered = new Set(server.log.slice(0, firstRunRequests).filter((q) => q.answered).map((q) => q.bodySha));
  t.false(secondRun.some((q) => firstRunAnswered.has(q.bodySha)));
  t.true(firstRunRequests - firstRunAnswered.size <= 2, 'at most `concurrency` requests were in flight');
  const convs = Number(((await env.db('api_results').countDistinct({ n: 'conv_id' }).first()) as { n: number }).n);
  t.is(convs, 400);
  t.true(((await env.db('api_batches').select('status')) as Array<{ status: string }>).every((b) => b.status === 'succeeded'));
});
