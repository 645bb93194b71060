import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_IHC_PARAMS } from '../../shared/attribution/params.js';
import { checkAnswer } from '../../shared/ihc/answer.js';
import { answerRequest, type ContractJourney } from '../../shared/ihc/contract.js';
import { jsonDepthExceeds } from '../../shared/ihc/server.js';
import { messageOf } from '../../shared/errors.js';
import { freshDb, runCli, tempDir } from '../helpers/env.js';
import { ITERATIONS } from './kit.js';

/**
 * Property-based fuzzing of what comes from outside: CSV files, API answers, request bodies. Each property
 * holds for any input: nothing throws, every row ends loaded or quarantined, nothing stored differs from its input.
 */

const RUNS = 8 * ITERATIONS;
const SEED = Number(process.env['RELIABILITY_SEED'] ?? Date.now() % 1e9);
test.before((t) => t.log(`fast-check seed ${SEED} (RELIABILITY_SEED=${SEED} replays it)`));

/** Text a hostile or careless exporter might write: separators, quotes, line breaks, control and wide characters. */
const nasty = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', ' ', ',', '"', '""', '\n', '\r\n', '\r', '\u0000', '\u0007', '\uFEFF', '\u00e9', '\ud83d\ude00', 'NaN', '1e308', '-0', '  x  '),
);
const date = fc.oneof(fc.constantFrom('2023-09-01', '2023-09-30', '2023-02-29', '2023-13-01', '2023-9-1', ''), nasty);
const time = fc.oneof(fc.constantFrom('00:00:00', '23:59:59', '24:00:00', '12:60:00', '7:00:00'), nasty);
const revenue = fc.oneof(fc.double({ noNaN: false }).map(String), fc.constantFrom('0', '10.50', '-1', '1e308', 'Infinity', ' 5', '5,0', ''), nasty);
const row = fc.record({ id: nasty, user: nasty, date, time, revenue });

const quote = (s: string): string => (/[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s);

test('CSV ingest: every row ends loaded or quarantined, the counts add up, nothing stored differs from its input', async (t) => {
  const dir = tempDir('attr-fuzz-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const details = await fc.check(
    fc.asyncProperty(fc.array(row, { minLength: 1, maxLength: 25 }), async (rows) => {
      n += 1;
      const env = await freshDb();
      try {
        // ids made unique per row, so that each input row has exactly one place to end up
        const input = rows.map((r, i) => ({ ...r, id: `${r.id}#${i}` }));
        const file = path.join(dir, `conversions-${n}.csv`);
        const text = ['conv_id,user_id,conv_date,conv_time,revenue', ...input.map((r) => [r.id, r.user, r.date, r.time, r.revenue].map(quote).join(','))].join('\n') + '\n';
        fs.writeFileSync(file, text, 'utf8');
        const r = await runCli('load', ['--conversions', file], { DATABASE_URL: env.url, LOG_LEVEL: 'warn' });
        if (r.code === 4) {
          // a file refused whole must say where, and leave nothing behind
          if (!/line \d+/.test(r.stderr)) throw new Error(`refused without a line: ${r.stderr}`);
          const stored = Number((await env.db('conversions').count({ c: '*' }))[0]!['c']);
          if (stored !== 0) throw new Error('a refused file left rows behind');
          return;
        }
        if (r.code !== 0) throw new Error(`load exited ${r.code}: ${r.stderr}`);
        const loaded = (await env.db('conversions').select()) as Array<{ conv_id: string; user_id: string; conv_date: string; conv_time: string; revenue: number }>;
        const quarantined = Number((await env.db('ingest_quarantine').count({ c: '*' }))[0]!['c']);
        if (loaded.length + quarantined !== input.length) {
          throw new Error(`${input.length} rows in, ${loaded.length} loaded + ${quarantined} quarantined`);
        }
        // Ids and names are stored exactly as given (quoted whitespace included), so " x" and "x" stay two keys;
        // only dates, times and amounts may lose surrounding whitespace, since no two of their readings collide.
        const trimmed = (stored: string, typed: string): boolean => stored === typed || stored === typed.trim();
        const byId = new Map(input.map((x) => [x.id, x]));
        for (const s of loaded) {
          const x = byId.get(s.conv_id);
          if (x === undefined) throw new Error(`stored conv_id ${JSON.stringify(s.conv_id)} is no input id (changed on the way)`);
          if (s.user_id !== x.user || !trimmed(s.conv_date, x.date) || !trimmed(s.conv_time, x.time)) {
            throw new Error(`stored ${JSON.stringify(s)} differs from input ${JSON.stringify(x)}`);
          }
          if (!Number.isFinite(s.revenue) || s.revenue !== Number(x.revenue)) throw new Error(`revenue ${s.revenue} stored for input ${JSON.stringify(x.revenue)}`);
        }
        const m = /(\d[\d,]*) rows read, (\d[\d,]*) inserted, (\d[\d,]*) updated, (\d[\d,]*) unchanged, (\d[\d,]*) quarantined/.exec(r.stdout + r.stderr);
        if (m === null) throw new Error(`no counts in the summary: ${r.stdout}`);
        const [read, ins, upd, unch, quar] = m.slice(1).map((v) => Number(v.replace(/,/g, '')));
        if (read !== input.length || ins! + upd! + unch! + quar! !== read || quar !== quarantined) throw new Error(`summary does not add up: ${m[0]}`);
      } finally {
        await env.cleanup();
      }
    }),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
  // the property's own words (which row, which field) say more than fast-check's summary
  if (details.failed) t.fail(`${messageOf(details.errorInstance)}\ninput: ${JSON.stringify(details.counterexample).slice(0, 2000)}`);
  else t.pass();
});

const item = (conv: string, session: string, ihc: number) => ({ conversion_id: conv, session_id: session, initializer: ihc, holder: 0, closer: 0, ihc });

test('API answer decoding: any text is accepted or rejected with a reason, never thrown; accepted credit is complete and sums to 1', (t) => {
  const journeys: ContractJourney[] = [
    { conversionId: 'c1', sessions: [{ conversion_id: 'c1', session_id: 's1', timestamp: '2023-09-01 10:00:00', channel_label: 'A', holder_engagement: 0, closer_engagement: 0, conversion: 0, impression_interaction: 0 }, { conversion_id: 'c1', session_id: 's2', timestamp: '2023-09-01 11:00:00', channel_label: 'B', holder_engagement: 0, closer_engagement: 1, conversion: 1, impression_interaction: 0 }] },
  ];
  const answerish = fc.oneof(
    fc.string(),
    fc.json(),
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.record({ statusCode: fc.constantFrom(200, 206, 400, 500), value: fc.array(fc.record({ conversion_id: fc.constantFrom('c1', 'c2', ''), session_id: fc.constantFrom('s1', 's2', 's3'), initializer: fc.double(), holder: fc.double(), closer: fc.double(), ihc: fc.double() })) }).map((v) => JSON.stringify(v)),
    fc.double({ min: 0, max: 1, noNaN: true }).map((x) => JSON.stringify({ statusCode: 200, value: [item('c1', 's1', x), item('c1', 's2', 1 - x)] })),
    fc.constant('['.repeat(50_000) + ']'.repeat(50_000)),
  );
  fc.assert(
    fc.property(answerish, fc.constantFrom(200, 206, 500), (text, status) => {
      const r = checkAnswer(journeys, status, text, 1e-6);
      // quoted excerpts of the answer may hold anything the fuzzer typed ("{ " included); only our own words are checked
      if (r._tag === 'rejected') return r.reason.length > 0 && !/Array<|undefined|\{ /.test(r.reason.replace(/"(?:[^"\\]|\\.)*"/g, '""'));
      const sum = r.values.reduce((a, v) => a + v.ihc, 0);
      return r.values.length + r.failed.length * 2 === 2 && (r.values.length === 0 || Math.abs(sum - 1) <= 1e-6);
    }),
    { numRuns: 200 * ITERATIONS, seed: SEED },
  );
  t.pass();
});

test("the server's request decoding: any body gets 200, 206 or 400 with a message, never an exception", (t) => {
  const limits = { maxJourneys: 5, maxSessions: 40 };
  const session = fc.record(
    {
      conversion_id: fc.oneof(fc.constantFrom('a', 'b'), fc.string(), fc.jsonValue()),
      session_id: fc.oneof(fc.constantFrom('s1', 's2', 's3'), fc.string()),
      timestamp: fc.oneof(fc.constantFrom('2023-09-01 10:00:00', '2023-09-01 11:00:00', '2023-02-30 10:00:00'), fc.string()),
      channel_label: fc.oneof(fc.constantFrom('A', 'B'), fc.jsonValue()),
      holder_engagement: fc.oneof(fc.constantFrom(0, 1), fc.jsonValue()),
      closer_engagement: fc.constantFrom(0, 1, 2),
      conversion: fc.constantFrom(0, 1),
      impression_interaction: fc.constantFrom(0, 1, '1'),
      extra: fc.jsonValue(),
    },
    { requiredKeys: ['conversion_id', 'session_id', 'timestamp', 'channel_label', 'holder_engagement', 'closer_engagement', 'conversion', 'impression_interaction'] },
  );
  const body = fc.oneof(
    fc.jsonValue(),
    fc.record({ customer_journeys: fc.array(session, { maxLength: 12 }) }),
    fc.record({ customer_journeys: fc.array(session, { maxLength: 6 }), redistribution_parameter: fc.jsonValue() }),
  );
  fc.assert(
    fc.property(body, (b) => {
      const reply = answerRequest(b, DEFAULT_IHC_PARAMS, limits);
      if (![200, 206, 400].includes(reply.status)) return false;
      if (reply.status === 400) return typeof reply.body['message'] === 'string' && !/Array<|expected undefined|\{ \w+:/.test(String(reply.body['message']).replace(/"(?:[^"\\]|\\.)*"/g, '""'));
      return Array.isArray(reply.body['value']);
    }),
    { numRuns: 300 * ITERATIONS, seed: SEED },
  );
  // the depth guard agrees with a parse for any JSON text: never refuses a shallow body, always a deep one
  fc.assert(
    fc.property(fc.jsonValue({ depthSize: 'large' }), fc.integer({ min: 1, max: 40 }), (v, max) => {
      const text = JSON.stringify(v);
      return jsonDepthExceeds(text, max) === depthOf(v) > max;
    }),
    { numRuns: 300 * ITERATIONS, seed: SEED },
  );
  t.pass();
});

function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (typeof v === 'object' && v !== null) return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}
