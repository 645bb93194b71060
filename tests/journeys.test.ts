import * as fs from 'node:fs';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import { buildJourneys, type JourneyOptions } from '../shared/journeys/build.js';
import { dbOver, orThrow } from '../shared/db/db.js';
import { localFiles } from '../shared/files.js';
import { computeInsights } from '../shared/journeys/insights.js';
import { insightsOf } from '../shared/journeys/insights-store.js';
import { insightsCsvRows, writeInsights } from '../shared/journeys/insights-files.js';
import { distributionOfHistogram } from '../shared/journeys/percentiles.js';
import { buildJourneysProgram, summaryOf } from '../shared/journeys/program.js';
import { ISSUE_CHECKS } from '../shared/journeys/validate.js';
import { driverUnderTest, freshDb, runCli, testCaps } from './helpers/env.js';
import { journeySql } from '../shared/journeys/sql.js';
import { writeTransaction } from '../shared/db/connect.js';

const W = { start: '2023-09-01', end: '2023-09-03' };
const DEFAULTS: JourneyOptions = { lookbackDays: null, maxSessions: null, includeSameSecond: false, nonConverting: null };

/** [session_id, user_id, date, time, channel, holder, closer, impression] */
type S = [string, string, string, string, string?, number?, number?, number?];
/** [conv_id, user_id, date, time, revenue] */
type C = [string, string, string, string, number?];

async function seed(db: Knex, sessions: S[], conversions: C[], costs?: Array<[string, number | null]>): Promise<void> {
  await writeTransaction(db, async (trx) => {
    if (sessions.length > 0) {
      await trx.batchInsert(
        'session_sources',
        sessions.map(([session_id, user_id, event_date, event_time, channel_name, h, c, i]) => ({
          session_id,
          user_id,
          event_date,
          event_time,
          channel_name: channel_name ?? 'SEO',
          holder_engagement: h ?? 0,
          closer_engagement: c ?? 0,
          impression_interaction: i ?? 0,
        })),
        200,
      );
    }
    if (conversions.length > 0) {
      await trx.batchInsert(
        'conversions',
        conversions.map(([conv_id, user_id, conv_date, conv_time, revenue]) => ({ conv_id, user_id, conv_date, conv_time, revenue: revenue ?? 10 })),
        200,
      );
    }
    const costRows = costs ?? sessions.map((s) => [s[0], 1] as [string, number]);
    if (costRows.length > 0) await trx.batchInsert('session_costs', costRows.map(([session_id, cost]) => ({ session_id, cost })), 200);
  });
}

const journeyOf = async (db: Knex, conv: string) =>
  (await db('journey_sessions').where({ conv_id: conv }).orderBy('position')) as Array<{
    session_id: string;
    position: number;
    conversion: number;
    conv_date: string;
    channel_name: string;
  }>;
const idsOf = async (db: Knex, conv: string) => (await journeyOf(db, conv)).map((r) => r.session_id);
const statusOf = async (db: Knex, conv: string) =>
  ((await db('journeys').where({ conv_id: conv }).first()) as { status: string; session_count: number } | undefined);

test('a journey holds the sessions strictly before the conversion; the same second counts only when asked', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['s1', 'u', '2023-09-01', '09:59:59'],
        ['s2', 'u', '2023-09-01', '10:00:00'], // the conversion's second
        ['s3', 'u', '2023-09-01', '10:00:01'], // after
        ['s4', 'u', '2023-09-02', '08:00:00'], // a later day
      ],
      [['c1', 'u', '2023-09-01', '10:00:00']],
    );
    await buildJourneys(db, W, DEFAULTS);
    t.deepEqual(await idsOf(db, 'c1'), ['s1']);
    await buildJourneys(db, W, { ...DEFAULTS, includeSameSecond: true });
    t.deepEqual(await idsOf(db, 'c1'), ['s1', 's2']);
    t.deepEqual((await journeyOf(db, 'c1')).map((r) => r.conversion), [0, 1]);
  } finally {
    await cleanup();
  }
});

test('sessions are ordered by date, time, then session_id; positions run 0..n-1 and only the last converts', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['b', 'u', '2023-09-01', '01:00:00'],
        ['z', 'u', '2023-08-31', '23:00:00'],
        ['s9', 'u', '2023-09-01', '05:00:00'],
        ['s10', 'u', '2023-09-01', '05:00:00'], // same second: 's10' < 's9' as strings
        ['a', 'u', '2023-08-20', '12:00:00'],
        ['other', 'v', '2023-09-01', '04:00:00'], // another user
      ],
      [['c1', 'u', '2023-09-02', '00:00:00']],
    );
    const r = await buildJourneys(db, W, DEFAULTS);
    const rows = await journeyOf(db, 'c1');
    t.deepEqual(rows.map((x) => x.session_id), ['a', 'z', 'b', 's10', 's9']);
    t.deepEqual(rows.map((x) => x.position), [0, 1, 2, 3, 4]);
    t.deepEqual(rows.map((x) => x.conversion), [0, 0, 0, 0, 1]);
    t.true(rows.every((x) => x.conv_date === '2023-09-02'));
    t.like(await statusOf(db, 'c1'), { status: 'ok', session_count: 5 });
    t.like(r, { conversions: 1, journeys: 1, sessions: 5, withoutSessions: 0, invalid: 0 });
    // the attributes are copied from the session
    await db('session_sources').where({ session_id: 's9' }).update({ channel_name: 'Direct', holder_engagement: 1, closer_engagement: 1, impression_interaction: 1 });
    await buildJourneys(db, W, DEFAULTS);
    t.like(await db('journey_sessions').where({ conv_id: 'c1', session_id: 's9' }).first(), {
      channel_name: 'Direct',
      holder_engagement: 1,
      closer_engagement: 1,
      impression_interaction: 1,
      event_date: '2023-09-01',
      event_time: '05:00:00',
    });
  } finally {
    await cleanup();
  }
});

test('lookback keeps sessions at most N x 24 h before the conversion; max_sessions keeps the latest N', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['old', 'u', '2023-08-25', '10:00:00'],
        ['edge-out', 'u', '2023-08-31', '09:59:59'], // 1 day and 1 second before
        ['edge-in', 'u', '2023-08-31', '10:00:00'], // exactly 1 day before
        ['late', 'u', '2023-09-01', '09:00:00'],
        ['last', 'u', '2023-09-01', '09:30:00'],
      ],
      [['c1', 'u', '2023-09-01', '10:00:00']],
    );
    await buildJourneys(db, W, { ...DEFAULTS, lookbackDays: 1 });
    t.deepEqual(await idsOf(db, 'c1'), ['edge-in', 'late', 'last']);
    await buildJourneys(db, W, { ...DEFAULTS, lookbackDays: 7 });
    t.deepEqual(await idsOf(db, 'c1'), ['old', 'edge-out', 'edge-in', 'late', 'last']);
    // across a month boundary and a leap day: 2024-03-01 minus 1 day is 2024-02-29
    await db('session_sources').insert({ session_id: 'leap', user_id: 'w', event_date: '2024-02-29', event_time: '12:00:00', channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0 });
    await db('session_sources').insert({ session_id: 'leap-out', user_id: 'w', event_date: '2024-02-28', event_time: '23:00:00', channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0 });
    await db('conversions').insert({ conv_id: 'c2', user_id: 'w', conv_date: '2024-03-01', conv_time: '12:00:00', revenue: 1 });
    await buildJourneys(db, { start: '2024-03-01', end: '2024-03-01' }, { ...DEFAULTS, lookbackDays: 1 });
    t.deepEqual(await idsOf(db, 'c2'), ['leap']);

    const r = await buildJourneys(db, W, { ...DEFAULTS, maxSessions: 2 });
    const rows = await journeyOf(db, 'c1');
    t.deepEqual(rows.map((x) => [x.session_id, x.position, x.conversion]), [
      ['late', 0, 0],
      ['last', 1, 1],
    ]);
    t.like(await statusOf(db, 'c1'), { session_count: 2 });
    t.is(r.sessions, 2);
    await buildJourneys(db, W, { ...DEFAULTS, maxSessions: 2, lookbackDays: 1 });
    t.deepEqual(await idsOf(db, 'c1'), ['late', 'last']);
    await buildJourneys(db, W, { ...DEFAULTS, maxSessions: 1 });
    t.deepEqual((await journeyOf(db, 'c1')).map((x) => [x.session_id, x.position, x.conversion]), [['last', 0, 1]]);
  } finally {
    await cleanup();
  }
});

test('a user converting twice: shared sessions appear in both journeys, each with its own rows and flags', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['s1', 'u', '2023-09-01', '08:00:00'],
        ['s2', 'u', '2023-09-01', '09:00:00'],
        ['s3', 'u', '2023-09-02', '09:00:00'],
      ],
      [
        ['c1', 'u', '2023-09-01', '10:00:00'],
        ['c2', 'u', '2023-09-02', '10:00:00'],
      ],
    );
    const r = await buildJourneys(db, W, DEFAULTS);
    t.deepEqual((await journeyOf(db, 'c1')).map((x) => [x.session_id, x.conversion]), [
      ['s1', 0],
      ['s2', 1],
    ]);
    t.deepEqual((await journeyOf(db, 'c2')).map((x) => [x.session_id, x.conversion]), [
      ['s1', 0],
      ['s2', 0],
      ['s3', 1],
    ]);
    t.like(r, { conversions: 2, journeys: 2, sessions: 5 });
  } finally {
    await cleanup();
  }
});

test('conversions without an earlier session get a no_sessions row and are counted, never dropped', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['after', 'late', '2023-09-01', '11:00:00'],
        ['ok1', 'u', '2023-09-01', '09:00:00'],
      ],
      [
        ['c-none', 'ghost', '2023-09-01', '10:00:00'], // the user has no session at all
        ['c-late', 'late', '2023-09-01', '10:00:00'], // only a session after the conversion
        ['c-ok', 'u', '2023-09-01', '10:00:00'],
      ],
    );
    const r = await buildJourneys(db, W, DEFAULTS);
    t.like(await statusOf(db, 'c-none'), { status: 'no_sessions', session_count: 0 });
    t.like(await statusOf(db, 'c-late'), { status: 'no_sessions', session_count: 0 });
    t.like(await statusOf(db, 'c-ok'), { status: 'ok', session_count: 1 });
    t.like(r, { conversions: 3, journeys: 1, sessions: 1, withoutSessions: 2 });
    t.deepEqual(await db('journey_sessions').whereIn('conv_id', ['c-none', 'c-late']), []);
    // only the user without any session is a data issue; a later-only session is normal behaviour
    t.deepEqual(
      (await db('data_issues').where({ reason: 'user_without_sessions' })).map((d: { record_key: string }) => d.record_key),
      ['c-none'],
    );
    t.is(summaryOf(r), '2023-09-01..2023-09-03: 1 journeys (1 sessions) from 3 conversions; 2 without earlier session; 1 data issue');
  } finally {
    await cleanup();
  }
});

test('window edges: the first and the last day are inclusive, neighbours are not; earlier sessions come from any date', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['s0', 'u', '2023-06-01', '00:00:00'],
        ['s1', 'u', '2023-08-31', '23:59:59'],
      ],
      [
        ['before', 'u', '2023-08-31', '23:59:59'],
        ['first', 'u', '2023-09-01', '00:00:00'],
        ['last', 'u', '2023-09-03', '23:59:59'],
        ['after', 'u', '2023-09-04', '00:00:00'],
      ],
    );
    const r = await buildJourneys(db, W, DEFAULTS);
    t.deepEqual((await db('journeys').orderBy('conv_id')).map((j: { conv_id: string }) => j.conv_id), ['first', 'last']);
    t.deepEqual(await idsOf(db, 'first'), ['s0', 's1']);
    t.deepEqual(await idsOf(db, 'last'), ['s0', 's1']);
    t.like(r, { conversions: 2, journeys: 2, sessions: 4 });
    // a one-day window
    const one = await buildJourneys(db, { start: '2023-09-04', end: '2023-09-04' }, DEFAULTS);
    t.like(one, { conversions: 1, journeys: 1 });
    t.is((await db('journeys')).length, 3);
  } finally {
    await cleanup();
  }
});

const snapshot = async (db: Knex) => ({
  journeys: await db('journeys').orderBy('conv_id'),
  sessions: await db('journey_sessions').orderBy(['conv_id', 'position']),
  issues: ((await db('data_issues').orderBy('id')) as Array<{ id: number; window_start: string }>).map(({ id: _id, ...rest }) => rest),
});

test('a re-run gives the same tables; other windows are untouched; removed data disappears', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['s1', 'u', '2023-09-01', '08:00:00'],
        ['s2', 'u', '2023-09-05', '08:00:00'],
        ['nocost', 'v', '2023-09-01', '07:00:00'],
      ],
      [
        ['c1', 'u', '2023-09-01', '10:00:00'],
        ['c2', 'u', '2023-09-05', '10:00:00'],
        ['c3', 'v', '2023-09-02', '10:00:00'],
      ],
      [['s1', 1], ['s2', 2]],
    );
    const other = { start: '2023-09-04', end: '2023-09-06' };
    await buildJourneys(db, other, DEFAULTS);
    await buildJourneys(db, W, DEFAULTS);
    const first = await snapshot(db);
    await buildJourneys(db, W, DEFAULTS);
    t.deepEqual(await snapshot(db), first);
    t.is(first.issues.filter((i) => i.window_start === W.start).length, 1); // nocost, once

    await db('conversions').where({ conv_id: 'c3' }).delete();
    await buildJourneys(db, W, DEFAULTS);
    t.deepEqual((await db('journeys').orderBy('conv_id')).map((j: { conv_id: string }) => j.conv_id), ['c1', 'c2']);
    t.deepEqual(await db('journey_sessions').where({ conv_id: 'c3' }), []);
    t.is((await journeyOf(db, 'c2')).length, 2, 'the other window keeps its journey');
    t.is((await db('data_issues').where({ window_start: other.start })).length, 0);
  } finally {
    await cleanup();
  }
});

test('a build that fails half-way leaves the previous journeys and issues as they were', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(db, [['s1', 'u', '2023-09-01', '08:00:00']], [['c1', 'u', '2023-09-01', '10:00:00']], []);
    await buildJourneys(db, W, DEFAULTS);
    const before = await snapshot(db);
    await db('session_sources').insert({ session_id: 's0', user_id: 'u', event_date: '2023-08-01', event_time: '08:00:00', channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0 });
    await db.raw(`CREATE TRIGGER boom BEFORE INSERT ON journey_sessions BEGIN SELECT RAISE(ABORT, 'disk on fire'); END`);
    // better-sqlite3's SqliteError is not an Error of this realm
    await t.throwsAsync(() => buildJourneys(db, W, DEFAULTS), { any: true, message: /disk on fire/ });
    t.deepEqual(await snapshot(db), before);
  } finally {
    await cleanup();
  }
});

test('validation: malformed dates and times, orphans and shared ids are reported; errors are excluded', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        ['good', 'u', '2023-09-01', '08:00:00'],
        ['bad-date', 'u', '2023-02-30', '08:00:00'],
        ['bad-time', 'u', '2023-09-01', '24:00:00'],
        ['bad-time2', 'u', '2023-09-01', '8:00:00'],
        ['far', 'x', '2023-02-31', '08:00:00'], // malformed, but neither dated in the window nor of a converting user
        ['c-shared', 'u', '2023-08-01', '08:00:00'], // a session_id that is also a conv_id
      ],
      [
        ['c1', 'u', '2023-09-01', '10:00:00'],
        ['c-bad-time', 'u', '2023-09-02', '25:00:00'],
        ['c-bad-date', 'u', '2023-9-2', '10:00:00'],
        ['c-shared', 'u', '2023-09-02', '10:00:00'],
        ['c-ghost', 'nobody', '2023-09-03', '10:00:00'],
      ],
      [
        ['good', 1],
        ['bad-date', null], // a NULL cost is a cost row
        ['orphan', 3],
      ],
    );
    const r = await buildJourneys(db, W, DEFAULTS);
    const issues = (await db('data_issues').orderBy('id')) as Array<{ reason: string; record_key: string; severity: string; table_name: string; detail: string; window_start: string; window_end: string }>;
    const got = issues.map((i) => `${i.table_name}:${i.reason}:${i.record_key}:${i.severity}`);
    t.deepEqual(got, [
      'session_sources:malformed_event_date:bad-date:error',
      'session_sources:malformed_event_time:bad-time:error',
      'session_sources:malformed_event_time:bad-time2:error',
      'conversions:malformed_conv_date:c-bad-date:error',
      'conversions:malformed_conv_time:c-bad-time:error',
      'conversions:conv_id_is_session_id:c-shared:warning',
      'conversions:user_without_sessions:c-ghost:warning',
      'session_sources:session_without_cost:bad-time:warning',
      'session_sources:session_without_cost:bad-time2:warning',
      'session_sources:session_without_cost:c-shared:warning',
      'session_costs:cost_without_session:orphan:warning',
    ]);
    t.true(issues.every((i) => i.window_start === W.start && i.window_end === W.end));
    t.is(issues[0]!.detail, 'event_date "2023-02-30" is not a real date written YYYY-MM-DD');
    t.is(issues[4]!.detail, 'conv_time "25:00:00" is not a real time written HH:MM:SS');
    // malformed sessions are out of every journey; a malformed conversion is invalid, the rest are built
    t.deepEqual(await idsOf(db, 'c1'), ['c-shared', 'good']);
    t.like(await statusOf(db, 'c-bad-time'), { status: 'invalid', session_count: 0 });
    t.deepEqual(await idsOf(db, 'c-bad-time'), []);
    t.is(await statusOf(db, 'c-bad-date'), undefined, 'a conversion without a real date belongs to no window');
    t.like(await statusOf(db, 'c-shared'), { status: 'ok', session_count: 2 });
    t.like(await statusOf(db, 'c-ghost'), { status: 'no_sessions' });
    t.like(r, { conversions: 4, journeys: 2, invalid: 1, withoutSessions: 1 });
    t.deepEqual(
      r.issues.map((i) => [i.reason, i.count]),
      [
        ['malformed_event_date', 1],
        ['malformed_event_time', 2],
        ['malformed_conv_date', 1],
        ['malformed_conv_time', 1],
        ['conv_id_is_session_id', 1],
        ['user_without_sessions', 1],
        ['session_without_cost', 3],
        ['cost_without_session', 1],
      ],
    );
    t.is(summaryOf(r), '2023-09-01..2023-09-03: 2 journeys (4 sessions) from 4 conversions; 1 without earlier session; 1 invalid; 11 data issues');
  } finally {
    await cleanup();
  }
});

test('validation: duplicate ids in tables without their primary key are reported and excluded', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    // an adopted database whose tables lost their keys
    await db.schema.dropTable('session_sources');
    await db.schema.dropTable('conversions');
    await db.schema.dropTable('session_costs');
    await db.raw(`CREATE TABLE session_sources (session_id TEXT, user_id TEXT, event_date TEXT, event_time TEXT, channel_name TEXT,
                    holder_engagement INTEGER, closer_engagement INTEGER, impression_interaction INTEGER)`);
    await db.raw(`CREATE TABLE conversions (conv_id TEXT, user_id TEXT, conv_date TEXT, conv_time TEXT, revenue REAL)`);
    await db.raw(`CREATE TABLE session_costs (session_id TEXT, cost REAL)`);
    await seed(
      db,
      [
        ['dup', 'u', '2023-09-01', '08:00:00'],
        ['dup', 'u', '2023-09-01', '08:00:00'],
        ['ok', 'u', '2023-09-01', '09:00:00'],
      ],
      [
        ['c1', 'u', '2023-09-01', '10:00:00'],
        ['c2', 'u', '2023-09-01', '10:00:00'],
        ['c2', 'u', '2023-09-01', '11:00:00'],
      ],
      [
        ['ok', 1],
        ['ok', 1],
        ['dup', 1],
      ],
    );
    const r = await buildJourneys(db, W, DEFAULTS);
    const got = (await db('data_issues').orderBy('id')).map((i: { reason: string; record_key: string; severity: string; detail: string }) => `${i.reason}:${i.record_key}:${i.severity}:${i.detail}`);
    t.deepEqual(got, [
      'duplicate_session_id:dup:error:2 rows share this session_id',
      'duplicate_conv_id:c2:error:2 rows share this conv_id',
      'duplicate_cost_row:ok:warning:2 cost rows share this session_id',
    ]);
    t.deepEqual(await idsOf(db, 'c1'), ['ok']);
    t.like(await statusOf(db, 'c2'), { status: 'invalid' });
    t.is((await db('journeys').where({ conv_id: 'c2' })).length, 1);
    t.like(r, { conversions: 2, journeys: 1, invalid: 1 });
  } finally {
    await cleanup();
  }
});

/**
 * A check's count (when the dialect has one) against its naming query over the window W: equal, or with `zero`
 * only 0 together (a count of something wider); the number named.
 */
async function countAgrees(t: ExecutionContext, db: Knex, reason: string, zero = false): Promise<number> {
  const check = ISSUE_CHECKS.find((c) => c.reason === reason)!;
  const q = journeySql(db);
  const named = (await db.raw(check.select(q, W).sql, [...check.select(q, W).bindings])) as unknown[];
  const counted = check.count?.(q, W);
  if (counted === undefined) return named.length; // PostgreSQL names them directly
  const row = ((await db.raw(counted.sql, [...counted.bindings])) as Array<Record<string, unknown>>)[0]!;
  if (zero) t.is(Number(row[counted.column]) === 0, named.length === 0, reason);
  else t.is(Number(row[counted.column]), named.length, reason);
  return named.length;
}

test(`validation: cost rows with a NULL id each count as without a session, whether or not a session has a NULL id too (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    // adopted tables whose keys allow NULL ids (a UNIQUE column, a rowid table's TEXT PRIMARY KEY)
    await db.schema.dropTable('session_costs');
    await db.raw('CREATE TABLE session_costs (session_id TEXT UNIQUE, cost REAL)');
    await db.schema.dropTable('session_sources');
    await db.raw(`CREATE TABLE session_sources (session_id TEXT PRIMARY KEY, user_id TEXT, event_date TEXT, event_time TEXT, channel_name TEXT,
                    holder_engagement INTEGER, closer_engagement INTEGER, impression_interaction INTEGER)`);
    await seed(db, [['a', 'u', '2023-09-01', '08:00:00']], [['c1', 'u', '2023-09-02', '10:00:00']], [['a', 1], ['z', 3]]);
    await db.raw('INSERT INTO session_costs (session_id, cost) VALUES (NULL, 1), (NULL, 2)');
    t.is(await countAgrees(t, db, 'cost_without_session'), 3); // z and both NULL ids
    await db.raw(`INSERT INTO session_sources (session_id, user_id, event_date, event_time, channel_name, holder_engagement, closer_engagement, impression_interaction)
                  VALUES (NULL, 'u', '2023-09-01', '09:00:00', 'SEO', 0, 0, 0)`);
    t.is(await countAgrees(t, db, 'cost_without_session'), 3);
  } finally {
    await cleanup();
  }
});

test(`validation: the counts of malformed dates and times (distinct dates, a GLOB on times) find what the naming queries find (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    // an adopted table without NOT NULL (dates and times typed as the migrations type them: numbers become
    // numbers); every session in the window's scope (dated in it or of a converting user)
    await db.schema.dropTable('session_sources');
    await db.raw(`CREATE TABLE session_sources (session_id TEXT PRIMARY KEY, user_id TEXT, event_date DATE, event_time TIME, channel_name TEXT,
                    holder_engagement INTEGER, closer_engagement INTEGER, impression_interaction INTEGER)`);
    const dates = ['2023-09-01', '2023-02-29', '2023-02-30', '2023-9-01', '2023-09-01 ', '2023-13-01', '2023-00-10', '2023-01-00', '', '20230901'];
    const times = ['00:00:00', '23:59:59', '24:00:00', '29:00:00', '12:60:00', '12:00:60', '1:00:00', '12:00:0a', '12-00-00', '12:00:00.5', '', ' 12:00:00', '100000'];
    const sessions: S[] = [];
    for (const d of dates) for (const tm of times) sessions.push([`${d}|${tm}`, 'u', d, tm]);
    await seed(db, sessions, [['c1', 'u', '2023-09-02', '10:00:00']]);
    await db('session_sources').insert({ session_id: 'undated', user_id: 'u', event_date: null, event_time: null, channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0 });
    // every date but the first and every time but the first two is malformed, and the undated session is both
    t.is(await countAgrees(t, db, 'malformed_event_date', true), (dates.length - 1) * times.length + 1);
    t.is(await countAgrees(t, db, 'malformed_event_time'), (times.length - 2) * dates.length + 1);
    // none left: the counts say 0
    await db('session_sources').whereNot({ session_id: '2023-09-01|00:00:00' }).delete();
    t.is(await countAgrees(t, db, 'malformed_event_date', true), 0);
    t.is(await countAgrees(t, db, 'malformed_event_time'), 0);
  } finally {
    await cleanup();
  }
});

test(`validation: session_without_cost's count agrees with its naming query, so a zero skips nothing (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    // an adopted table without NOT NULL, so that a converting user's session can lack its date
    await db.schema.dropTable('session_sources');
    await db.raw(`CREATE TABLE session_sources (session_id TEXT PRIMARY KEY, user_id TEXT, event_date TEXT, event_time TEXT, channel_name TEXT,
                    holder_engagement INTEGER, closer_engagement INTEGER, impression_interaction INTEGER)`);
    await seed(
      db,
      [
        ['in-costed', 'u', '2023-09-01', '08:00:00'],
        ['in-free', 'v', '2023-09-02', '08:00:00'], // dated in the window, no cost row
        ['old-free', 'u', '2023-08-01', '08:00:00'], // of a converting user, before the window
        ['old-costed', 'u', '2023-08-02', '08:00:00'],
        ['far-free', 'x', '2023-08-01', '08:00:00'], // neither: out of scope
        ['null-cost', 'v', '2023-09-03', '08:00:00'], // a NULL cost is a cost row
      ],
      [['c1', 'u', '2023-09-02', '10:00:00']],
      [
        ['in-costed', 1],
        ['old-costed', 2],
        ['null-cost', null],
        ['orphan', 3],
      ],
    );
    await db('session_sources').insert({ session_id: 'undated', user_id: 'u', event_date: null, event_time: '08:00:00', channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0 });
    const agree = (reason: string) => countAgrees(t, db, reason);
    t.is(await agree('session_without_cost'), 3); // in-free, old-free, undated
    t.is(await agree('cost_without_session'), 1); // orphan
    await db('session_costs').insert([{ session_id: 'in-free', cost: 1 }, { session_id: 'old-free', cost: 1 }, { session_id: 'undated', cost: 1 }]);
    await db('session_costs').where({ session_id: 'orphan' }).delete();
    // far-free still has no cost row: the table-wide merge finds it, and the window's exact count says 0
    t.is(await agree('session_without_cost'), 0);
    t.is(await agree('cost_without_session'), 0);
    // every session costed: the merge alone says 0
    await db('session_costs').insert({ session_id: 'far-free', cost: 1 });
    t.is(await agree('session_without_cost'), 0);
    await buildJourneys(db, W, DEFAULTS);
    t.deepEqual(await db('data_issues').whereIn('reason', ['session_without_cost', 'cost_without_session']), []);
  } finally {
    await cleanup();
  }
});

test('every validation reason is pinned by a test above', (t) => {
  const pinned = [
    'malformed_event_date',
    'malformed_event_time',
    'malformed_conv_date',
    'malformed_conv_time',
    'duplicate_session_id',
    'duplicate_conv_id',
    'duplicate_cost_row',
    'conv_id_is_session_id',
    'user_without_sessions',
    'session_without_cost',
    'cost_without_session',
  ];
  t.deepEqual(ISSUE_CHECKS.map((c) => c.reason), pinned);
});

test('insights: counts, distributions, collapsed paths and first/last channel shares', async (t) => {
  const { db, config, cleanup } = await freshDb();
  try {
    await seed(
      db,
      [
        // c1: A A B (collapsed A > B), 2 days before conversion
        ['1a', 'u1', '2023-08-30', '10:00:00', 'A'],
        ['1b', 'u1', '2023-08-31', '10:00:00', 'A'],
        ['1c', 'u1', '2023-09-01', '09:00:00', 'B'],
        // c2: A B, 1 hour
        ['2a', 'u2', '2023-09-01', '09:00:00', 'A'],
        ['2b', 'u2', '2023-09-01', '09:30:00', 'B'],
        // c3: B, 60 seconds
        ['3a', 'u3', '2023-09-02', '09:59:00', 'B'],
        // c4: B A B A, 10 minutes
        ['4a', 'u4', '2023-09-03', '09:50:00', 'B'],
        ['4b', 'u4', '2023-09-03', '09:52:00', 'A'],
        ['4c', 'u4', '2023-09-03', '09:54:00', 'B'],
        ['4d', 'u4', '2023-09-03', '09:56:00', 'A'],
      ],
      [
        ['c1', 'u1', '2023-09-01', '10:00:00', 100],
        ['c2', 'u2', '2023-09-01', '10:00:00', 50.5],
        ['c3', 'u3', '2023-09-02', '10:00:00', 20],
        ['c4', 'u4', '2023-09-03', '10:00:00', 5],
        ['c5', 'u5', '2023-09-03', '10:00:00', 7],
      ],
    );
    await buildJourneys(db, W, DEFAULTS);
    const i = await orThrow(computeInsights(dbOver(db), W));
    t.like(i, { conversions: 5, journeys: 4, sessions: 10, revenue: 175.5, conversions_without_journey: { no_sessions: 1, invalid: 0 }, distinct_paths: 3 });
    t.deepEqual(i.sessions_per_journey.histogram, [
      { sessions: 1, journeys: 1 },
      { sessions: 2, journeys: 1 },
      { sessions: 3, journeys: 1 },
      { sessions: 4, journeys: 1 },
    ]);
    t.like(i.sessions_per_journey, { count: 4, min: 1, max: 4, mean: 2.5, percentiles: { p25: 1, p50: 2, p75: 3, p90: 4, p95: 4, p99: 4 } });
    t.like(i.time_to_conversion_seconds, {
      count: 4,
      min: 60,
      max: 2 * 86400,
      mean: (60 + 600 + 3600 + 172800) / 4,
      percentiles: { p25: 60, p50: 600, p75: 3600, p90: 172800, p95: 172800, p99: 172800 },
    });
    t.deepEqual(i.top_paths, [
      { path: 'A > B', channels: ['A', 'B'], conversions: 2, revenue: 150.5, share: 0.5 },
      { path: 'B > A > B > A', channels: ['B', 'A', 'B', 'A'], conversions: 1, revenue: 5, share: 0.25 },
      { path: 'B', channels: ['B'], conversions: 1, revenue: 20, share: 0.25 },
    ].sort((a, b) => b.conversions - a.conversions || b.revenue - a.revenue));
    t.deepEqual(i.first_channel, [
      { channel: 'A', conversions: 2, revenue: 150.5, share: 0.5 },
      { channel: 'B', conversions: 2, revenue: 25, share: 0.5 },
    ]);
    t.deepEqual(i.last_channel, [
      { channel: 'B', conversions: 3, revenue: 170.5, share: 0.75 },
      { channel: 'A', conversions: 1, revenue: 5, share: 0.25 },
    ]);
    t.deepEqual(i.data_issues, [{ table: 'conversions', reason: 'user_without_sessions', severity: 'warning', count: 1 }]);

    // files: the JSON round-trips, the CSV carries the same numbers
    const dir = path.join(config.output.dir, 'x');
    const files = await orThrow(writeInsights(localFiles, dir, i));
    t.deepEqual(JSON.parse(fs.readFileSync(files.json, 'utf8')), i);
    const csv = fs.readFileSync(files.csv, 'utf8').trim().split('\n');
    t.is(csv[0], 'section,key,metric,value');
    t.true(csv.includes('top_paths,A > B,conversions,2'));
    t.true(csv.includes('time_to_conversion_seconds,,p50,600'));
    t.true(csv.includes('summary,,conversions_without_journey,1'));
    t.is(csv.length - 1, insightsCsvRows(i).length);
    t.deepEqual(fs.readdirSync(dir).sort(), ['journey_insights.csv', 'journey_insights.json']);
  } finally {
    await cleanup();
  }
});

test('insights: time to conversion ranks the journeys that have a first session, when that is not every ok journey', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    // ten journeys of one session each, 1..10 minutes before their conversion
    const minutes = Array.from({ length: 10 }, (_, k) => k + 1);
    await seed(
      db,
      minutes.map((m): S => [`s${m}`, `u${m}`, '2023-09-01', `09:${String(60 - m).padStart(2, '0')}:00`, 'A']),
      minutes.map((m): C => [`c${m}`, `u${m}`, '2023-09-01', '10:00:00', 10]),
    );
    await buildJourneys(db, W, DEFAULTS);
    // the insights expect one first session per ok journey: one removed by hand leaves nine values, whose
    // 75th percentile (rank 7) is no rank of ten values
    await db('journey_sessions').where({ conv_id: 'c1', position: 0 }).delete();
    const i = await orThrow(computeInsights(dbOver(db), W));
    t.is(i.journeys, 10);
    t.deepEqual(i.time_to_conversion_seconds, {
      count: 9,
      min: 120,
      max: 600,
      mean: 360,
      percentiles: { p25: 240, p50: 360, p75: 480, p90: 600, p95: 600, p99: 600 },
    });
  } finally {
    await cleanup();
  }
});

test('insights of an empty window are zeros and nulls, not errors', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await buildJourneys(db, W, DEFAULTS);
    const i = await orThrow(computeInsights(dbOver(db), W));
    t.like(i, { conversions: 0, journeys: 0, sessions: 0, distinct_paths: 0, top_paths: [], first_channel: [] });
    t.like(i.time_to_conversion_seconds, { count: 0, min: null, percentiles: { p50: null } });
    t.like(i.sessions_per_journey, { count: 0, mean: null });
  } finally {
    await cleanup();
  }
});

test('nearest-rank percentiles from a histogram', (t) => {
  const d = distributionOfHistogram([
    { value: 1, count: 58 },
    { value: 2, count: 21 },
    { value: 3, count: 10 },
    { value: 10, count: 11 },
  ]);
  t.like(d, { count: 100, min: 1, max: 10, percentiles: { p25: 1, p50: 1, p75: 2, p90: 10, p95: 10, p99: 10 } });
  t.is(d.mean, (58 + 42 + 30 + 110) / 100);
});

test('the program prints the table, writes the files under <output>/<start>_<end> and says one line', async (t) => {
  const { db, config, cleanup } = await freshDb();
  try {
    await seed(db, [['s1', 'u', '2023-09-01', '08:00:00', 'SEO']], [['c1', 'u', '2023-09-01', '10:00:00'], ['c2', 'v', '2023-09-02', '10:00:00']]);
    const caps = testCaps(db, config);
    const r = await buildJourneysProgram({ window: W, strict: false }, caps)();
    if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
    t.is(r.right.summary, '2023-09-01..2023-09-03: 1 journeys (1 sessions) from 2 conversions; 1 without earlier session; 1 data issue');
    t.is(r.right.exitCode, undefined);
    t.regex(caps.printed.join('\n'), /journeys\s+1 \(1 sessions/);
    t.true(fs.existsSync(path.join(config.output.dir, '2023-09-01_2023-09-03', 'journey_insights.json')));
    // config options apply, flags override them
    const capped = testCaps(db, { ...config, journeys: { ...config.journeys, lookback_days: null, max_sessions: 1, include_same_second: true } });
    await db('session_sources').insert({ session_id: 's2', user_id: 'u', event_date: '2023-09-01', event_time: '10:00:00', channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0 });
    await buildJourneysProgram({ window: W, strict: false }, capped)();
    t.deepEqual(await idsOf(db, 'c1'), ['s2']);
    await buildJourneysProgram({ window: W, strict: false, includeSameSecond: false, maxSessions: 5 }, capped)();
    t.deepEqual(await idsOf(db, 'c1'), ['s1']);
    // --strict: excluded records make the exit code 8
    await db('session_sources').insert({ session_id: 'bad', user_id: 'u', event_date: '2023-09-01', event_time: 'noon', channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0 });
    const strict = await buildJourneysProgram({ window: W, strict: true }, caps)();
    t.true(E.isRight(strict) && strict.right.exitCode === 8);
  } finally {
    await cleanup();
  }
});

test('insights are stored by build-journeys and reused only until the next build of any window', async (t) => {
  const { db, config, cleanup } = await freshDb();
  try {
    await seed(db, [['s1', 'u', '2023-09-01', '08:00:00', 'SEO'], ['s2', 'v', '2023-08-20', '08:00:00', 'Direct']], [['c1', 'u', '2023-09-01', '10:00:00'], ['c2', 'v', '2023-08-21', '10:00:00']]);
    const caps = testCaps(db, config);
    const built = await buildJourneysProgram({ window: W, strict: false }, caps)();
    t.true(E.isRight(built));
    const computed = await orThrow(computeInsights(dbOver(db), W));
    t.deepEqual(await orThrow(insightsOf(dbOver(db), W)), computed);
    // the stored row is what is read: marked, it comes back marked
    const [row] = (await db('journey_insights').where({ window_start: W.start, window_end: W.end })) as Array<{ insights: string }>;
    t.deepEqual(JSON.parse(row!.insights), computed);
    await db('journey_insights').update({ insights: JSON.stringify({ ...computed, conversions: -1 }) });
    t.is((await orThrow(insightsOf(dbOver(db), W))).conversions, -1);
    // a build of another window can move this window's journeys (a conversion re-dated): no stored insights survive it
    await db('conversions').where({ conv_id: 'c2' }).update({ conv_date: '2023-09-02' });
    await buildJourneys(db, { start: '2023-08-21', end: '2023-08-21' }, DEFAULTS);
    t.is((await db('journey_insights')).length, 0);
    const after = await orThrow(insightsOf(dbOver(db), W));
    t.deepEqual(after, await orThrow(computeInsights(dbOver(db), W)));
    t.is(after.conversions, 1, 'c2 is in the window now, but its journey was not rebuilt yet');
  } finally {
    await cleanup();
  }
});

test('CLI: builds a window from argv; bad windows exit 2 with a clear message', async (t) => {
  const { db, dir, url, cleanup } = await freshDb();
  try {
    await seed(db, [['s1', 'u', '2023-09-01', '08:00:00']], [['c1', 'u', '2023-09-01', '10:00:00']]);
    const env = { DATABASE_URL: url, OUTPUT_DIR: path.join(dir, 'out'), LOG_LEVEL: 'warn' };
    const ok = await runCli('build-journeys', ['--start-date', '2023-09-01', '--end-date', '2023-09-01'], env);
    t.is(ok.code, 0, ok.stderr);
    t.regex(ok.stdout, /build-journeys: 2023-09-01\.\.2023-09-01: 1 journeys \(1 sessions\) from 1 conversions; 0 without earlier session; 0 data issues/);
    t.true(fs.existsSync(path.join(dir, 'out', '2023-09-01_2023-09-01', 'journey_insights.csv')));
    for (const [args, msg] of [
      [['--start-date', '2023-09-02', '--end-date', '2023-09-01'], /is after --end-date/],
      [['--start-date', '2023-9-1', '--end-date', '2023-09-01'], /YYYY-MM-DD/],
      [['--start-date', '2023-02-30', '--end-date', '2023-03-01'], /not a real calendar date/],
      [['--start-date', '2023-09-01', '--end-date', '2023-09-01', '--max-sessions', '0'], /maxSessions|max-sessions|whole number/],
    ] as const) {
      const bad = await runCli('build-journeys', [...args], env);
      t.is(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      t.regex(bad.stderr, msg);
    }
  } finally {
    await cleanup();
  }
});
