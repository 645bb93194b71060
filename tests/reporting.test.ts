import * as fs from 'node:fs';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import { latestRun } from '../shared/ihc/runs.js';
import { attributeWindow, classifyConversions } from '../shared/reporting/attribute.js';
import { cell, fixed, human, ratio } from '../shared/format.js';
import { ALL_MODELS, processAttribution } from '../shared/reporting/process.js';
import { dumpTable, seedConversions, seedJourneys, seedSessions, type SeedJourney, type SeedSession } from './helpers/reporting-seed.js';
import { esc } from '../shared/reporting/svg.js';
import { readDataQuality } from '../shared/reporting/quality.js';
import { dbOver } from '../shared/db/db.js';
import type { Window } from '../shared/window.js';
import type { ModelName } from '../shared/attribution/types.js';
import { freshDb, testCaps } from './helpers/env.js';

const TOL = 1e-6;
const W: Window = { start: '2023-09-01', end: '2023-09-03' };

type Db = Awaited<ReturnType<typeof freshDb>>;

async function withDb(t: { teardown: (f: () => Promise<void>) => void }): Promise<Db> {
  const env = await freshDb();
  t.teardown(env.cleanup);
  return env;
}

const reporting = (db: Knex) => dumpTable(db, 'channel_reporting', ['date', 'channel_name']);
const acj = (db: Knex) => dumpTable(db, 'attribution_customer_journey', ['conv_id', 'session_id']);

function cr(rows: Record<string, unknown>[], channel: string, date: string): Record<string, unknown> | undefined {
  return rows.find((r) => r['channel_name'] === channel && r['date'] === date);
}

/** The fixtures hold stale and unsent journeys on purpose, so the runs here accept a partial run. */
async function run(db: Knex, w: Window) {
  const r = await attributeWindow(db, w, { sumTolerance: TOL, allowPartial: true })();
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  return r.right;
}

// --- formatting -------------------------------------------------------------------------------------------

test('fixed rounds half away from zero at the printed digit and never prints -0', (t) => {
  t.is(fixed(1.005, 2), '1.01');
  t.is(fixed(2.675, 2), '2.68');
  t.is(fixed(-1.005, 2), '-1.01');
  t.is(fixed(-0.0001, 2), '0.00');
  t.is(fixed(0.33333333, 4), '0.3333');
  t.is(fixed(12, 0), '12');
  t.throws(() => fixed(Infinity, 2));
});

test('ratios are undefined on a zero divisor and print as an empty cell', (t) => {
  t.is(ratio(10, 0), undefined);
  t.is(ratio(0, 0), undefined);
  t.is(ratio(10, 4), 2.5);
  t.is(cell(undefined, 2), '');
  t.is(cell(ratio(1, 3), 4), '0.3333');
  t.is(human(1234567.891, 2), '1,234,567.89');
  t.is(human(-1234.5, 0), '-1,235');
});

test('esc neutralises markup from data', (t) => {
  t.is(esc(`<b a="x">'&'</b>`), '&lt;b a=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;');
});

// --- the reporting definitions ----------------------------------------------------------------------------

test('cost is counted once for a session shared by two journeys; credit and revenue add up', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, [
    { id: 's1', user: 'u1', date: '2023-09-01', time: '09:00:00', channel: 'Search', cost: 10 },
    { id: 's2', user: 'u1', date: '2023-09-01', time: '10:00:00', channel: 'Email', cost: 2 },
  ]);
  await seedConversions(db, [
    { id: 'c1', user: 'u1', date: '2023-09-01', time: '11:00:00', revenue: 100 },
    { id: 'c2', user: 'u1', date: '2023-09-02', revenue: 50 },
  ]);
  await seedJourneys(db, [
    { conv: 'c1', sessions: ['s1', 's2'], answers: { s1: 0.25, s2: 0.75 } },
    { conv: 'c2', sessions: ['s1', 's2'], answers: { s1: 0.5, s2: 0.5 } },
  ]);
  const out = await run(db, W);
  const rows = await reporting(db);
  const search = cr(rows, 'Search', '2023-09-01')!;
  t.is(search['cost'], 10);
  t.is(search['ihc'], 0.75);
  t.is(search['ihc_revenue'], 0.25 * 100 + 0.5 * 50);
  const email = cr(rows, 'Email', '2023-09-01')!;
  t.is(email['cost'], 2);
  t.is(email['ihc'], 1.25);
  t.is(out.counts.attributed, 2);
  t.is(out.reconciliation.sessionCost, 12);
  t.is(out.reconciliation.reportedCost, 12);
  t.true(Math.abs(out.reconciliation.creditedRevenue - 150) < 1e-9);
});

test('the cost reconciliation gives the same figures for a window holding most sessions and for a short one', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, [
    { id: 'a', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 5 },
    { id: 'b', user: 'u2', date: '2023-09-03', channel: 'Display', cost: 7.5 },
    { id: 'c', user: 'u3', date: '2023-09-03', channel: 'Display', cost: null },
    { id: 'd', user: 'u4', date: '2023-09-02', channel: 'Social' },
    { id: 'e', user: 'u5', date: '2023-09-05', channel: 'Social', cost: 100 },
  ]);
  await db('session_costs').insert({ session_id: 'ghost', cost: 3 });
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 40 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['a'], answers: 'equal' }]);
  const expected = { sessionCost: 12.5, reportedCost: 12.5, sessionsWithoutCost: 1, orphanCosts: { rows: 1, cost: 3 } };
  // 5 cost rows for 4 window sessions: one pass over the cost rows
  t.like((await run(db, W)).reconciliation, expected);
  // 45 cost rows (more than 4 per window session): the window's sessions look up their costs, the orphans are found on their own
  await seedSessions(
    db,
    Array.from({ length: 40 }, (_, i) => ({ id: `old${i}`, user: `o${i}`, date: '2023-08-01', channel: 'Search', cost: 1 })),
  );
  t.like((await run(db, W)).reconciliation, expected);
  // no cost row without a session: both passes say none
  await db('session_costs').where({ session_id: 'ghost' }).delete();
  t.like((await run(db, W)).reconciliation, { ...expected, orphanCosts: { rows: 0, cost: 0 } });
  await db('session_costs').whereLike('session_id', 'old%').delete();
  t.like((await run(db, W)).reconciliation, { ...expected, orphanCosts: { rows: 0, cost: 0 } });
});

test("a cost cell sums its rows as SQL's SUM does, whatever their order: no low digits lost to a running sum", async (t) => {
  const { db } = await withDb(t);
  // a plain running sum gives 0 (1e16 + 1 rounds to 1e16) or 1, depending on the order the rows come in
  await seedSessions(db, [
    { id: 'a', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 1e16 },
    { id: 'b', user: 'u2', date: '2023-09-01', channel: 'Search', cost: 1 },
    { id: 'c', user: 'u3', date: '2023-09-01', channel: 'Search', cost: -1e16 },
    { id: 'd', user: 'u4', date: '2023-09-01', channel: 'Search', cost: 0.5 },
  ]);
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 40 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['a'], answers: 'equal' }]);
  const out = await run(db, W);
  t.is(cr(await reporting(db), 'Search', '2023-09-01')?.['cost'], 1.5);
  t.like(out.reconciliation, { sessionCost: 1.5, reportedCost: 1.5 });
});

test("credit written to channel_reporting that differs from attribution_customer_journey fails the check of the dates written, whether all credit is the window's or not", async (t) => {
  for (const otherWindow of [false, true]) {
    const { db } = await withDb(t);
    await seedSessions(db, [
      { id: 'a', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 5 },
      { id: 'x', user: 'u9', date: '2023-08-01', channel: 'Email', cost: 1 },
    ]);
    await seedConversions(db, [
      { id: 'c1', user: 'u1', date: '2023-09-01', revenue: 40 },
      { id: 'c0', user: 'u9', date: '2023-08-01', revenue: 10 },
    ]);
    await seedJourneys(db, [{ conv: 'c1', sessions: ['a'], answers: 'equal' }]);
    // credit of an earlier window's conversion: the dates' credit is no longer the window's alone
    if (otherWindow) await db('attribution_customer_journey').insert({ conv_id: 'c0', session_id: 'x', ihc: 1 });
    // a fault in the recompute: each cell it writes gets 0.5 more credit than its rows hold
    await db.raw(`CREATE TRIGGER skew AFTER INSERT ON channel_reporting BEGIN
                    UPDATE channel_reporting SET ihc = ihc + 0.5 WHERE channel_name = NEW.channel_name AND date = NEW.date; END`);
    const r = await attributeWindow(db, W, { sumTolerance: TOL, allowPartial: true })();
    t.true(E.isLeft(r) && r.left._tag === 'CheckFailed', `other window's credit: ${otherWindow}`);
    if (E.isLeft(r)) t.regex(JSON.stringify(r.left), /holds ihc 1.5 \/ revenue 40, attribution_customer_journey gives 1 \/ 40/);
    t.deepEqual(await reporting(db), []);
  }
});

test('cost rows counted twice by the per-channel-day pass fail the cost reconciliation and roll back', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, [
    { id: 'a', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 5 },
    { id: 'b', user: 'u2', date: '2023-09-02', channel: 'Display', cost: 7 },
  ]);
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 40 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['a'], answers: 'equal' }]);
  await run(db, W);
  const before = { acj: await acj(db), cr: await reporting(db) };
  // a session_sources that lost its key holds session b twice: joined to its cost row, the cost is counted twice in
  // channel_reporting and in the window's cost alike, so only session_costs read alone can tell
  await db.raw('CREATE TABLE ss_copy AS SELECT * FROM session_sources');
  await db.raw("INSERT INTO ss_copy SELECT * FROM session_sources WHERE session_id = 'b'");
  await db.raw('PRAGMA foreign_keys = OFF');
  await db.raw('DROP TABLE session_sources');
  await db.raw('ALTER TABLE ss_copy RENAME TO session_sources');
  const r = await attributeWindow(db, W, { sumTolerance: TOL, allowPartial: true })();
  t.true(E.isLeft(r) && r.left._tag === 'CheckFailed');
  if (E.isLeft(r)) t.regex(JSON.stringify(r.left), /session_costs holds 2 rows costing 12, its per channel and date sums 3 rows costing 19/);
  t.deepEqual({ acj: await acj(db), cr: await reporting(db) }, before);
});

/**
 * The window's reconciliation from the one pass over the cost rows (the window's session holds most of them), then,
 * with 10 older costed sessions added (more than 4 cost rows per window session), from the short window's passes.
 */
async function inEitherCostPass(t: ExecutionContext, db: Knex, expected: Record<string, unknown>): Promise<void> {
  t.like((await run(db, W)).reconciliation, expected);
  await seedSessions(
    db,
    Array.from({ length: 10 }, (_, i) => ({ id: `old${i}`, user: `o${i}`, date: '2023-08-01', channel: 'Search', cost: 1 })),
  );
  t.like((await run(db, W)).reconciliation, expected);
}

test('cost rows with a NULL session id are costs without a session, in either cost pass', async (t) => {
  const { db } = await withDb(t);
  // an adopted session_costs whose key allows NULL ids
  await db.schema.dropTable('session_costs');
  await db.raw('CREATE TABLE session_costs (session_id TEXT UNIQUE, cost REAL)');
  await seedSessions(db, [{ id: 'a', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 5 }]);
  await db.raw('INSERT INTO session_costs (session_id, cost) VALUES (NULL, 3)');
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 40 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['a'], answers: 'equal' }]);
  await inEitherCostPass(t, db, { sessionCost: 5, reportedCost: 5, orphanCosts: { rows: 1, cost: 3 } });
});

test('a cost row whose session has no date is not reported as a cost row without a session, in either cost pass', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, [
    { id: 'a', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 5 },
    { id: 'b', user: 'u2', date: '2023-09-02', channel: 'Display', cost: 7 },
  ]);
  await db('session_costs').insert({ session_id: 'ghost', cost: 3 });
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 40 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['a'], answers: 'equal' }]);
  // an adopted session_sources without NOT NULL on event_date: session b's date is gone
  await db.raw('CREATE TABLE ss_copy AS SELECT * FROM session_sources');
  await db.raw("UPDATE ss_copy SET event_date = NULL WHERE session_id = 'b'");
  await db.raw('PRAGMA foreign_keys = OFF');
  await db.raw('DROP TABLE session_sources');
  await db.raw('ALTER TABLE ss_copy RENAME TO session_sources');
  await inEitherCostPass(t, db, { sessionCost: 5, reportedCost: 5, orphanCosts: { rows: 1, cost: 3 } });
});

test('dates and channels that only carry cost appear with ihc 0; null cost counts as 0; sessions without cost row or credit do not', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, [
    { id: 'a', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 5 },
    { id: 'b', user: 'u2', date: '2023-09-03', channel: 'Display', cost: 7.5 },
    { id: 'c', user: 'u3', date: '2023-09-03', channel: 'Display', cost: null },
    { id: 'd', user: 'u4', date: '2023-09-02', channel: 'Social' },
    { id: 'e', user: 'u5', date: '2023-09-05', channel: 'Social' },
  ]);
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 40 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['a'], answers: 'equal' }]);
  const out = await run(db, W);
  // the reconciliation's cost pass counts the window's sessions without a cost row (d; c has one, with null
  // cost; e is dated after the window), the same figure the data quality section reads on its own
  t.is(out.reconciliation.sessionsWithoutCost, 1);
  const quality = await readDataQuality(dbOver(db), W)();
  t.deepEqual(E.map((q: { sessionsWithoutCost: number }) => q.sessionsWithoutCost)(quality), E.right(1));
  const rows = await reporting(db);
  t.deepEqual(
    rows.map((r) => [r['date'], r['channel_name'], r['cost'], r['ihc'], r['ihc_revenue']]),
    [
      ['2023-09-01', 'Search', 5, 1, 40],
      ['2023-09-03', 'Display', 7.5, 0, 0],
    ],
  );
  t.is(out.cells, 2);
});

test('credit on a session before the window lands on that session date, which is recomputed', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, [
    { id: 'old', user: 'u1', date: '2023-08-20', channel: 'Display', cost: 3 },
    { id: 'new', user: 'u1', date: '2023-09-02', channel: 'Search', cost: 1 },
  ]);
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-02', revenue: 10 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['old', 'new'], answers: { old: 0.4, new: 0.6 } }]);
  const out = await run(db, W);
  t.true(out.dates.includes('2023-08-20'));
  const rows = await reporting(db);
  t.deepEqual(cr(rows, 'Display', '2023-08-20'), { channel_name: 'Display', date: '2023-08-20', cost: 3, ihc: 0.4, ihc_revenue: 4 });
});

// --- classification and reconciliation -------------------------------------------------------------------

const mixed: SeedSession[] = [
  { id: 's1', user: 'u1', date: '2023-09-01', channel: 'Search', cost: 1 },
  { id: 's2', user: 'u2', date: '2023-09-01', channel: 'Email', cost: 1 },
  { id: 's3', user: 'u3', date: '2023-09-02', channel: 'Search', cost: 1 },
  { id: 's4', user: 'u4', date: '2023-09-02', channel: 'Display', cost: 1 },
  { id: 's5', user: 'u4', date: '2023-09-02', channel: 'Email', cost: 1 },
  { id: 's6', user: 'u6', date: '2023-09-02', channel: 'Search', cost: 1 },
];
const mixedJourneys: SeedJourney[] = [
  { conv: 'ok', sessions: ['s1'], answers: 'equal' },
  { conv: 'failed', sessions: ['s2'], failure: 'provider said 406' },
  // rebuilt after sending: the answer covers s4 only, the journey is now s4 + s5
  { conv: 'stale', sessions: ['s4', 's5'], answers: { s4: 1 } },
  { conv: 'pending', sessions: ['s3'] },
  { conv: 'nojourney', sessions: [], failure: 'no sessions' },
  { conv: 'invalid', sessions: [], status: 'invalid' },
];

async function seedMixed(db: Knex): Promise<void> {
  await seedSessions(db, mixed);
  await seedConversions(db, [
    { id: 'ok', user: 'u1', date: '2023-09-01', revenue: 10 },
    { id: 'failed', user: 'u2', date: '2023-09-01', revenue: 20 },
    { id: 'stale', user: 'u4', date: '2023-09-02', revenue: 30 },
    { id: 'pending', user: 'u3', date: '2023-09-02', revenue: 40 },
    { id: 'nojourney', user: 'u9', date: '2023-09-03', revenue: 50 },
    { id: 'invalid', user: 'u8', date: '2023-09-03', revenue: 60 },
    { id: 'notbuilt', user: 'u7', date: '2023-09-03', revenue: 70 },
    { id: 'outside', user: 'u6', date: '2023-09-04', revenue: 80 },
  ]);
  await seedJourneys(db, mixedJourneys);
}

test('conversions are classified: attributed, without journey, invalid, failed, stale answer, not sent', async (t) => {
  const { db } = await withDb(t);
  await seedMixed(db);
  const c = await classifyConversions(db, W, await latestRun(db, W));
  t.deepEqual(
    { total: c.total, attributed: c.attributed, noJourney: c.noJourney, invalid: c.invalid, failed: c.failed, stale: c.stale, pending: c.pending },
    { total: 7, attributed: 1, noJourney: 2, invalid: 1, failed: 1, stale: 1, pending: 1 },
  );
  t.is(c.revenue.attributed, 10);
  t.is(c.revenue.total, 280);
  const out = await run(db, W);
  // only the accepted answer is written: the stale one is not
  t.deepEqual((await acj(db)).map((r) => [r['conv_id'], r['session_id']]), [['ok', 's1']]);
  t.is(out.reconciliation.attributedRevenue, 10);
  t.is(out.reconciliation.creditedRevenue, 10);
});

test('the report prints the reconciliation and the summary line counts attributed and not attributed conversions', async (t) => {
  const { db, config } = await withDb(t);
  await seedMixed(db);
  const caps = testCaps(db, config);
  const r = await processAttribution(W, caps, { models: [], allowPartial: true })();
  if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
  const printed = caps.printed.join('\n');
  t.regex(printed, /7 in the window, 1 attributed, not attributed: 2 without journey, 1 excluded as invalid, 1 failed at the provider, 1 with stale answers, 1 not sent yet/);
  t.regex(printed, /revenue: +sum of ihc_revenue €10\.00 = revenue of the attributed conversions €10\.00/);
  t.regex(printed, /cost: +channel_reporting €6\.00 = cost of all sessions on the window's dates €6\.00/);
  t.regex(printed, /All channels +€6\.00 +1\.00 +€10\.00 +€6\.00 +1\.67/);
  t.false(fs.existsSync(path.join(r.right.dir, 'model_comparison.csv')));
});

// --- idempotence and failed checks ------------------------------------------------------------------------

test('a re-run replaces the window: same tables, nothing doubled; changed answers replace the old ones', async (t) => {
  const { db } = await withDb(t);
  await seedMixed(db);
  await run(db, W);
  const first = { acj: await acj(db), cr: await reporting(db) };
  const again = await run(db, W);
  t.deepEqual({ acj: await acj(db), cr: await reporting(db) }, first);
  t.is(again.acjRemoved, 1);
  // the provider's answer for the stale journey arrives: now it is attributed, channel_reporting follows
  await db('api_results').insert({ conv_id: 'stale', session_id: 's5', batch_id: 'seed', initializer: 0, holder: 0, closer: 0, ihc: 0.5 });
  await db('api_results').where({ conv_id: 'stale', session_id: 's4' }).update({ ihc: 0.5 });
  const third = await run(db, W);
  t.is(third.counts.attributed, 2);
  const rows = await reporting(db);
  t.is(cr(rows, 'Display', '2023-09-02')!['ihc'], 0.5);
  t.is(cr(rows, 'Email', '2023-09-02')!['ihc_revenue'], 15);
});

test('a conversion whose answers disappear loses its old credit, also on dates outside the window', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, [{ id: 'x', user: 'u1', date: '2023-08-15', channel: 'Display', cost: 2 }]);
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 10 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['x'], answers: 'equal' }]);
  await run(db, W);
  t.is(cr(await reporting(db), 'Display', '2023-08-15')!['ihc'], 1);
  await db('api_results').delete();
  const out = await run(db, W);
  t.true(out.dates.includes('2023-08-15'), 'the date of the old credit is recomputed');
  t.is(cr(await reporting(db), 'Display', '2023-08-15')!['ihc'], 0);
  t.is(out.counts.pending, 1);
});

test('ihc not summing to 1 fails with CheckFailed and leaves every table as it was', async (t) => {
  const { db, config } = await withDb(t);
  await seedMixed(db);
  await run(db, W);
  const before = { acj: await acj(db), cr: await reporting(db) };
  await db('api_results').where({ conv_id: 'ok', session_id: 's1' }).update({ ihc: 0.9 });
  const r = await attributeWindow(db, W, { sumTolerance: TOL, allowPartial: true })();
  t.true(E.isLeft(r));
  if (E.isLeft(r)) {
    t.is(r.left._tag, 'CheckFailed');
    t.regex(JSON.stringify(r.left), /conversion ok: sum 0\.9/);
  }
  t.deepEqual({ acj: await acj(db), cr: await reporting(db) }, before);
  // the whole program stops before writing any output
  const caps = testCaps(db, config);
  const p = await processAttribution(W, caps, { models: [], allowPartial: true })();
  t.true(E.isLeft(p) && p.left._tag === 'CheckFailed');
  t.false(fs.existsSync(path.join(config.output.dir, '2023-09-01_2023-09-03', 'channel_reporting.csv')));
});

test('a negative session credit fails the check even when the sum is 1', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, mixed.slice(3, 5));
  await seedConversions(db, [{ id: 'c', user: 'u4', date: '2023-09-02', revenue: 1 }]);
  await seedJourneys(db, [{ conv: 'c', sessions: ['s4', 's5'], answers: { s4: 1.5, s5: -0.5 } }]);
  const r = await attributeWindow(db, W, { sumTolerance: TOL })();
  t.true(E.isLeft(r) && r.left._tag === 'CheckFailed');
  t.deepEqual(await acj(db), []);
  t.deepEqual(await reporting(db), []);
});

test('a credited session missing from session_sources fails the reconciliation and rolls back', async (t) => {
  const { db } = await withDb(t);
  await seedSessions(db, mixed.slice(0, 1));
  await seedConversions(db, [{ id: 'ok', user: 'u1', date: '2023-09-01', revenue: 10 }]);
  await seedJourneys(db, [{ conv: 'ok', sessions: ['s1'], answers: 'equal' }]);
  await db('session_sources').where({ session_id: 's1' }).delete();
  const r = await attributeWindow(db, W, { sumTolerance: TOL })();
  t.true(E.isLeft(r) && r.left._tag === 'CheckFailed');
  if (E.isLeft(r)) t.regex(JSON.stringify(r.left), /missing from session_sources/);
  t.deepEqual(await acj(db), []);
});

// --- windows in any order ---------------------------------------------------------------------------------

/** Three windows' worth of conversions whose journeys reach back into each other's dates. */
async function seedCrossWindows(db: Knex): Promise<void> {
  const channels = ['Search', 'Email', 'Display', 'Social'];
  const sessions: SeedSession[] = [];
  const conversions: { id: string; user: string; date: string; revenue: number }[] = [];
  const journeys: SeedJourney[] = [];
  for (let u = 0; u < 24; u++) {
    const ids: string[] = [];
    const n = 1 + (u % 4);
    const convDay = 1 + (u % 8);
    for (let k = 0; k < n; k++) {
      const day = Math.max(1, convDay - (n - k) * 2 + 1);
      const id = `u${u}s${k}`;
      ids.push(id);
      sessions.push({
        id,
        user: `u${u}`,
        date: `2023-09-0${day}`,
        time: `0${k}:30:00`,
        channel: channels[(u + k) % channels.length]!,
        ...(k % 3 === 2 ? {} : { cost: 0.5 + ((u * 7 + k) % 5) }),
      });
    }
    // sessions carrying only cost, on every day
    sessions.push({ id: `cost-only-${u}`, user: `v${u}`, date: `2023-09-0${1 + (u % 9)}`, channel: 'Affiliate', cost: 1.25 });
    conversions.push({ id: `c${u}`, user: `u${u}`, date: `2023-09-0${convDay}`, revenue: 10 + u });
    const weights = ids.map((_, i) => i + 1);
    const total = weights.reduce((a, b) => a + b, 0);
    journeys.push({ conv: `c${u}`, sessions: ids, answers: Object.fromEntries(ids.map((id, i) => [id, weights[i]! / total])) });
  }
  await seedSessions(db, sessions);
  await seedConversions(db, conversions);
  await seedJourneys(db, journeys);
}

test('windows processed in any order, twice, or as one give the same channel_reporting', async (t) => {
  const A: Window = { start: '2023-09-01', end: '2023-09-04' };
  const B: Window = { start: '2023-09-05', end: '2023-09-08' };
  const AB: Window = { start: '2023-09-01', end: '2023-09-08' };
  const orders: Window[][] = [[A, B], [B, A], [AB], [A, B, A, B], [B, AB, A]];
  const results: Record<string, unknown>[][] = [];
  for (const order of orders) {
    const { db } = await withDb(t);
    await seedCrossWindows(db);
    for (const w of order) await run(db, w);
    results.push(await reporting(db));
  }
  t.true(results[0]!.length > 10);
  // cells carrying only cost (the 'Affiliate' sessions) appear with ihc 0
  t.true(results[0]!.some((r) => r['channel_name'] === 'Affiliate' && r['ihc'] === 0));
  for (let i = 1; i < results.length; i++) {
    t.is(results[i]!.length, results[0]!.length, `order ${i}`);
    results[i]!.forEach((row, k) => {
      const ref = results[0]![k]!;
      t.is(row['channel_name'], ref['channel_name']);
      t.is(row['date'], ref['date']);
      for (const col of ['cost', 'ihc', 'ihc_revenue']) t.true(Math.abs(Number(row[col]) - Number(ref[col])) < 1e-9, `order ${i} row ${k} ${col}`);
    });
  }
});

// --- outputs ----------------------------------------------------------------------------------------------

test('CSV outputs: columns, fixed precision, empty CPO/ROAS on zero, sorted by date then channel', async (t) => {
  const { db, config } = await withDb(t);
  await seedSessions(db, [
    { id: 'p', user: 'u1', date: '2023-09-02', channel: 'search', cost: 0 },
    { id: 'q', user: 'u1', date: '2023-09-02', channel: 'Search', cost: 3.333 },
    { id: 'r', user: 'u2', date: '2023-09-01', channel: 'Zeta', cost: 1 },
  ]);
  await seedConversions(db, [{ id: 'c1', user: 'u1', date: '2023-09-02', revenue: 100 }]);
  await seedJourneys(db, [{ conv: 'c1', sessions: ['p', 'q'], answers: { p: 1 / 3, q: 2 / 3 } }]);
  const r = await processAttribution(W, testCaps(db, config), { models: ['linear', 'first_touch'] })();
  if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
  const read = (f: string) => fs.readFileSync(path.join(r.right.dir, f), 'utf8').trim().split('\n');
  t.deepEqual(read('channel_reporting.csv'), [
    'channel_name,date,cost,ihc,ihc_revenue,CPO,ROAS,provider,conv_type_id',
    'Zeta,2023-09-01,1.00,0.0000,0.00,,0.0000,local,default',
    'Search,2023-09-02,3.33,0.6667,66.67,5.00,20.0020,local,default',
    'search,2023-09-02,0.00,0.3333,33.33,0.00,,local,default',
  ]);
  t.deepEqual(read('channel_summary.csv'), [
    'channel_name,cost,attributed_orders,attributed_revenue,CPO,ROAS,provider,conv_type_id',
    'Search,3.33,0.6667,66.67,5.00,20.0020,local,default',
    'Zeta,1.00,0.0000,0.00,,0.0000,local,default',
    'search,0.00,0.3333,33.33,0.00,,local,default',
  ]);
  const mc = read('model_comparison.csv');
  t.is(mc[0], 'channel_name,cost,linear_orders,linear_revenue,linear_CPO,linear_ROAS,first_touch_orders,first_touch_revenue,first_touch_CPO,first_touch_ROAS');
  t.is(mc[1], 'Search,3.33,0.5000,50.00,6.67,15.0015,0.0000,0.00,,0.0000');
  t.is(mc[2], 'Zeta,1.00,0.0000,0.00,,0.0000,0.0000,0.00,,0.0000');
  t.is(mc[3], 'search,0.00,0.5000,50.00,0.00,,1.0000,100.00,0.00,');
  t.true(fs.existsSync(path.join(r.right.dir, 'report.html')));
});

test('model comparison: every model credits each journey with 1 in model_credits; a re-run replaces the window', async (t) => {
  const { db, config } = await withDb(t);
  await seedCrossWindows(db);
  const w: Window = { start: '2023-09-01', end: '2023-09-08' };
  const caps = testCaps(db, config);
  const r1 = await processAttribution(w, caps, { models: ALL_MODELS })();
  if (E.isLeft(r1)) return t.fail(JSON.stringify(r1.left));
  const sums = (await db('model_credits').select('model', 'conv_id').sum({ s: 'credit' }).groupBy('model', 'conv_id')) as { s: number }[];
  // the IHC column comes from attribution_customer_journey, not model_credits
  t.is(sums.length, 24 * (ALL_MODELS.length - 1));
  for (const s of sums) t.true(Math.abs(Number(s.s) - 1) < 1e-9);
  const count1 = (await db('model_credits').count({ n: '*' }))[0]!['n'];
  await processAttribution(w, caps, { models: ALL_MODELS })();
  t.is((await db('model_credits').count({ n: '*' }))[0]!['n'], count1);
  const cmp = r1.right.comparison!;
  for (const m of ALL_MODELS) {
    const total = cmp.channels.reduce((a, ch) => a + (ch.byModel.get(m)?.orders ?? 0), 0);
    t.true(Math.abs(total - 24) < 1e-9, `${m} credits 24 orders`);
  }
  // the per-channel figures are summed while crediting: they must be what model_credits holds
  const stored = (await db.raw(
    `SELECT m.model AS model, js.channel_name AS channel, SUM(m.credit) AS orders, SUM(m.credit * c.revenue) AS revenue
       FROM model_credits m JOIN conversions c ON c.conv_id = m.conv_id
       JOIN journey_sessions js ON js.conv_id = m.conv_id AND js.session_id = m.session_id
      WHERE c.conv_date >= ? AND c.conv_date <= ? GROUP BY m.model, js.channel_name`,
    [w.start, w.end],
  )) as { model: ModelName; channel: string; orders: number; revenue: number }[];
  t.true(stored.length > 2 * (ALL_MODELS.length - 1));
  for (const s of stored) {
    const got = cmp.channels.find((c) => c.channel_name === s.channel)?.byModel.get(s.model);
    t.true(Math.abs((got?.orders ?? NaN) - s.orders) < 1e-9, `${s.model} ${s.channel} orders`);
    t.true(Math.abs((got?.revenue ?? NaN) - s.revenue) < 1e-9, `${s.model} ${s.channel} revenue`);
  }
});

test('the HTML report escapes names from the data and loads nothing from outside', async (t) => {
  const { db, config } = await withDb(t);
  const evil = `<script>alert("x")</script>&co`;
  await seedSessions(db, [{ id: 's', user: 'u', date: '2023-09-01', channel: evil, cost: 1 }]);
  await seedConversions(db, [{ id: 'c', user: 'u', date: '2023-09-01', revenue: 5 }]);
  await seedJourneys(db, [{ conv: 'c', sessions: ['s'], answers: 'equal' }]);
  const r = await processAttribution(W, testCaps(db, config), { models: ALL_MODELS })();
  if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
  const html = fs.readFileSync(path.join(r.right.dir, 'report.html'), 'utf8');
  t.false(html.includes('<script'));
  t.true(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co'));
  t.false(/(src|href)=["']?(https?:)?\/\//i.test(html));
  t.false(/@import|url\(/i.test(html));
});
