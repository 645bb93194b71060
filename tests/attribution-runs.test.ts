import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { startScriptedServer } from './helpers/ihc-testkit.js';
import { configWithProvider, freshDb, runCli } from './helpers/env.js';

/**
 * Issue 11 item 1 with real processes: a window attributed by one provider, then by an IHC-contract server on
 * 127.0.0.1 that fails some batches. The two providers' answers are never mixed.
 */

const W = ['--start-date', '2023-09-01', '--end-date', '2023-09-02'];
const SLUG = '2023-09-01_2023-09-02';

async function pipelineUpToJourneys(t: { teardown: (f: () => Promise<void>) => void }, build = true) {
  const env = await freshDb();
  t.teardown(env.cleanup);
  const cfg = configWithProvider(env.dir, { max_journeys_per_request: 5, max_retries: 0 });
  const base = { ATTRIBUTION_CONFIG: cfg, DATABASE_URL: env.url, OUTPUT_DIR: path.join(env.dir, 'out'), LOG_LEVEL: 'warn' };
  const gen = await runCli('generate-data', ['--out', path.join(env.dir, 'csv'), '--scale', '0.1', '--load'], base);
  if (gen.code !== 0) throw new Error(gen.stderr);
  if (build) {
    const b = await runCli('build-journeys', W, base);
    if (b.code !== 0) throw new Error(b.stderr);
  }
  return { ...env, base };
}

const providersUsed = async (db: import('knex').Knex): Promise<string[]> =>
  ((await db.raw(
    `SELECT DISTINCT b.provider AS p FROM attribution_customer_journey a
       JOIN api_results r ON r.conv_id = a.conv_id AND r.session_id = a.session_id
       JOIN api_batches b ON b.batch_id = r.batch_id ORDER BY p`,
  )) as Array<{ p: string }>).map((r) => r.p);

test('a provider that fails some batches: refused with exit 7 and the resume command; --allow-partial uses only its answers; switching back re-sends', async (t) => {
  const env = await pipelineUpToJourneys(t);
  const { db, base } = env;
  const local = await runCli('send-to-api', [...W, '--provider', 'local'], base);
  t.is(local.code, 0, local.stderr);
  const first = await runCli('process-attribution', [...W, '--models', 'none'], base);
  t.is(first.code, 0, first.stderr);

  // the server answers like the local engine but refuses every third request for good
  let failing = true;
  const server = await startScriptedServer((n) => (failing && n % 3 === 2 ? { kind: 'status', status: 400, body: '{"message":"scripted refusal"}' } : { kind: 'answer' }));
  t.teardown(server.close);
  const remote = await runCli('send-to-api', [...W, '--provider', server.url], { ...base, IHC_API_KEY: 'k-123456' });
  t.is(remote.code, 7, remote.stdout + remote.stderr);
  const failedIds = server.log.filter((r) => r.n % 3 === 2).flatMap((r) => r.convIds);
  t.true(failedIds.length > 0);

  const acjBefore = await db('attribution_customer_journey').select('*').orderBy(['conv_id', 'session_id']);
  const refused = await runCli('process-attribution', [...W, '--models', 'none'], base);
  t.is(refused.code, 7, refused.stderr);
  t.regex(refused.stderr, new RegExp(`${failedIds.length} journeys of the window have no answer from it \\(${failedIds.length} in failed batches\\), e\\.g\\. ${[...failedIds].sort()[0]}`));
  t.true(refused.stderr.includes(`send-to-api --start-date 2023-09-01 --end-date 2023-09-02 --provider ${server.url} --conv-type-id default`), refused.stderr);
  t.regex(refused.stderr, /--allow-partial/);
  t.deepEqual(await db('attribution_customer_journey').select('*').orderBy(['conv_id', 'session_id']), acjBefore, 'nothing changed');

  const partial = await runCli('process-attribution', [...W, '--models', 'none', '--allow-partial'], base);
  t.is(partial.code, 0, partial.stderr);
  t.regex(partial.stdout, new RegExp(`${failedIds.length} in failed batches`));
  t.deepEqual(await providersUsed(db), [server.url], 'no answer of the local engine is used');
  const credited = (await db('attribution_customer_journey').distinct('conv_id')) as Array<{ conv_id: string }>;
  t.false(credited.some((c) => failedIds.includes(c.conv_id)), 'the failed journeys keep no old credit');
  const csv = fs.readFileSync(path.join(env.dir, 'out', SLUG, 'channel_reporting.csv'), 'utf8').trim().split('\n');
  t.true(csv[0]!.endsWith(',provider,conv_type_id'));
  t.true(csv.slice(1).every((l) => l.endsWith(`,${server.url},default`)), csv[1]);
  const html = fs.readFileSync(path.join(env.dir, 'out', SLUG, 'report.html'), 'utf8');
  t.true(html.includes(`attribution server at ${new URL(server.url).host}, conversion type default`));

  // resume: only the failed batches go out again, then the run is complete
  failing = false;
  const sentBefore = server.log.length;
  const resumed = await runCli('send-to-api', [...W, '--provider', server.url], { ...base, IHC_API_KEY: 'k-123456' });
  t.is(resumed.code, 0, resumed.stderr);
  t.is(server.log.length - sentBefore, server.log.slice(0, sentBefore).filter((r) => r.n % 3 === 2).length);
  const full = await runCli('process-attribution', [...W, '--models', 'none'], base);
  t.is(full.code, 0, full.stderr);
  t.regex(full.stdout, / 0 failed/);

  // back to the local engine without --force: everything the server answered is re-sent
  const back = await runCli('send-to-api', [...W, '--provider', 'local'], base);
  t.is(back.code, 0, back.stderr);
  t.regex(back.stdout, /batches \d+ sent, 0 already done/);
  const again = await runCli('process-attribution', [...W, '--models', 'none'], base);
  t.is(again.code, 0, again.stderr);
  t.deepEqual(await providersUsed(db), ['local']);
  const csv2 = fs.readFileSync(path.join(env.dir, 'out', SLUG, 'channel_summary.csv'), 'utf8').trim().split('\n');
  t.true(csv2.slice(1).every((l) => l.endsWith(',local,default')));
  t.is(await db('attribution_runs').count({ n: '*' }).first().then((r) => Number(r?.['n'])), 4);
});

test('send-to-api and process-attribution before build-journeys: exit 4 naming the command to run', async (t) => {
  const env = await pipelineUpToJourneys(t, false);
  const send = await runCli('send-to-api', W, env.base);
  t.is(send.code, 4, send.stderr);
  t.regex(send.stderr, /no journeys were built for 2023-09-01\.\.2023-09-02 \(\d+ conversions in the window\): run build-journeys --start-date 2023-09-01 --end-date 2023-09-02 first/);
  const proc = await runCli('process-attribution', W, env.base);
  t.is(proc.code, 4, proc.stderr);
  t.regex(proc.stderr, /run build-journeys --start-date 2023-09-01 --end-date 2023-09-02 first/);
});

test('process-attribution when send-to-api never ran: exit 7 naming send-to-api', async (t) => {
  const env = await pipelineUpToJourneys(t);
  const proc = await runCli('process-attribution', W, env.base);
  t.is(proc.code, 7, proc.stderr);
  t.regex(proc.stderr, /send-to-api has not attributed 2023-09-01\.\.2023-09-02 yet: \d+ journeys have no answer .*Run: send-to-api --start-date 2023-09-01 --end-date 2023-09-02/);
});
