import { spawn } from 'node:child_process';
import * as net from 'node:net';
import * as path from 'node:path';
import test from 'ava';
import { DEFAULT_IHC_PARAMS, type IhcParams } from '../shared/attribution/params.js';
import { answerRequest } from '../shared/ihc/contract.js';
import { serveProgram } from '../shared/ihc/serve.js';
import { startServer, type RunningServer } from '../shared/ihc/server.js';
import type { Logger } from '../shared/log.js';
import { CONFIG_FILE, freshDb, ROOT, testCaps } from './helpers/env.js';

const KEY = 'srv-key-8d1e0b77';
const OTHER = 'srv-key-second-42';

function capturing(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { debug: push, info: push, warn: push, error: push, lines };
}

async function start(t: import('ava').ExecutionContext, over: { paramsFor?: (n: string) => Promise<IhcParams | undefined>; maxBodyBytes?: number } = {}) {
  const logger = capturing();
  const server: RunningServer = await startServer({
    host: '127.0.0.1',
    port: 0,
    keys: [KEY, OTHER],
    maxBodyBytes: over.maxBodyBytes ?? 200_000,
    limits: { maxJourneys: 5, maxSessions: 40 },
    paramsFor: over.paramsFor ?? (async (n) => (n === 'default' ? DEFAULT_IHC_PARAMS : undefined)),
    logger,
  });
  t.teardown(() => server.close(100));
  return { server, logger };
}

const session = (conv: string, i: number, n: number, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  conversion_id: conv,
  session_id: `${conv}-${i}`,
  timestamp: `2023-09-0${1 + (i % 5)} 1${i % 10}:00:00`,
  channel_label: ['SEO', 'Direct', 'Email'][i % 3],
  holder_engagement: i % 2,
  closer_engagement: i === n - 1 ? 1 : 0,
  conversion: i === n - 1 ? 1 : 0,
  impression_interaction: 0,
  ...over,
});
const journeySessions = (conv: string, n: number) => Array.from({ length: n }, (_, i) => session(conv, i, n));

async function post(url: string, body: unknown, opts: { key?: string | null; conv?: string | null; raw?: string } = {}) {
  const q = opts.conv === null ? '' : `?conv_type_id=${opts.conv ?? 'default'}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.key !== null) headers['x-api-key'] = opts.key ?? KEY;
  const res = await fetch(`${url}/v1/compute_ihc${q}`, { method: 'POST', headers, body: opts.raw ?? JSON.stringify(body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { unparsed: text };
  }
  return { status: res.status, json, text };
}

test('answers the contract with the engine; healthz needs no key', async (t) => {
  const { server, logger } = await start(t);
  const body = { customer_journeys: [...journeySessions('a', 4), ...journeySessions('b', 2)] };
  const r = await post(server.url, body);
  t.is(r.status, 200);
  t.is(r.json['statusCode'], 200);
  t.deepEqual(r.json, answerRequest(body, DEFAULT_IHC_PARAMS, { maxJourneys: 5, maxSessions: 40 }).body);
  t.is((r.json['value'] as unknown[]).length, 6);
  t.is((await post(server.url, body, { key: OTHER })).status, 200);
  const h = await fetch(`${server.url}/healthz`);
  t.is(h.status, 200);
  t.deepEqual(await h.json(), { status: 'ok' });
  t.true(logger.lines.some((l) => / POST \/v1\/compute_ihc 200 .*conv_type_id=default sessions=6/.test(l)));
  t.false(logger.lines.join('\n').includes(KEY));
});

test('auth: 401 without a key, 403 with a wrong one; keys never reach the log', async (t) => {
  const { server, logger } = await start(t);
  const body = { customer_journeys: journeySessions('a', 2) };
  const none = await post(server.url, body, { key: null });
  t.is(none.status, 401);
  t.regex(String(none.json['message']), /missing x-api-key/);
  for (const wrong of ['nope', `${KEY}x`, KEY.slice(0, -1), '']) {
    const r = await post(server.url, body, { key: wrong });
    t.is(r.status, wrong === '' ? 401 : 403, wrong);
  }
  t.false(logger.lines.join('\n').includes(KEY.slice(0, -1)));
});

test('413 for a body over the limit, declared or streamed', async (t) => {
  const { server } = await start(t, { maxBodyBytes: 2000 });
  const big = { customer_journeys: journeySessions('a', 30) };
  const r = await post(server.url, big);
  t.is(r.status, 413);
  t.regex(String(r.json['message']), /larger than the limit of 2000 bytes/);
  // chunked, no content-length: the limit is enforced while reading
  const text = JSON.stringify(big);
  const stream = new ReadableStream({
    start(c) {
      for (let i = 0; i < text.length; i += 500) c.enqueue(new TextEncoder().encode(text.slice(i, i + 500)));
      c.close();
    },
  });
  const res = await fetch(`${server.url}/v1/compute_ihc?conv_type_id=default`, {
    method: 'POST',
    headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
    body: stream,
    duplex: 'half',
  } as RequestInit);
  t.is(res.status, 413);
});

test('400 names the field for each kind of invalid input', async (t) => {
  const { server } = await start(t);
  const ok = journeySessions('a', 2);
  const cases: Array<[string, { body?: unknown; raw?: string; conv?: string | null }, RegExp]> = [
    ['not JSON', { raw: '{"customer_journeys": [' }, /not valid JSON/],
    ['no customer_journeys', { body: { journeys: ok } }, /customer_journeys: missing|unknown key "journeys"/],
    ['customer_journeys not an array', { body: { customer_journeys: {} } }, /customer_journeys: expected/],
    ['empty', { body: { customer_journeys: [] } }, /at least one session/],
    ['unknown top-level key', { body: { customer_journeys: ok, extra: 1 } }, /unknown key "extra"/],
    ['session not an object', { body: { customer_journeys: [1] } }, /customer_journeys\[0\]: expected a session object/],
    ['missing conversion_id', { body: { customer_journeys: [{ ...ok[0], conversion_id: undefined }] } }, /customer_journeys\[0\]\.conversion_id/],
    ['missing session_id', { body: { customer_journeys: [{ ...ok[0], session_id: undefined }] } }, /customer_journeys\[0\]\.session_id: missing/],
    ['bad timestamp', { body: { customer_journeys: [session('a', 0, 1, { timestamp: '2023-09-01T10:00:00Z' })] } }, /customer_journeys\[0\]\.timestamp: expected a timestamp/],
    ['impossible date', { body: { customer_journeys: [session('a', 0, 1, { timestamp: '2023-02-30 10:00:00' })] } }, /customer_journeys\[0\]\.timestamp/],
    ['channel not a string', { body: { customer_journeys: [session('a', 0, 1, { channel_label: 7 })] } }, /customer_journeys\[0\]\.channel_label: expected a string, got 7/],
    ['engagement not 0/1', { body: { customer_journeys: [session('a', 0, 1, { holder_engagement: 2 })] } }, /customer_journeys\[0\]\.holder_engagement: expected 0 or 1, got 2/],
    ['closer as string', { body: { customer_journeys: [session('a', 0, 1, { closer_engagement: '1' })] } }, /customer_journeys\[0\]\.closer_engagement/],
    ['impression missing', { body: { customer_journeys: [session('a', 0, 1, { impression_interaction: undefined })] } }, /impression_interaction: missing/],
    ['unknown session key', { body: { customer_journeys: [session('a', 0, 1, { colour: 'red' })] } }, /customer_journeys\[0\]\.colour: unknown key/],
    ['no converting session', { body: { customer_journeys: [session('a', 0, 2)] } }, /exactly one session with conversion = 1/],
    ['duplicate session', { body: { customer_journeys: [session('a', 0, 1), session('a', 0, 1)] } }, /appears twice/],
    [
      'bad redistribution direction',
      { body: { customer_journeys: ok, redistribution_parameter: { holder: { direction: 'sideways', receive_threshold: 0, redistribution_channel_labels: [] } } } },
      /redistribution_parameter\.holder\.direction/,
    ],
    ['missing conv_type_id', { body: { customer_journeys: ok }, conv: null }, /conv_type_id: missing/],
    ['unknown conv_type_id', { body: { customer_journeys: ok }, conv: 'nosuch' }, /conv_type_id: unknown conversion type "nosuch"/],
  ];
  for (const [what, c, re] of cases) {
    const r = await post(server.url, c.body, { raw: c.raw, conv: c.conv });
    t.is(r.status, 400, what);
    t.regex(String(r.json['message']), re, what);
    t.false(r.text.includes('    at '), `${what}: no stack trace`);
  }
});

test('206 with partialFailureErrors when some journeys cannot be parsed', async (t) => {
  const { server } = await start(t);
  const body = { customer_journeys: [...journeySessions('a', 3), session('b', 0, 1, { timestamp: 'yesterday' }), ...journeySessions('c', 2)] };
  const r = await post(server.url, body);
  t.is(r.status, 206);
  t.is(r.json['statusCode'], 206);
  t.deepEqual((r.json['value'] as Array<{ conversion_id: string }>).map((v) => v.conversion_id), ['a', 'a', 'a', 'c', 'c']);
  const f = r.json['partialFailureErrors'] as Array<{ conversion_id: string; error: string }>;
  t.deepEqual(f.map((x) => x.conversion_id), ['b']);
  t.regex(f[0]!.error, /customer_journeys\[3\]\.timestamp/);
});

test('per-request limits: journeys and sessions', async (t) => {
  const { server } = await start(t);
  const six = { customer_journeys: ['a', 'b', 'c', 'd', 'e', 'f'].flatMap((c) => journeySessions(c, 1)) };
  const r1 = await post(server.url, six);
  t.is(r1.status, 400);
  t.regex(String(r1.json['message']), /more than the limit of 5 journeys/);
  const many = { customer_journeys: journeySessions('a', 41) };
  const r2 = await post(server.url, many);
  t.is(r2.status, 400);
  t.regex(String(r2.json['message']), /41 sessions, more than the limit of 40/);
  t.is((await post(server.url, { customer_journeys: journeySessions('a', 40) })).status, 200);
});

test('redistribution_parameter in the body applies to that request', async (t) => {
  const { server } = await start(t);
  const sessions = journeySessions('a', 4);
  const red = { holder: { direction: 'earlier_sessions_only', receive_threshold: 0, redistribution_channel_labels: ['SEO'] } };
  const r = await post(server.url, { customer_journeys: sessions, redistribution_parameter: red });
  t.is(r.status, 200);
  const expected = answerRequest({ customer_journeys: sessions, redistribution_parameter: red }, DEFAULT_IHC_PARAMS, { maxJourneys: 5, maxSessions: 40 });
  t.deepEqual(r.json, expected.body);
  const plain = await post(server.url, { customer_journeys: sessions });
  t.notDeepEqual(plain.json['value'], r.json['value']);
});

test('concurrent clients each get their own answer', async (t) => {
  const { server } = await start(t);
  const bodies = Array.from({ length: 40 }, (_, k) => ({ customer_journeys: [0, 1, 2].flatMap((j) => journeySessions(`k${k}-j${j}`, 1 + ((k + j) % 9))) }));
  const answers = await Promise.all(bodies.map((b, k) => post(server.url, b, { key: k % 2 === 0 ? KEY : OTHER })));
  answers.forEach((r, k) => {
    t.is(r.status, 200);
    t.deepEqual(r.json, answerRequest(bodies[k], DEFAULT_IHC_PARAMS, { maxJourneys: 5, maxSessions: 40 }).body);
  });
  t.is(server.requests(), 40);
});

test('an internal failure answers 500 without a stack trace; unknown routes 404, wrong methods 405', async (t) => {
  const { server, logger } = await start(t, {
    paramsFor: async () => {
      throw new Error('database exploded');
    },
  });
  const r = await post(server.url, { customer_journeys: journeySessions('a', 2) });
  t.is(r.status, 500);
  t.deepEqual(r.json, { statusCode: 500, message: 'internal error' });
  t.true(logger.lines.some((l) => /database exploded/.test(l)));
  t.is((await fetch(`${server.url}/v2/other`)).status, 404);
  t.is((await fetch(`${server.url}/v1/compute_ihc?conv_type_id=default`)).status, 405);
});


test('the CLI: refuses to start without keys; serves; stops gracefully on SIGTERM with a summary', async (t) => {
  const script = path.join(ROOT, 'dist/tasks/attribution-api/main.js');
  const env = { PATH: process.env['PATH'], HOME: process.env['HOME'], ATTRIBUTION_CONFIG: CONFIG_FILE, DATABASE_URL: path.join(ROOT, 'nonexistent-dir-for-test/none.db') };
  const noKeys = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [script, '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => resolve({ code, err }));
  });
  t.is(noKeys.code, 3);
  t.regex(noKeys.err, /ATTRIBUTION_API_KEYS/);

  const child = spawn(process.execPath, [script, '--port', '0'], { env: { ...env, ATTRIBUTION_API_KEYS: `${KEY}, ${OTHER}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${err}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(err);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const r = await post(url, { customer_journeys: journeySessions('a', 3) });
  t.is(r.status, 200);
  child.kill('SIGTERM');
  t.is(await closed, 0);
  t.regex(out, /attribution-api: served 1 requests on http:\/\/127\.0\.0\.1:\d+; stopped on SIGTERM/);
  t.false(err.includes(KEY) || out.includes(KEY));
});

/** A logger that keeps each line's level, to tell a client's mistake (info/warn) from the server's (error). */
function levelled(): Logger & { lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = [];
  const at = (level: string) => (m: string) => void lines.push([level, m]);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), lines };
}

async function startWith(t: import('ava').ExecutionContext, over: { maxBodyBytes?: number; maxConnections?: number; bodyTimeoutMs?: number }) {
  const logger = levelled();
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    keys: [KEY],
    maxBodyBytes: over.maxBodyBytes ?? 200_000,
    ...(over.maxConnections !== undefined ? { maxConnections: over.maxConnections } : {}),
    ...(over.bodyTimeoutMs !== undefined ? { bodyTimeoutMs: over.bodyTimeoutMs } : {}),
    limits: { maxJourneys: 5, maxSessions: 40 },
    paramsFor: async (n) => (n === 'default' ? DEFAULT_IHC_PARAMS : undefined),
    logger,
  });
  t.teardown(() => server.close(100));
  return { server, logger };
}

test('deeply nested JSON (2 MB of arrays) is a 400 naming the depth, logged as the client\'s mistake', async (t) => {
  const { server, logger } = await startWith(t, { maxBodyBytes: 5_000_000 });
  const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  for (const raw of [deep, `{"customer_journeys":${deep}}`, `{"customer_journeys":[],"redistribution_parameter":{"closer":${deep}}}`]) {
    const r = await post(server.url, null, { raw });
    t.is(r.status, 400, r.text.slice(0, 200));
    t.regex(String(r.json['message']), /nests arrays or objects more than 32 levels deep/);
  }
  // brackets inside strings are text, not nesting
  const labels = { initializer: { direction: 'any_session', receive_threshold: 0.5, redistribution_channel_labels: ['['.repeat(100)] } };
  const ok = await post(server.url, { customer_journeys: journeySessions('a', 3), redistribution_parameter: labels });
  t.is(ok.status, 200, ok.text);
  t.deepEqual(logger.lines.filter(([level]) => level === 'error'), []);
  t.false(logger.lines.some(([, l]) => /stack|Maximum call/.test(l)));
});

test('a body that does not arrive in time gets 408, logged as a warning, not 500/ERROR; a client that hangs up is no error', async (t) => {
  const { server, logger } = await startWith(t, { bodyTimeoutMs: 300 });
  const { port } = server;
  const answer = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`POST /v1/compute_ihc?conv_type_id=default HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"customer_`);
    });
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString()));
    sock.on('close', () => resolve(text));
    sock.on('error', reject);
  });
  t.regex(answer, /^HTTP\/1\.1 408 /);
  t.regex(answer, /did not arrive within 0\.3 s/);
  await new Promise<void>((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`POST /v1/compute_ihc?conv_type_id=default HTTP/1.1\r\nhost: x\r\nx-api-key: ${KEY}\r\ncontent-length: 1000\r\n\r\n{"cus`);
      setTimeout(() => sock.destroy(), 50);
    });
    sock.on('close', () => resolve());
  });
  await new Promise((r) => setTimeout(r, 100));
  t.true(logger.lines.some(([level, l]) => level === 'warn' && / POST \/v1\/compute_ihc 408 .*slow body/.test(l)), JSON.stringify(logger.lines));
  t.true(logger.lines.some(([level, l]) => level === 'info' && /closed the connection before sending its body/.test(l)), JSON.stringify(logger.lines));
  t.deepEqual(logger.lines.filter(([level]) => level === 'error'), []);
});

test('open connections are capped: idle unauthenticated ones give way, /healthz and real requests still answer at once', async (t) => {
  const { server, logger } = await startWith(t, { maxConnections: 20 });
  const idle: net.Socket[] = [];
  let closedByServer = 0;
  for (let i = 0; i < 60; i++) {
    const s = net.connect(server.port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('close', () => (closedByServer += 1));
    idle.push(s);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  }
  t.teardown(() => idle.forEach((s) => s.destroy()));
  const t0 = Date.now();
  const health = await fetch(`${server.url}/healthz`);
  t.is(health.status, 200);
  const r = await post(server.url, { customer_journeys: journeySessions('a', 3) });
  t.is(r.status, 200);
  t.true(Date.now() - t0 < 5000);
  await new Promise((res) => setTimeout(res, 100));
  // 60 idle + the two requests' connections, at most 20 open at any time
  t.true(closedByServer >= 60 + 2 - 20 - 2, `closed ${closedByServer}`);
  t.deepEqual(logger.lines.filter(([level]) => level === 'error'), []);
});

test('unknown keys inside redistribution_parameter are a 400 naming the key', async (t) => {
  const { server } = await start(t);
  const phase = { direction: 'any_session', receive_threshold: 0.5, redistribution_channel_labels: ['Email'] };
  const typo = await post(server.url, { customer_journeys: journeySessions('a', 3), redistribution_parameter: { initializer: { ...phase, recieve_threshold: 0.2 } } });
  t.is(typo.status, 400);
  t.regex(String(typo.json['message']), /redistribution_parameter\.initializer\.recieve_threshold: unknown key "recieve_threshold"/);
  const phaseName = await post(server.url, { customer_journeys: journeySessions('a', 3), redistribution_parameter: { middle: phase } });
  t.is(phaseName.status, 400);
  t.regex(String(phaseName.json['message']), /redistribution_parameter\.middle: unknown key "middle" \(known keys: initializer, holder, closer\)/);
});

test('the serving program answers until told to stop, then says what it served; no key is a config error', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  const caps = testCaps(env.db, env.config, { env: { ATTRIBUTION_API_KEYS: 'k-123456' } });
  let url = '';
  const served = serveProgram({ conversionTypesFromDb: true, port: 0, host: '127.0.0.1' }, { ...caps, logger: { ...caps.logger, info: (m: string) => void (url = /listening on (\S+)/.exec(m)?.[1] ?? url) } }, async () => {
    while (url === '') await new Promise((r) => setTimeout(r, 10));
    const r = await fetch(`${url}/healthz`);
    t.is(r.status, 200);
    return 'TEST';
  })();
  const r = await served;
  t.true(r._tag === 'Right' && /^served 1 requests on http:\/\/127\.0\.0\.1:\d+; stopped on TEST$/.test(r.right.summary), JSON.stringify(r));
  const none = await serveProgram({ conversionTypesFromDb: false, port: 0 }, testCaps(env.db, env.config), async () => 'never')();
  t.true(none._tag === 'Left' && none.left._tag === 'ConfigError' && /ATTRIBUTION_API_KEYS/.test(none.left.message));
});
