import test from 'ava';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { DEFAULT_IHC_PARAMS } from '../shared/attribution/params.js';
import { checkAnswer } from '../shared/ihc/answer.js';
import { fitJourney, packBatches, type Batch } from '../shared/ihc/batching.js';
import * as E from 'fp-ts/lib/Either.js';
import { AnswerCodec, answerRequest, bodyOf, ContractSessionCodec, type ContractJourney, type ContractSession } from '../shared/ihc/contract.js';
import { toOpaque } from '../shared/ihc/opaque.js';
import { computeUrl } from '../shared/ihc/provider.js';
import { parseRetryAfter, postWithRetry, type RetryPolicy, type Timing } from '../shared/ihc/retry.js';
import { startScriptedServer, type Action } from './helpers/ihc-testkit.js';
import { fingerprint } from '../shared/ihc/staging.js';

const session = (conv: string, i: number, n: number, over: Partial<ContractSession> = {}): ContractSession => ({
  conversion_id: conv,
  session_id: `${conv}-${i}`,
  timestamp: `2023-09-01 ${String(i % 24).padStart(2, '0')}:00:00`,
  channel_label: i % 2 === 0 ? 'SEO' : 'Direct',
  holder_engagement: (i % 2) as 0 | 1,
  closer_engagement: i === n - 1 ? 1 : 0,
  conversion: i === n - 1 ? 1 : 0,
  impression_interaction: 0,
  ...over,
});
const journey = (conv: string, n: number): ContractJourney => ({
  conversionId: conv,
  sessions: Array.from({ length: n }, (_, i) => session(conv, i, n)),
});

async function collect(g: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of g) out.push(b);
  return out;
}

test('batches respect both limits and never split a journey', async (t) => {
  const sizes = [5, 1, 9, 3, 3, 10, 2, 7, 1, 1, 1, 4];
  const js = sizes.map((n, i) => journey(`c${i}`, n));
  const batches = await collect(packBatches(js, { maxJourneys: 3, maxSessions: 10, oversize: 'skip' }));
  const seen: string[] = [];
  for (const b of batches) {
    t.true(b.journeys.length <= 3);
    t.true(b.sessions <= 10);
    t.is(b.sessions, b.journeys.reduce((s, j) => s + j.sessions.length, 0));
    for (const j of b.journeys) {
      seen.push(j.conversionId);
      t.is(j.sessions.length, sizes[Number(j.conversionId.slice(1))]!);
    }
  }
  t.deepEqual(seen, js.map((j) => j.conversionId));
  // same input, same batches: what makes re-run fingerprints match
  const again = await collect(packBatches(js, { maxJourneys: 3, maxSessions: 10, oversize: 'skip' }));
  t.deepEqual(again.map((b) => fingerprint('p', 'x', bodyOf(b.journeys))), batches.map((b) => fingerprint('p', 'x', bodyOf(b.journeys))));
});

test('oversize journeys: keep_latest keeps the converting session, skip reports it', async (t) => {
  const big = journey('big', 12);
  const kept = fitJourney(big, 5, 'keep_latest');
  t.is(kept.journey?.sessions.length, 5);
  t.deepEqual(kept.journey?.sessions.map((s) => s.session_id), ['big-7', 'big-8', 'big-9', 'big-10', 'big-11']);
  t.is(kept.journey?.sessions.at(-1)?.conversion, 1);
  t.deepEqual(kept.notice, { kind: 'truncated', conversionId: 'big', from: 12, to: 5 });
  const notices: unknown[] = [];
  const batches = await collect(packBatches([journey('a', 2), big, { conversionId: 'empty', sessions: [] }], { maxJourneys: 10, maxSessions: 5, oversize: 'skip' }, (n) => notices.push(n)));
  t.deepEqual(batches.flatMap((b) => b.journeys.map((j) => j.conversionId)), ['a']);
  t.deepEqual(notices, [{ kind: 'oversize_skipped', conversionId: 'big', sessions: 12 }, { kind: 'empty', conversionId: 'empty' }]);
});

const answerOf = (js: ContractJourney[]) => answerRequest(bodyOf(js), DEFAULT_IHC_PARAMS, { maxJourneys: 100, maxSessions: 3000 });

test('checkAnswer accepts a correct answer and refuses missing, extra, duplicate, out-of-range and non-summing values', (t) => {
  const js = [journey('a', 3), journey('b', 2)];
  const reply = answerOf(js);
  t.is(reply.status, 200);
  const good = checkAnswer(js, 200, JSON.stringify(reply.body), 1e-6);
  t.is(good._tag, 'accepted');
  t.is(good._tag === 'accepted' ? good.values.length : 0, 5);
  const value = reply.body['value'] as Array<Record<string, unknown>>;
  const variants: Array<[string, unknown, RegExp]> = [
    ['missing session', { value: value.slice(1) }, /misses 1 session/],
    ['extra session', { value: [...value, { ...value[0], session_id: 'zzz' }] }, /zzz.*not sent/],
    ['unknown conversion', { value: [...value, { ...value[0], conversion_id: 'q' }] }, /conversion_id "q"/],
    ['duplicate', { value: [...value, value[0]] }, /more than once/],
    ['out of range', { value: value.map((v, i) => (i === 0 ? { ...v, holder: 1.5 } : v)) }, /outside \[0, 1\]/],
    ['not summing', { value: value.map((v, i) => (i === 0 ? { ...v, ihc: (v['ihc'] as number) / 2 } : v)) }, /sums to/],
    ['wrong type', { value: [{ ...value[0], ihc: '0.5' }] }, /ihc/],
    ['no value', { statusCode: 200 }, /value/],
    ['says 500', { statusCode: 500, value }, /statusCode 500/],
  ];
  for (const [what, body, re] of variants) {
    const r = checkAnswer(js, 200, JSON.stringify(body), 1e-6);
    t.is(r._tag, 'rejected', what);
    if (r._tag === 'rejected') t.regex(r.reason, re, what);
  }
  const notJson = checkAnswer(js, 200, '{"value": [', 1e-6);
  t.is(notJson._tag, 'rejected');
});

test('checkAnswer keeps the good part of a 206 and names each failed journey with its reason', (t) => {
  const js = [journey('a', 3), journey('b', 2), journey('c', 1)];
  const reply = answerOf(js);
  const value = (reply.body['value'] as Array<{ conversion_id: string }>).filter((v) => v.conversion_id !== 'b');
  const r = checkAnswer(js, 206, JSON.stringify({ statusCode: 206, value, partialFailureErrors: [{ conversion_id: 'b', error: 'timestamp unreadable' }] }), 1e-6);
  t.is(r._tag, 'accepted');
  if (r._tag !== 'accepted') return;
  t.is(r.status, 'partial');
  t.deepEqual(r.failed, [{ conversionId: 'b', reason: 'timestamp unreadable' }]);
  t.deepEqual([...new Set(r.values.map((v) => v.conversion_id))], ['a', 'c']);
  // a 200 that leaves a journey out without saying why is not accepted
  t.is(checkAnswer(js, 200, JSON.stringify({ statusCode: 200, value }), 1e-6)._tag, 'rejected');
});

test('the engine behind the contract: 206 for an unparseable journey, 400 naming the field when nothing parses', (t) => {
  const bad = { ...journey('bad', 2), sessions: journey('bad', 2).sessions.map((s, i) => (i === 0 ? { ...s, timestamp: '2023-13-01 00:00:00' } : s)) };
  const r = answerOf([journey('a', 2), bad]);
  t.is(r.status, 206);
  t.deepEqual((r.body['partialFailureErrors'] as Array<{ conversion_id: string }>).map((f) => f.conversion_id), ['bad']);
  t.regex(JSON.stringify(r.body['partialFailureErrors']), /customer_journeys\[2\]\.timestamp/);
  const only = answerOf([bad]);
  t.is(only.status, 400);
  t.regex(String(only.body['message']), /customer_journeys\[0\]\.timestamp/);
});

test('the fast session check accepts exactly what the session decoder accepts, whatever dates it saw before', (t) => {
  const good = session('a', 0, 1);
  const bad: unknown[] = [
    null,
    'a session',
    [good],
    {},
    { ...good, extra: 1 },
    Object.assign(Object.create({ conversion_id: 'a' }) as object, { ...good, conversion_id: undefined }),
    { ...good, conversion_id: '' },
    { ...good, session_id: 7 },
    { ...good, channel_label: null },
    { ...good, holder_engagement: 2 },
    { ...good, closer_engagement: '1' },
    { ...good, conversion: true },
    { ...good, impression_interaction: 0.5 },
  ];
  for (const k of Object.keys(good)) {
    const without: Record<string, unknown> = { ...good };
    delete without[k];
    bad.push(without);
  }
  // a real date seen first must not let a bad time, or an unreal date of the same year, through afterwards
  const stamps = [
    '2024-02-29 10:00:00',
    '2023-02-29 10:00:00',
    '2024-02-29 24:00:00',
    '2024-02-29 23:60:00',
    '2024-02-29 23:59:59',
    '2023-13-01 00:00:00',
    '2023-04-31 00:00:00',
    '2023-04-30 00:00:00',
    '0000-02-29 00:00:00',
    '1900-02-29 00:00:00',
    '2024-02-29T10:00:00',
    '2024-02-29 10:00:0',
    ' 2024-02-29 10:00:00',
    '２０２４-02-29 10:00:00',
  ];
  const cases = [good, ...bad, ...stamps.map((timestamp) => ({ ...good, timestamp })), ...stamps.map((timestamp) => ({ ...good, timestamp }))];
  for (const c of cases) t.is(ContractSessionCodec.is(c), E.isRight(ContractSessionCodec.decode(c)), JSON.stringify(c) ?? String(c));
  t.true(ContractSessionCodec.is(good));
  t.true(ContractSessionCodec.is({ ...good, timestamp: '2024-02-29 23:59:59' }));
  t.false(ContractSessionCodec.is({ ...good, timestamp: '2023-02-29 10:00:00' }));
});

test('an answer passes the shape check without decoding exactly when the decoder accepts it unchanged', (t) => {
  const js = [journey('a', 3)];
  const body = answerOf(js).body;
  const value = body['value'] as Array<Record<string, unknown>>;
  const answers: unknown[] = [
    body,
    { value },
    { value: [] },
    { value, statusCode: 206, partialFailureErrors: null },
    { value, partialFailureErrors: ['x'] },
    { value, partialFailureErrors: 'x' },
    { value, statusCode: '200' },
    { value: [{ ...value[0], holder: null }] },
    { value: [{ ...value[0], extra: 'kept' }] },
    { value: {} },
    [],
    null,
  ];
  for (const a of answers) {
    const decoded = AnswerCodec.decode(a);
    t.is(AnswerCodec.is(a), E.isRight(decoded), JSON.stringify(a));
    // what the check then reads is the parsed answer itself: decoding changes nothing it accepts
    if (E.isRight(decoded)) t.true(decoded.right === a);
  }
});

test('opaque ids carry nothing of the real ids, keep journey order, and map back', (t) => {
  const js = [journey('user-42-order-7', 3), journey('user-9-order-1', 12)];
  const op = toOpaque(js);
  const text = JSON.stringify(bodyOf(op.journeys));
  t.false(text.includes('user'));
  t.deepEqual(op.journeys[1]!.sessions.map((s) => s.session_id), [...op.journeys[1]!.sessions.map((s) => s.session_id)].sort());
  const reply = answerRequest(JSON.parse(text), DEFAULT_IHC_PARAMS, { maxJourneys: 100, maxSessions: 3000 });
  const checked = checkAnswer(op.journeys, reply.status, JSON.stringify(reply.body), 1e-9);
  t.is(checked._tag, 'accepted');
  if (checked._tag !== 'accepted') return;
  const back = checked.values.map((v) => op.back(v)!);
  const direct = answerOf(js).body['value'];
  t.deepEqual(back, direct);
});

test('Retry-After as seconds or HTTP-date', (t) => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  t.is(parseRetryAfter('3', now), 3000);
  t.is(parseRetryAfter('Mon, 01 Jan 2024 00:00:05 GMT', now), 5000);
  t.is(parseRetryAfter('Sun, 31 Dec 2023 00:00:05 GMT', now), 0);
  t.is(parseRetryAfter('soon', now), undefined);
  t.is(parseRetryAfter(null, now), undefined);
});

/*
 * postWithRetry is ky's retry with our policy: a real server on 127.0.0.1 answers as scripted, and the waits ky
 * sleeps are real (kept short) and recorded through Timing.waited.
 */
function recording(): Timing & { waits: number[] } {
  const waits: number[] = [];
  return { now: () => Date.now(), random: () => 0.5, waited: (ms) => void waits.push(ms), waits };
}
const policy: RetryPolicy = { attemptTimeoutMs: 1000, deadlineMs: 60_000, maxRetries: 4, backoffInitialMs: 100, backoffMaxMs: 10_000 };
const post = { body: '{}', headers: { 'content-type': 'application/json' } };
async function scriptedUrl(t: import('ava').ExecutionContext, actions: Action[]): Promise<{ url: string; calls: () => number }> {
  const s = await startScriptedServer((n) => actions[Math.min(n, actions.length) - 1]!);
  t.teardown(s.close);
  return { url: `${s.url}/v1/compute_ihc`, calls: () => s.log.length };
}

test('postWithRetry: recovers from 5xx, dropped connections and timeouts with growing jittered backoff', async (t) => {
  const tm = recording();
  const s = await scriptedUrl(t, [
    { kind: 'status', status: 500 },
    { kind: 'drop' },
    { kind: 'hang' },
    { kind: 'status', status: 408 },
    { kind: 'raw', status: 200, text: '{"ok":1}' },
  ]);
  const events: string[] = [];
  const r = await postWithRetry(s.url, post, policy, tm, (e) => events.push(`${e.attempt}:${e.reason.split(':')[0]}:${e.delayMs}`));
  t.true(r.ok, JSON.stringify(r));
  t.is(r.attempts, 5);
  if (r.ok) t.is(r.text, '{"ok":1}');
  t.deepEqual(tm.waits, [50, 100, 200, 400]);
  t.deepEqual(events, ['1:HTTP 500:50', '2:network error:100', '3:no answer within the attempt timeout:200', '4:HTTP 408:400']);
});

test('postWithRetry: honours Retry-After, and gives up at once when it would pass the deadline', async (t) => {
  const tm = recording();
  const s = await scriptedUrl(t, [{ kind: 'status', status: 429, headers: { 'retry-after': '1' } }, { kind: 'raw', status: 200, text: '{}' }]);
  const started = Date.now();
  t.true((await postWithRetry(s.url, post, policy, tm)).ok);
  t.deepEqual(tm.waits, [1000]);
  t.true(Date.now() - started >= 1000, 'ky waited as asked');
  const s2 = await scriptedUrl(t, [{ kind: 'status', status: 503, headers: { 'retry-after': '3600' } }]);
  const before = Date.now();
  const r = await postWithRetry(s2.url, post, policy, recording());
  t.false(r.ok);
  t.is(s2.calls(), 1);
  t.true(Date.now() - before < 5000, 'no waiting for an hour, nor for the deadline');
  if (!r.ok) {
    t.is(r.kind, 'gave_up');
    t.regex(r.message, /gave up after 1 attempt\(s\): the next try \(in 3600000 ms, as Retry-After asks\) would pass the deadline; last: HTTP 503/);
  }
});

test('postWithRetry: an answer that stalls after its headers is timed out with the attempt and retried', async (t) => {
  const tm = recording();
  const s = await scriptedUrl(t, [{ kind: 'stall' }, { kind: 'raw', status: 200, text: '{"ok":2}' }]);
  const r = await postWithRetry(s.url, post, { ...policy, attemptTimeoutMs: 500 }, tm);
  t.true(r.ok, JSON.stringify(r));
  t.is(r.attempts, 2);
  if (r.ok) t.is(r.text, '{"ok":2}');
  t.deepEqual(tm.waits, [50]);
});

test.serial('postWithRetry: a finished POST leaves its body and its answer to the young generation', async (t) => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (options: { type: 'minor' }) => void;
  const answer = JSON.stringify({ value: 'a'.repeat(60_000) });
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/compute_ihc`;
  // only whether it succeeded: the caller keeps nothing of the POST either
  const postOne = async (i: number): Promise<boolean> =>
    (await postWithRetry(url, { body: JSON.stringify({ i, pad: 'b'.repeat(60_000) }), headers: post.headers }, policy, recording())).ok;
  const oldGeneration = (): number =>
    v8.getHeapSpaceStatistics().filter((s) => s.space_name === 'old_space' || s.space_name === 'large_object_space').reduce((a, s) => a + s.space_used_size, 0);
  // what the first POSTs load and compile once stays
  for (let i = 0; i < 5; i++) t.true(await postOne(i));
  gc({ type: 'minor' });
  gc({ type: 'minor' });
  const before = oldGeneration();
  const n = 150;
  for (let i = 0; i < n; i++) {
    t.true(await postOne(i));
    // node:http lets go of the answer's socket a tick after the answer ended
    await new Promise((resolve) => setImmediate(resolve));
    // what lives through two young-generation collections is moved to the old generation
    gc({ type: 'minor' });
    gc({ type: 'minor' });
  }
  const grown = oldGeneration() - before;
  const posted = n * 2 * 60_000;
  t.true(grown < posted / 4, `the old generation grew by ${grown} bytes over ${n} POSTs of ${posted} bytes with their answers`);
});

test('postWithRetry: 400/401/403 are not retried; 401 says the key was refused; retries are bounded', async (t) => {
  for (const status of [400, 401, 403, 404, 406]) {
    const s = await scriptedUrl(t, [{ kind: 'status', status, body: JSON.stringify({ message: `nope ${status}` }) }]);
    const r = await postWithRetry(s.url, post, policy, recording());
    t.false(r.ok);
    t.is(s.calls(), 1);
    if (!r.ok) {
      t.is(r.kind, status === 401 || status === 403 ? 'refused' : 'rejected');
      t.is(r.status, status);
      t.regex(r.message, new RegExp(`nope ${status}`));
      if (status === 401) t.regex(r.message, /refused the API key/);
    }
  }
  const s = await scriptedUrl(t, [{ kind: 'status', status: 503 }]);
  const r = await postWithRetry(s.url, post, { ...policy, backoffInitialMs: 1 }, recording());
  t.false(r.ok);
  t.is(s.calls(), policy.maxRetries + 1);
  if (!r.ok) t.regex(r.message, /gave up after 5 attempt\(s\); last: HTTP 503: scripted 503/);
});

test('postWithRetry: the deadline cuts the attempt in flight; a backoff that would pass it is not slept', async (t) => {
  const s = await scriptedUrl(t, [{ kind: 'hang' }]);
  const started = Date.now();
  const r = await postWithRetry(s.url, post, { ...policy, deadlineMs: 2500, maxRetries: 100, backoffInitialMs: 0 }, recording());
  const took = Date.now() - started;
  t.false(r.ok);
  t.is(s.calls(), 3, 'attempts at 0, 1 and 2 s; the third is cut at 2.5 s');
  t.true(took >= 2400 && took < 4000, `${took} ms`);
  if (!r.ok) t.regex(r.message, /deadline of 2500 ms passed after 3 attempt\(s\); last: no answer within the attempt timeout/);
  const s2 = await scriptedUrl(t, [{ kind: 'status', status: 502 }]);
  const r2 = await postWithRetry(s2.url, post, { ...policy, deadlineMs: 3000, backoffInitialMs: 10_000 }, recording());
  t.is(s2.calls(), 1);
  if (!r2.ok) t.regex(r2.message, /gave up after 1 attempt\(s\): the next try \(in 5000 ms\) would pass the deadline; last: HTTP 502/);
});

test('compute URL: the vendor base ending in /v1 is not doubled', (t) => {
  t.is(computeUrl('https://api.example.com/v1', 'x y'), 'https://api.example.com/v1/compute_ihc?conv_type_id=x+y');
  t.is(computeUrl('http://127.0.0.1:8080/', 'default'), 'http://127.0.0.1:8080/v1/compute_ihc?conv_type_id=default');
});
