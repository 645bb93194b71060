import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import type { Config } from '../shared/config.js';
import { EXIT_CODES } from '../shared/errors.js';
import { sendToApi } from '../shared/ihc/send.js';
import { seedJourneys, startScriptedServer, type Action, type ScriptedServer } from './helpers/ihc-testkit.js';
import type { Timing } from '../shared/ihc/retry.js';
import { freshDb, testCaps } from './helpers/env.js';

/**
 * The client against a server that misbehaves on purpose. ky sleeps between retries (backoff is kept at a few
 * milliseconds here) and each wait is recorded, so Retry-After is checked by value; per-attempt timeouts are real.
 */

const KEY = 'test-key-5f3a9c1e77';
const WINDOW = { start: '2023-09-01', end: '2023-09-07' };
const JOURNEYS = 120;

type Env = Awaited<ReturnType<typeof freshDb>>;

function fastTiming(): Timing & { slept: number[] } {
  const slept: number[] = [];
  return { now: () => Date.now(), random: () => 0.5, waited: (ms) => void slept.push(ms), slept };
}

function withProvider(c: Config, p: Partial<Config['provider']>): Config {
  return {
    ...c,
    provider: { ...c.provider, max_journeys_per_request: 20, max_sessions_per_request: 200, concurrency: 2, backoff_initial_ms: 1, backoff_max_ms: 5, attempt_timeout_ms: 5000, ...p },
  };
}

async function send(env: Env, provider: string, p: Partial<Config['provider']> = {}, opts: { force?: boolean; timing?: Timing; key?: string | null } = {}) {
  const caps = testCaps(env.db, withProvider(env.config, p), { env: opts.key === null ? {} : { IHC_API_KEY: opts.key ?? KEY } });
  return sendToApi({ provider, force: opts.force ?? false, window: WINDOW }, caps, { timing: opts.timing ?? fastTiming() })();
}

type Results = Map<string, { initializer: number; holder: number; closer: number; ihc: number }>;
async function results(db: Knex): Promise<Results> {
  const rows = (await db('api_results').select('*')) as Array<{ conv_id: string; session_id: string; initializer: number; holder: number; closer: number; ihc: number }>;
  return new Map(rows.map((r) => [`${r.conv_id}|${r.session_id}`, { initializer: r.initializer, holder: r.holder, closer: r.closer, ihc: r.ihc }]));
}

function assertSame(t: import('ava').ExecutionContext, a: Results, b: Results): void {
  t.is(a.size, b.size);
  let worst = 0;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) {
      t.fail(`missing ${k}`);
      return;
    }
    for (const f of ['initializer', 'holder', 'closer', 'ihc'] as const) worst = Math.max(worst, Math.abs(v[f] - w[f]));
  }
  t.true(worst <= 1e-9, `largest difference ${worst}`);
}

/** A database with seeded journeys and the local provider's results as the reference. */
async function prepared(t: import('ava').ExecutionContext): Promise<{ env: Env; local: Results; sessions: number }> {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: JOURNEYS });
  const r = await send(env, 'local');
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  t.is(r.right.exitCode, undefined, r.right.summary);
  const local = await results(env.db);
  const sessions = Number(((await env.db('journey_sessions').count({ n: '*' }).first()) as { n: number }).n);
  t.is(local.size, sessions);
  return { env, local, sessions };
}

async function server(t: import('ava').ExecutionContext, script: (n: number) => Action): Promise<ScriptedServer> {
  const s = await startScriptedServer((n) => script(n));
  t.teardown(s.close);
  return s;
}

const batchesOf = async (db: Knex) => (await db('api_batches').select('status', 'provider', 'error', 'http_status', 'attempts')) as Array<Record<string, unknown>>;

test('recovers from a burst of 500/502/503 and gives the same results as the local provider', async (t) => {
  const { env, local } = await prepared(t);
  const s = await server(t, (n) => (n <= 3 ? { kind: 'status', status: [500, 502, 503][n - 1]! } : { kind: 'answer' }));
  const r = await send(env, s.url);
  t.true(E.isRight(r));
  if (E.isLeft(r)) return;
  t.is(r.right.exitCode, undefined, r.right.summary);
  t.regex(r.right.summary, /0 failed/);
  t.regex(r.right.summary, /journeys 120 attributed, 0 not attributed/);
  assertSame(t, await results(env.db), local);
  const batches = (await batchesOf(env.db)).filter((b) => b['provider'] !== 'local');
  t.true(batches.every((b) => b['status'] === 'succeeded'));
  t.is(s.log.length, batches.length + 3);
  t.true(s.log.every((q) => q.headers['x-api-key'] === KEY));
});

test('429 with Retry-After: waits as asked, then succeeds', async (t) => {
  const { env, local } = await prepared(t);
  const s = await server(t, (n) => (n === 1 ? { kind: 'status', status: 429, headers: { 'retry-after': '2' } } : { kind: 'answer' }));
  const timing = fastTiming();
  const r = await send(env, s.url, { concurrency: 1 }, { timing });
  t.true(E.isRight(r) && r.right.exitCode === undefined);
  t.deepEqual(timing.slept, [2000]);
  assertSame(t, await results(env.db), local);
});

test('an answer slower than the attempt timeout is abandoned and the batch retried', async (t) => {
  const { env, local } = await prepared(t);
  // the first answer never comes; only the per-attempt timeout gets the run past it
  const s = await server(t, (n) => (n === 1 ? { kind: 'hang' } : { kind: 'answer' }));
  const r = await send(env, s.url, { attempt_timeout_ms: 1000, concurrency: 1 });
  t.true(E.isRight(r) && r.right.exitCode === undefined, JSON.stringify(r));
  t.is(s.log[0]!.bodySha, s.log[1]!.bodySha);
  assertSame(t, await results(env.db), local);
  // at least one retry: on a loaded machine the retried attempt can itself pass the 1 s timeout
  t.true((await batchesOf(env.db)).some((b) => Number(b['attempts']) >= 2));
});

test('dropped connections are retried', async (t) => {
  const { env, local } = await prepared(t);
  const s = await server(t, (n) => (n <= 2 ? { kind: 'drop' } : { kind: 'answer' }));
  const r = await send(env, s.url);
  t.true(E.isRight(r) && r.right.exitCode === undefined);
  if (E.isRight(r)) t.regex(r.right.summary, /2 retried/);
  assertSame(t, await results(env.db), local);
});

test('malformed JSON fails its batch with the reason; nothing of it is written onward', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: JOURNEYS });
  const s = await server(t, (n) => (n === 1 ? { kind: 'raw', status: 200, text: '{"statusCode": 200, "value": [{"conv' } : { kind: 'answer' }));
  const r = await send(env, s.url, { concurrency: 1 });
  t.true(E.isRight(r));
  if (E.isLeft(r)) return;
  t.is(r.right.exitCode, EXIT_CODES.ProviderError);
  t.regex(r.right.summary, /1 failed/);
  const failedIds = s.log[0]!.convIds;
  t.is(failedIds.length, 20);
  t.is(Number(((await env.db('api_results').whereIn('conv_id', failedIds).count({ n: '*' }).first()) as { n: number }).n), 0);
  const failures = (await env.db('api_failures').select('conv_id', 'reason')) as Array<{ conv_id: string; reason: string }>;
  t.deepEqual(failures.map((f) => f.conv_id).sort(), [...failedIds].sort());
  t.regex(failures[0]!.reason, /not valid JSON/);
  const failedBatch = (await batchesOf(env.db)).filter((b) => b['status'] === 'failed');
  t.is(failedBatch.length, 1);
  t.regex(String(failedBatch[0]!['error']), /not valid JSON/);
  // the next run re-sends only the failed batch and clears its failures
  const again = await send(env, s.url);
  t.true(E.isRight(again) && again.right.exitCode === undefined);
  t.is(s.log.length, 6 + 1);
  t.is(Number(((await env.db('api_failures').count({ n: '*' }).first()) as { n: number }).n), 0);
});

test('answers with missing or extra sessions fail their batch', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: JOURNEYS });
  const s = await server(t, (n) => {
    if (n === 1) return { kind: 'answer', mutate: (r) => ({ ...r, body: { ...r.body, value: (r.body['value'] as unknown[]).slice(1) } }) };
    if (n === 2) {
      return {
        kind: 'answer',
        mutate: (r) => {
          const v = r.body['value'] as Array<Record<string, unknown>>;
          return { ...r, body: { ...r.body, value: [...v, { ...v[0], session_id: 'invented' }] } };
        },
      };
    }
    return { kind: 'answer' };
  });
  const r = await send(env, s.url, { concurrency: 1 });
  t.true(E.isRight(r) && r.right.exitCode === EXIT_CODES.ProviderError);
  const failed = (await batchesOf(env.db)).filter((b) => b['status'] === 'failed').map((b) => String(b['error']));
  t.is(failed.length, 2);
  t.true(failed.some((e) => /misses 1 session/.test(e)));
  t.true(failed.some((e) => /invented.*not sent/.test(e)));
  const ids = [...s.log[0]!.convIds, ...s.log[1]!.convIds];
  t.is(Number(((await env.db('api_results').whereIn('conv_id', ids).count({ n: '*' }).first()) as { n: number }).n), 0);
  t.is(Number(((await env.db('api_results').count({ n: '*' }).first()) as { n: number }).n) > 0, true);
});

test('a 206 keeps the good values and records each failed journey with its reason', async (t) => {
  const { env, local } = await prepared(t);
  const s = await server(t, (n) =>
    n === 1
      ? {
          kind: 'answer',
          mutate: (r) => {
            const v = r.body['value'] as Array<{ conversion_id: string }>;
            const victim = v[0]!.conversion_id;
            return { status: 206, body: { statusCode: 206, value: v.filter((x) => x.conversion_id !== victim), partialFailureErrors: [{ conversion_id: victim, error: 'could not parse journey' }] } };
          },
        }
      : { kind: 'answer' },
  );
  const r = await send(env, s.url, { concurrency: 1 });
  t.true(E.isRight(r) && r.right.exitCode === undefined);
  if (E.isRight(r)) t.regex(r.right.summary, /119 attributed, 1 not attributed/);
  const victim = s.log[0]!.convIds[0]!;
  const failures = (await env.db('api_failures').select('*')) as Array<{ conv_id: string; reason: string; batch_id: string }>;
  t.is(failures.length, 1);
  t.is(failures[0]!.conv_id, victim);
  t.is(failures[0]!.reason, 'could not parse journey');
  const res = await results(env.db);
  t.false([...res.keys()].some((k) => k.startsWith(`${victim}|`)));
  t.is(res.size, local.size - [...local.keys()].filter((k) => k.startsWith(`${victim}|`)).length);
  const statuses = (await batchesOf(env.db)).map((b) => b['status']);
  t.is(statuses.filter((x) => x === 'partial').length, 1);
});

test('retries exhausted: exit 7, the batch recorded failed, nothing written onward, no new batches started', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: JOURNEYS });
  const s = await server(t, () => ({ kind: 'status', status: 503 }));
  const r = await send(env, s.url, { max_retries: 2, concurrency: 2 });
  t.true(E.isRight(r));
  if (E.isLeft(r)) return;
  t.is(r.right.exitCode, EXIT_CODES.ProviderError);
  t.regex(r.right.summary, /stopped early: .*gave up after 3 attempt\(s\); last: HTTP 503/);
  t.is(Number(((await env.db('api_results').count({ n: '*' }).first()) as { n: number }).n), 0);
  const batches = await batchesOf(env.db);
  t.true(batches.length >= 1 && batches.length <= 2);
  t.true(batches.every((b) => b['status'] === 'failed' && b['attempts'] === 3 && b['http_status'] === null));
  t.true(s.log.length <= 2 * 3);
});

test('a refused key (401/403) stops the run with the server message and never the key', async (t) => {
  for (const status of [401, 403]) {
    const env = await freshDb();
    t.teardown(env.cleanup);
    await seedJourneys(env.db, { journeys: 30 });
    const s = await server(t, () => ({ kind: 'status', status, body: JSON.stringify({ message: 'key revoked for tenant 12' }) }));
    const r = await send(env, s.url, { concurrency: 1 });
    t.true(E.isLeft(r));
    if (E.isRight(r)) return;
    t.is(r.left._tag, 'ProviderError');
    t.regex(r.left.message, new RegExp(`refused the API key \\(HTTP ${status}\\): key revoked for tenant 12`));
    t.false(r.left.message.includes(KEY));
    t.is(s.log.length, 1);
    t.is((await batchesOf(env.db)).length, 0);
  }
});

test('a 400 is not retried and is reported with the server message', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: 30 });
  const s = await server(t, () => ({ kind: 'status', status: 400, body: JSON.stringify({ message: 'invalid request: customer_journeys[3].timestamp: bad' }) }));
  const r = await send(env, s.url, { concurrency: 1 });
  t.true(E.isRight(r) && r.right.exitCode === EXIT_CODES.ProviderError);
  t.is(s.log.length, 2);
  const errors = (await batchesOf(env.db)).map((b) => String(b['error']));
  t.true(errors.every((e) => /HTTP 400\): invalid request: customer_journeys\[3\]\.timestamp: bad/.test(e)));
});

test('provider ihc without IHC_API_KEY is a config error before any work', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: 10 });
  const s = await server(t, () => ({ kind: 'answer' }));
  const cfg = { ...env.config, provider: { ...env.config.provider, ihc_base_url: s.url } };
  const r = await sendToApi({ provider: 'ihc', force: false, window: WINDOW }, testCaps(env.db, cfg, { env: {} }))();
  t.true(E.isLeft(r));
  if (E.isLeft(r)) {
    t.is(r.left._tag, 'ConfigError');
    t.regex(r.left.message, /IHC_API_KEY/);
  }
  t.is(s.log.length, 0);
  // with the key, the vendor path is the same as any URL
  const ok = await sendToApi({ provider: 'ihc', force: false, window: WINDOW }, testCaps(env.db, cfg, { env: { IHC_API_KEY: KEY } }), { timing: fastTiming() })();
  t.true(E.isRight(ok) && ok.right.exitCode === undefined);
  t.true(s.log.length > 0 && s.log.every((q) => q.url.startsWith('/v1/compute_ihc?conv_type_id=default')));
  t.true(((await env.db('api_batches').select('provider')) as Array<{ provider: string }>).every((b) => b.provider === 'ihc'));
});

test('opaque ids: no real id leaves, answers map back to the same results', async (t) => {
  const { env, local } = await prepared(t);
  const s = await server(t, () => ({ kind: 'answer' }));
  const r = await send(env, s.url, { opaque_ids: true });
  t.true(E.isRight(r) && r.right.exitCode === undefined);
  t.true(s.log.length > 0);
  for (const q of s.log) {
    t.false(q.body.includes('conv0'), 'a real conversion or session id was sent');
    t.true(q.convIds.every((c) => /^c\d+$/.test(c)));
  }
  assertSame(t, await results(env.db), local);
});

test('a re-run with unchanged journeys sends nothing; --force re-sends; a changed journey re-sends only its batch', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: JOURNEYS });
  const s = await server(t, () => ({ kind: 'answer' }));
  const first = await send(env, s.url);
  t.true(E.isRight(first));
  const sent = s.log.length;
  t.is(sent, 6);
  const second = await send(env, s.url);
  t.is(s.log.length, sent);
  if (E.isRight(second)) t.regex(second.right.summary, /batches 0 sent, 6 already done.*120 attributed/);
  await send(env, s.url, {}, { force: true });
  t.is(s.log.length, 2 * sent);
  await env.db('journey_sessions').where({ conv_id: 'conv000050', position: 0 }).update({ channel_name: 'Changed' });
  await send(env, s.url);
  t.is(s.log.length, 2 * sent + 1);
  t.true(s.log.at(-1)!.convIds.includes('conv000050'));
  // the key reaches the server but no stored row
  const dump = JSON.stringify([await env.db('api_batches').select('*'), await env.db('api_results').select('*'), await env.db('api_failures').select('*')]);
  t.false(dump.includes(KEY));
});

test('oversize journeys: keep_latest sends the latest sessions and says so; skip records them as not attributed', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedJourneys(env.db, { journeys: 10, sessionsOf: (i) => (i === 3 ? 30 : 3) });
  const keep = await send(env, 'local', { max_sessions_per_request: 10 });
  t.true(E.isRight(keep));
  if (E.isRight(keep)) t.regex(keep.right.summary, /10 attributed, 0 not attributed, 1 truncated/);
  const rows = (await env.db('api_results').where('conv_id', 'conv000003').orderBy('session_id')) as Array<{ session_id: string; ihc: number }>;
  t.deepEqual(rows.map((r) => r.session_id), Array.from({ length: 10 }, (_, k) => `conv000003-s${String(20 + k).padStart(4, '0')}`));
  const skip = await send(env, 'local', { max_sessions_per_request: 10, oversize_journey: 'skip' });
  t.true(E.isRight(skip));
  if (E.isRight(skip)) t.regex(skip.right.summary, /9 attributed, 1 not attributed/);
  const f = (await env.db('api_failures').select('*')) as Array<{ conv_id: string; reason: string; batch_id: string | null }>;
  t.deepEqual(f.map((x) => [x.conv_id, x.batch_id]), [['conv000003', null]]);
  t.regex(f[0]!.reason, /30 sessions.*skipped/);
  t.is(Number(((await env.db('api_results').where('conv_id', 'conv000003').count({ n: '*' }).first()) as { n: number }).n), 0);
});
