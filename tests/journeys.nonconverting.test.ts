import test, { type ExecutionContext } from 'ava';
import type { Knex } from 'knex';
import { fitMarkov } from '../shared/attribution/markov.js';
import { buildJourneys, type JourneyOptions } from '../shared/journeys/build.js';
import { computeInsights } from '../shared/journeys/insights.js';
import Database from 'better-sqlite3';
import { CHANNEL_SEPARATOR, nonConvertingPathKeys, nonConvertingPathPages, nonConvertingPaths, validStamp } from '../shared/journeys/nonconverting.js';
import type { PathCount } from '../shared/attribution/paths.js';
import { journeySql } from '../shared/journeys/sql.js';
import type { Window } from '../shared/window.js';
import * as E from 'fp-ts/lib/Either.js';
import { dbOver, orThrow } from '../shared/db/db.js';
import { streamJourneys } from '../shared/ihc/journeys.js';
import { countJourneys } from '../shared/journeys/read.js';
import { driverUnderTest, freshDb, runCli } from './helpers/env.js';
import * as m008 from '../shared/db/migrations/008_nonconverting_tables.js';
import * as m012 from '../shared/db/migrations/012_path_session_ids.js';
import * as m013 from '../shared/db/migrations/013_path_days.js';
import * as m014 from '../shared/db/migrations/014_pg_path_date_index.js';
import { pgSchemaDb } from './helpers/pg-schema.js';
import { migrate } from '../shared/db/migrate.js';

const W = { start: '2023-09-01', end: '2023-09-03' };
const OPTS: JourneyOptions = { lookbackDays: null, maxSessions: null, includeSameSecond: false, nonConverting: { closeAfterDays: 7 } };

/** [session_id, user_id, date, time, channel] */
type S = [string, string, string, string, string];

async function seed(db: Knex, sessions: S[], conversions: Array<[string, string, string, string]>): Promise<void> {
  await db('session_sources').insert(
    sessions.map(([session_id, user_id, event_date, event_time, channel_name]) => ({
      session_id,
      user_id,
      event_date,
      event_time,
      channel_name,
      holder_engagement: 1,
      closer_engagement: 0,
      impression_interaction: 0,
    })),
  );
  await db('session_costs').insert(sessions.map((s) => ({ session_id: s[0], cost: 1 })));
  if (conversions.length > 0) await db('conversions').insert(conversions.map(([conv_id, user_id, conv_date, conv_time]) => ({ conv_id, user_id, conv_date, conv_time, revenue: 10 })));
}

const SESSIONS: S[] = [
  // u1 orders after a, b; then comes back twice without ordering: path d > e
  ['a', 'u1', '2023-09-01', '10:00:00', 'SEO'],
  ['b', 'u1', '2023-09-01', '12:00:00', 'Email'],
  ['d', 'u1', '2023-09-02', '10:00:00', 'Social'],
  ['e', 'u1', '2023-09-02', '11:00:00', 'SEO'],
  // u2: a 13-day gap closes the first path (which ended before the window); g alone is the window's path
  ['f', 'u2', '2023-08-20', '09:00:00', 'SEO'],
  ['g', 'u2', '2023-09-02', '09:00:00', 'Email'],
  // u3 orders after the window: h belongs to that order's journey, not to a failed path
  ['h', 'u3', '2023-09-03', '09:00:00', 'Social'],
  // u4 visits twice within a week without an order: one path i > j
  ['i', 'u4', '2023-08-30', '09:00:00', 'SEO'],
  ['j', 'u4', '2023-09-01', '09:00:00', 'SEO'],
];
const CONVERSIONS: Array<[string, string, string, string]> = [
  ['c1', 'u1', '2023-09-01', '13:00:00'],
  ['c3', 'u3', '2023-09-05', '10:00:00'],
];

/** every stored path's session ids in order (first_session, then the JSON array later_sessions), by user and first session */
async function pathsOf(db: Knex): Promise<Record<string, string[]>> {
  const rows = (await db('nonconverting_paths').select('user_id', 'first_session', 'later_sessions', 'session_count')) as Array<{
    user_id: string;
    first_session: string;
    later_sessions: string | null;
    session_count: number;
  }>;
  const out: Record<string, string[]> = {};
  for (const r of rows) {
    const ids = [r.first_session, ...(r.later_sessions === null ? [] : (JSON.parse(r.later_sessions) as string[]))];
    if (ids.length !== Number(r.session_count)) throw new Error(`path ${r.user_id}:${r.first_session} holds ${ids.length} ids for ${r.session_count} sessions`);
    out[`nc:${r.user_id}:${r.first_session}`] = ids;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** sessions that are both in a non-converting path and in a converting journey of the same user */
async function overlaps(db: Knex): Promise<unknown[]> {
  const ids = Object.values(await pathsOf(db)).flat();
  return db('session_sources as s')
    .whereIn('s.session_id', ids)
    .join('conversions as c', 'c.user_id', 's.user_id')
    .andWhereRaw("(s.event_date < c.conv_date OR (s.event_date = c.conv_date AND s.event_time < c.conv_time))")
    .select('s.session_id', 'c.conv_id');
}

test('non-converting paths: cut where a converting journey begins, closed by a long gap, in the window of their last session', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  await seed(db, SESSIONS, CONVERSIONS);
  const r = await buildJourneys(db, W, OPTS);
  t.deepEqual(await pathsOf(db), { 'nc:u1:d': ['d', 'e'], 'nc:u2:g': ['g'], 'nc:u4:i': ['i', 'j'] });
  t.deepEqual(r.nonConverting, { paths: 3, sessions: 5 });
  t.is(r.conversions, 1); // c1 only: c3 is dated after the window, and paths are not conversions
  const row = (await db('nonconverting_paths').where({ user_id: 'u1', first_session: 'd' }).first()) as Record<string, unknown>;
  t.like(row, { last_date: '2023-09-02', last_time: '11:00:00', session_count: 2, channels: 'Social\u001fSEO' });
  t.deepEqual(await overlaps(db), []);
  // the orders' tables hold only the orders' journeys
  t.deepEqual(await db('journeys').pluck('conv_id'), ['c1']);
  t.deepEqual(await db('journey_sessions').distinct('conv_id').pluck('conv_id'), ['c1']);
  // a rebuild gives the same rows; with the option off, none
  await buildJourneys(db, W, OPTS);
  t.deepEqual(Object.keys(await pathsOf(db)).sort(), ['nc:u1:d', 'nc:u2:g', 'nc:u4:i']);
  await buildJourneys(db, W, { ...OPTS, nonConverting: null });
  t.deepEqual(await pathsOf(db), {});
});

test('non-converting paths with a lookback: sessions older than the lookback before an order form a path of their own', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  await seed(
    db,
    [
      ['x', 'u', '2023-09-01', '08:00:00', 'SEO'],
      ['y', 'u', '2023-09-03', '09:00:00', 'Email'],
    ],
    [['cx', 'u', '2023-09-03', '10:00:00']],
  );
  await buildJourneys(db, W, { ...OPTS, lookbackDays: 1 });
  t.deepEqual(await pathsOf(db), { 'nc:u:x': ['x'] });
  t.deepEqual((await db('journey_sessions').where({ conv_id: 'cx' }).select('session_id')).map((r: { session_id: string }) => r.session_id), ['y']);
  // without a lookback, x belongs to the order's journey and no path is left
  await buildJourneys(db, W, OPTS);
  t.deepEqual(await pathsOf(db), {});
});

test('non-converting paths never reach a provider, count in the insights, and give Markov its NULL state', async (t) => {
  const { db, url, cleanup } = await freshDb();
  t.teardown(cleanup);
  await seed(db, SESSIONS, CONVERSIONS);
  await buildJourneys(db, W, OPTS);
  t.deepEqual(await countJourneys(dbOver(db), W)(), E.right(1));
  const sent: string[] = [];
  for await (const j of streamJourneys(dbOver(db), W, 1)) sent.push(j.conversionId);
  t.deepEqual(sent, ['c1']);

  const insights = await orThrow(computeInsights(dbOver(db), W));
  t.is(insights.conversions, 1);
  t.deepEqual(insights.non_converting, { paths: 3, sessions: 5 });

  const paths = (await nonConvertingPaths(db, journeySql(db), W)).perPath;
  t.deepEqual(
    paths.map((p) => [p.channels.join('>'), p.nulls]).sort(),
    [['Email', 1], ['SEO>SEO', 1], ['Social>SEO', 1]],
  );
  const fit = fitMarkov([{ channels: ['SEO', 'Email'], conversions: 1, value: 10, nulls: 0 }, ...paths], { order: 1, collapseRepeats: false });
  t.true(fit.conversionProbability < 1);

  // the real send-to-api with the local provider: only the order's journey is answered
  const r = await runCli('send-to-api', ['--start-date', W.start, '--end-date', W.end, '--provider', 'local'], { DATABASE_URL: url });
  t.is(r.code, 0, r.stderr);
  const answered = (await db('api_results').distinct('conv_id')) as Array<{ conv_id: string }>;
  t.deepEqual(answered.map((x) => x.conv_id), ['c1']);
});

test('non-converting paths per user: the paths a long gap split are one unit for the incremental model', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  const w = { start: '2023-09-01', end: '2023-09-30' };
  await seed(
    db,
    [
      // u5: no order, a 10-day gap (over close_after_days) splits its sessions into two stored paths
      ['p', 'u5', '2023-09-01', '09:00:00', 'SEO'],
      ['q', 'u5', '2023-09-02', '09:00:00', 'Email'],
      ['r', 'u5', '2023-09-12', '09:00:00', 'SEO'],
      // u6: no order, one path
      ['s', 'u6', '2023-09-05', '09:00:00', 'Email'],
    ],
    [],
  );
  await buildJourneys(db, w, OPTS);
  t.deepEqual(await pathsOf(db), { 'nc:u5:p': ['p', 'q'], 'nc:u5:r': ['r'], 'nc:u6:s': ['s'] });
  const show = (ps: readonly PathCount[]): Array<[string, number]> => ps.map((p) => [p.channels.join('>'), p.nulls]);
  const both = await nonConvertingPaths(db, journeySql(db), w);
  t.deepEqual(show(both.perPath), [['Email', 1], ['SEO', 1], ['SEO>Email', 1]]);
  // per user: u5's two paths in time order, from the same read
  t.deepEqual(show(both.perUser), [['Email', 1], ['SEO>Email>SEO', 1]]);
});

test('non-converting paths per user: the same units whether the window\'s paths come from one build or from several that interleave users or leave gaps', async (t) => {
  const show = (ps: readonly PathCount[]): Array<[string, number]> => ps.map((p) => [p.channels.join('>'), p.nulls]);
  const month = { start: '2023-09-01', end: '2023-09-30' };
  const countsAfter = async (sessions: S[], builds: Window[]): Promise<{ perPath: Array<[string, number]>; perUser: Array<[string, number]> }> => {
    const { db, cleanup } = await freshDb();
    t.teardown(cleanup);
    await seed(db, sessions, []);
    for (const w of builds) await buildJourneys(db, w, OPTS);
    const c = await nonConvertingPaths(db, journeySql(db), month);
    return { perPath: show(c.perPath), perUser: show(c.perUser) };
  };
  // gaps over close_after_days (7) split each user's sessions into paths; no orders
  const early = { start: '2023-09-01', end: '2023-09-10' };
  const late = { start: '2023-09-15', end: '2023-09-30' };
  // one build numbers its paths by user: u1's three paths and u2's two are neighbours
  t.deepEqual(
    await countsAfter(
      [
        ['a', 'u0', '2023-09-05', '09:00:00', 'Direct'],
        ['b', 'u1', '2023-09-01', '09:00:00', 'SEO'],
        ['c', 'u1', '2023-09-10', '09:00:00', 'Email'],
        ['d', 'u1', '2023-09-20', '09:00:00', 'Social'],
        ['e', 'u2', '2023-09-02', '09:00:00', 'Email'],
        ['f', 'u2', '2023-09-25', '09:00:00', 'Email'],
        ['g', 'u3', '2023-09-06', '09:00:00', 'SEO'],
      ],
      [month],
    ),
    {
      perPath: [['Direct', 1], ['Email', 3], ['SEO', 2], ['Social', 1]],
      perUser: [['Direct', 1], ['Email>Email', 1], ['SEO', 1], ['SEO>Email>Social', 1]],
    },
  );
  // two builds: the window's paths in key order are u1, u2, u1, u2 (u1's paths are not neighbours)
  const twoUsers: S[] = [
    ['a', 'u1', '2023-09-02', '09:00:00', 'SEO'],
    ['b', 'u1', '2023-09-20', '09:00:00', 'Email'],
    ['c', 'u2', '2023-09-03', '09:00:00', 'Email'],
    ['d', 'u2', '2023-09-21', '09:00:00', 'Social'],
  ];
  t.deepEqual(await countsAfter(twoUsers, [early, late]), {
    perPath: [['Email', 2], ['SEO', 1], ['Social', 1]],
    perUser: [['Email>Social', 1], ['SEO>Email', 1]],
  });
  // u1's two paths with u2's October path numbered between them: neighbours in the window, not by key
  t.deepEqual(
    await countsAfter(
      [
        ['a', 'u1', '2023-09-02', '09:00:00', 'SEO'],
        ['b', 'u1', '2023-09-20', '09:00:00', 'Email'],
        ['c', 'u2', '2023-10-05', '09:00:00', 'Direct'],
      ],
      [early, { start: '2023-10-01', end: '2023-10-10' }, late],
    ),
    { perPath: [['Email', 1], ['SEO', 1]], perUser: [['SEO>Email', 1]] },
  );
  // a window inside the month rebuilt: u1's middle path gets a new key after the last, its old key a gap between
  // u1's first and last paths
  t.deepEqual(
    await countsAfter(
      [
        ['a', 'u1', '2023-09-01', '09:00:00', 'SEO'],
        ['b', 'u1', '2023-09-12', '09:00:00', 'Email'],
        ['c', 'u1', '2023-09-25', '09:00:00', 'Social'],
      ],
      [month, { start: '2023-09-11', end: '2023-09-14' }],
    ),
    { perPath: [['Email', 1], ['SEO', 1], ['Social', 1]], perUser: [['SEO>Email>Social', 1]] },
  );
});

test('consecutive and overlapping windows: a path that grows past a window is stored once, by the window of its last day', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  // one user, no order: a path from 09-01 to 09-05 (gaps shorter than close_after_days)
  await seed(
    db,
    [
      ['p1', 'u9', '2023-09-01', '08:00:00', 'SEO'],
      ['p2', 'u9', '2023-09-03', '09:00:00', 'Email'],
      ['p3', 'u9', '2023-09-05', '10:00:00', 'Direct'],
    ],
    [['c0', 'u0', '2023-09-02', '10:00:00']],
  );
  const A = { start: '2023-09-01', end: '2023-09-03' };
  const B = { start: '2023-09-04', end: '2023-09-06' };
  const C = { start: '2023-09-02', end: '2023-09-05' };
  for (const w of [A, B, C, A, B]) await buildJourneys(db, w, OPTS);
  t.deepEqual(await pathsOf(db), { 'nc:u9:p1': ['p1', 'p2', 'p3'] });
  const rows = (await db('nonconverting_paths').select('user_id', 'first_session', 'last_date', 'session_count')) as unknown[];
  t.deepEqual(rows, [{ user_id: 'u9', first_session: 'p1', last_date: '2023-09-05', session_count: 3 }]);
});

const pgUrl = process.env['TEST_POSTGRES_URL'];

/**
 * Migrations 013, 012 and 008 on a database holding paths the old ways: 013's down() drops the paths' days,
 * 012's down() gives each path session a row of nonconverting_path_sessions, 008's down() stores the paths as
 * journeys; their up()s move them back, and 013's up() finds each day's first and last path.
 */
async function migrationRoundTrip(t: ExecutionContext, db: Knex): Promise<void> {
  // a path of three sessions whose ids need escaping in JSON
  const odd: S[] = [
    ['x"1', 'u5', '2023-09-03', '07:00:00', 'SEO'],
    ['x\\2', 'u5', '2023-09-03', '08:00:00', 'Email'],
    ['x ü\u001f3', 'u5', '2023-09-03', '09:00:00', 'SEO'],
  ];
  await seed(db, [...SESSIONS, ...odd], CONVERSIONS);
  await buildJourneys(db, W, OPTS);
  const paths = await pathsOf(db);
  t.deepEqual(paths['nc:u5:x"1'], odd.map((s) => s[0]));
  const pathSessions = (): Promise<unknown[]> =>
    db('nonconverting_paths as p')
      .join('nonconverting_path_sessions as ps', 'ps.path_id', 'p.path_id')
      .orderBy(['p.user_id', 'p.first_session', 'ps.position'])
      .select('p.user_id', 'ps.position', 'ps.session_id');
  const expectedSessions = Object.entries(paths).flatMap(([key, ids]) => ids.map((session_id, position) => ({ user_id: key.split(':')[1], position, session_id })));
  const days = (): Promise<unknown[]> => db('nonconverting_path_days').orderBy('last_date').select('last_date', 'first_path', 'last_path');
  const daysOfPaths = (): Promise<unknown[]> =>
    db('nonconverting_paths').groupBy('last_date').orderBy('last_date').select('last_date').min({ first_path: 'path_id' }).max({ last_path: 'path_id' });
  // the build recorded each day's first and last path as it wrote them
  t.true((await days()).length >= 2);
  t.deepEqual(await days(), await daysOfPaths());
  await m014.down(db);
  await m013.down(db);
  t.false(await db.schema.hasTable('nonconverting_path_days'));
  await m012.down(db);
  t.deepEqual(await pathSessions(), expectedSessions);
  t.false(await db.schema.hasColumn('nonconverting_paths', 'later_sessions'));
  const rows = async (): Promise<unknown[]> =>
    db('nonconverting_paths').select('user_id', 'first_session', 'last_date', 'last_time', 'session_count', 'channels').orderBy(['user_id', 'first_session']);
  const before = await rows();
  const orders = await db('journey_sessions').orderBy(['conv_id', 'position']).select();

  await m008.down(db);
  t.false(await db.schema.hasTable('nonconverting_paths'));
  // the way versions before 008 stored them: a journeys row with status non_converting and its sessions
  t.like(await db('journeys').where({ conv_id: 'nc:u1:d:2023-09-02' }).first(), {
    user_id: 'u1', conv_date: '2023-09-02', conv_time: '11:00:00', revenue: 0, session_count: 2, status: 'non_converting',
  });
  t.deepEqual(
    await db('journey_sessions').where({ conv_id: 'nc:u1:d:2023-09-02' }).orderBy('position').select('session_id', 'position', 'channel_name', 'holder_engagement', 'conversion'),
    [
      { session_id: 'd', position: 0, channel_name: 'Social', holder_engagement: 1, conversion: 0 },
      { session_id: 'e', position: 1, channel_name: 'SEO', holder_engagement: 1, conversion: 0 },
    ],
  );
  t.is(Number(((await db('journeys').where('status', 'non_converting').count({ n: '*' })) as [{ n: unknown }])[0].n), 4);

  await m008.up(db);
  t.deepEqual(await pathSessions(), expectedSessions);
  await m012.up(db);
  t.false(await db.schema.hasTable('nonconverting_path_sessions'));
  await m013.up(db);
  await m014.up(db);
  t.deepEqual(await days(), await daysOfPaths());
  t.deepEqual(await pathsOf(db), paths);
  t.deepEqual(await rows(), before);
  t.deepEqual(await db('journeys').pluck('conv_id'), ['c1']);
  t.deepEqual(await db('journey_sessions').orderBy(['conv_id', 'position']).select(), orders);
  // and the build replaces the moved rows like its own
  await buildJourneys(db, W, OPTS);
  t.deepEqual(await rows(), before);
  t.deepEqual(await days(), await daysOfPaths());
  // the readers on this database: fit-ihc's pages (times and flags from session_sources) and the models' counts
  const pages: string[][] = [];
  for await (const page of nonConvertingPathPages(dbOver(db), W, 2)) pages.push(page.map((p) => p.map((x) => `${x.event_date} ${x.event_time}`).join(', ')));
  t.deepEqual(pages.flat().sort(), [
    '2023-08-30 09:00:00, 2023-09-01 09:00:00',
    '2023-09-02 09:00:00',
    '2023-09-02 10:00:00, 2023-09-02 11:00:00',
    '2023-09-03 07:00:00, 2023-09-03 08:00:00, 2023-09-03 09:00:00',
  ]);
  t.is(pages.length, 2);
  const counts = await nonConvertingPaths(db, journeySql(db), W);
  t.deepEqual(counts.perUser.map((p) => p.channels.join('>')), ['Email', 'SEO>Email>SEO', 'SEO>SEO', 'Social>SEO']);
}

test(`migrations 008, 012, 013 and 014 move stored non-converting paths to the path table and back (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  await migrationRoundTrip(t, db);
});

(pgUrl !== undefined && pgUrl !== '' ? test : test.skip)('migrations 008, 012, 013 and 014 move stored non-converting paths to the path table and back (PostgreSQL)', async (t) => {
  const db = await pgSchemaDb(t, pgUrl!, 'nc_migration_test');
  const r = await migrate(db)();
  if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
  // the build writes no date index on PostgreSQL either (migration 014)
  const indexes = (await db.raw(`SELECT indexname FROM pg_indexes WHERE tablename = 'nonconverting_paths' AND schemaname = current_schema()`)) as { rows: { indexname: string }[] };
  t.deepEqual(indexes.rows.map((i) => i.indexname), ['nonconverting_paths_pkey']);
  await migrationRoundTrip(t, db);
});

test('non-converting paths leave out sessions reported as duplicate_session_id, as the converting journeys do', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  // an adopted database whose tables lost their keys
  await db.schema.dropTable('session_sources');
  await db.schema.dropTable('session_costs');
  await db.raw(`CREATE TABLE session_sources (session_id TEXT, user_id TEXT, event_date TEXT, event_time TEXT, channel_name TEXT,
                  holder_engagement INTEGER, closer_engagement INTEGER, impression_interaction INTEGER)`);
  await db.raw('CREATE TABLE session_costs (session_id TEXT, cost REAL)');
  await seed(
    db,
    [
      ['dup', 'v', '2023-09-02', '08:00:00', 'SEO'],
      ['dup', 'v', '2023-09-02', '08:00:00', 'SEO'],
      ['solo', 'v', '2023-09-02', '09:00:00', 'Email'],
    ],
    [],
  );
  const r = await buildJourneys(db, W, OPTS);
  t.deepEqual(await db('data_issues').where('reason', 'duplicate_session_id').pluck('record_key'), ['dup']);
  t.deepEqual(await pathsOf(db), { 'nc:v:solo': ['solo'] });
  t.deepEqual(r.nonConverting, { paths: 1, sessions: 1 });
});

test("fit-ihc's path pages go on past paths whose sessions were deleted after the build", async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  // five users without an order, one one-session path each (path ids follow user_id)
  const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
  await seed(db, users.map((u, i): S => [`s${i + 1}`, u, '2023-09-02', `0${i + 1}:00:00`, 'SEO']), []);
  await buildJourneys(db, W, OPTS);
  const read = async (): Promise<string[]> => {
    const times: string[] = [];
    for await (const page of nonConvertingPathPages(dbOver(db), W, 2)) for (const p of page) times.push(p.map((s) => s.event_time).join(', '));
    return times;
  };
  t.deepEqual(await read(), ['01:00:00', '02:00:00', '03:00:00', '04:00:00', '05:00:00']);
  // the first page's paths (u1, u2) and one of the second's lose their sessions
  await db('session_sources').whereIn('session_id', ['s1', 's2', 's3']).delete();
  t.deepEqual(await read(), ['04:00:00', '05:00:00']);
});

test('non-converting paths leave out sessions and orders whose date or time is not a real one, as SQLite stores them', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  await seed(
    db,
    [
      ['ok1', 'w', '2023-09-01', '08:00:00', 'SEO'],
      ['feb30', 'w', '2023-02-30', '08:00:00', 'Email'],
      ['short', 'w', '2023-9-01', '08:00:00', 'Email'],
      ['h24', 'w', '2023-09-01', '24:00:00', 'Email'],
      ['s60', 'w', '2023-09-01', '09:00:60', 'Email'],
      ['ok2', 'w', '2023-09-02', '08:00:00', 'Direct'],
      // a real order whose time is malformed claims nothing
      ['ok3', 'x', '2023-09-02', '08:00:00', 'SEO'],
    ],
    [['cx', 'x', '2023-09-03', '25:00:00']],
  );
  // stored as a number: not a date as text
  await db('session_sources').insert({
    session_id: 'num', user_id: 'w', event_date: 20230901, event_time: '10:00:00', channel_name: 'Email', holder_engagement: 1, closer_engagement: 0, impression_interaction: 0,
  });
  const r = await buildJourneys(db, W, OPTS);
  t.deepEqual(await pathsOf(db), { 'nc:w:ok1': ['ok1', 'ok2'], 'nc:x:ok3': ['ok3'] });
  t.deepEqual(r.nonConverting, { paths: 2, sessions: 3 });
});

test("validStamp accepts exactly the dates and times that SQLite's validity tests accept", async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  const q = journeySql(db);
  const dates: unknown[] = ['2023-09-01', '2024-02-29', '2023-02-29', '2023-02-30', '2023-9-01', '2023-09-01 ', '0000-01-01', '9999-12-31', '2023-13-01', '2023-00-10', '2023-01-00', '', 20230901];
  const times: unknown[] = ['00:00:00', '23:59:59', '24:00:00', '12:60:00', '12:00:60', '1:00:00', '12:00:0a', '12-00-00', '12:00:00.5', '', 100000];
  for (const d of dates) {
    for (const tm of times) {
      const rows = (await db.raw(`SELECT CASE WHEN ${q.validDate('x.d')} AND ${q.validTime('x.t')} THEN 1 ELSE 0 END AS ok FROM (SELECT ? AS d, ? AS t) x`, [
        d as string,
        tm as string,
      ])) as Array<{ ok: number }>;
      t.is(validStamp(d, tm), rows[0]!.ok === 1, `${String(d)} ${String(tm)}`);
    }
  }
});

test('non-converting paths: the walk of every user (the window holds all sessions) and of the window\'s users agree, across pages and for a user longer than a page', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  const month = { start: '2023-08-01', end: '2023-08-31' };
  let seed32 = 7;
  const rand = (n: number): number => {
    seed32 = (seed32 * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed32 / 2147483648) * n);
  };
  const channels = ['SEO', 'Email', 'Social', 'Direct'];
  const stamp = (): [string, string] => [
    `2023-08-${String(1 + rand(31)).padStart(2, '0')}`,
    `${String(rand(24)).padStart(2, '0')}:${String(rand(60)).padStart(2, '0')}:${String(rand(60)).padStart(2, '0')}`,
  ];
  const sessions: S[] = [];
  const conversions: Array<[string, string, string, string]> = [];
  for (let u = 0; u < 3000; u++) {
    const user = `u${String(u).padStart(4, '0')}`;
    // u1500 alone has more sessions than a page of the walk holds (4,000)
    const n = u === 1500 ? 4500 : 1 + rand(4);
    for (let k = 0; k < n; k++) sessions.push([`s${user}-${k}`, user, ...stamp(), channels[rand(4)]!]);
    if (rand(10) === 0 || u === 1500) conversions.push([`c${user}`, user, ...stamp()]);
  }
  const rows = (ss: S[]) =>
    ss.map(([session_id, user_id, event_date, event_time, channel_name]) => ({ session_id, user_id, event_date, event_time, channel_name, holder_engagement: 1, closer_engagement: 0, impression_interaction: 0 }));
  await db.batchInsert('session_sources', rows(sessions), 100);
  await db.batchInsert('conversions', conversions.map(([conv_id, user_id, conv_date, conv_time]) => ({ conv_id, user_id, conv_date, conv_time, revenue: 10 })), 100);
  const stored = async () => ({ ids: await pathsOf(db), rows: await db('nonconverting_paths').orderBy('path_id').select('user_id', 'first_session', 'last_date', 'last_time', 'channels') });
  for (const opts of [OPTS, { ...OPTS, lookbackDays: 2 }]) {
    await db('session_sources').where({ user_id: 'outsider' }).delete();
    const everyUser = await buildJourneys(db, month, opts);
    const walked = await stored();
    // one session dated before the window: the build now reads the window's users only
    await db('session_sources').insert(rows([['outside', 'outsider', '2023-07-01', '10:00:00', 'SEO']]));
    const windowUsers = await buildJourneys(db, month, opts);
    t.deepEqual(await stored(), walked);
    t.deepEqual(windowUsers.nonConverting, everyUser.nonConverting);
    t.true(everyUser.nonConverting.paths > 1000);
    t.true(walked.rows.some((r: { user_id: string }) => r.user_id === 'u1500'));
    t.true(walked.rows.some((r: { user_id: string }) => r.user_id === 'u2999'));
  }
});

test('path ids: each build numbers its paths from the largest id left after its window\'s old paths went, as its days record them', async (t) => {
  const { db, cleanup } = await freshDb();
  t.teardown(cleanup);
  // paths in both halves of September for each user, the late ones ending on two days
  await seed(
    db,
    [
      ['a', 'u1', '2023-09-02', '09:00:00', 'SEO'],
      ['b', 'u1', '2023-09-20', '09:00:00', 'Email'],
      ['c', 'u2', '2023-09-03', '09:00:00', 'Email'],
      ['d', 'u2', '2023-09-21', '09:00:00', 'Social'],
      ['e', 'u3', '2023-09-21', '10:00:00', 'Direct'],
    ],
    [],
  );
  const early = { start: '2023-09-01', end: '2023-09-10' };
  const late = { start: '2023-09-15', end: '2023-09-30' };
  const ids = async (w: Window): Promise<number[]> =>
    (await db('nonconverting_paths').whereBetween('last_date', [w.start, w.end]).orderBy('path_id').select('path_id')).map((r: { path_id: unknown }) => Number(r.path_id));
  const days = (): Promise<unknown[]> => db('nonconverting_path_days').orderBy('last_date').select('last_date', 'first_path', 'last_path');
  const daysOfPaths = (): Promise<unknown[]> =>
    db('nonconverting_paths').groupBy('last_date').orderBy('last_date').select('last_date').min({ first_path: 'path_id' }).max({ last_path: 'path_id' });
  await buildJourneys(db, { start: '2023-09-01', end: '2023-09-30' }, OPTS);
  t.deepEqual([...(await ids(early)), ...(await ids(late))].sort((x, y) => x - y), [1, 2, 3, 4, 5]);
  t.deepEqual(await days(), await daysOfPaths());
  // the late paths (ids 2, 4, 5 by user order) go and come back after the largest id left, 3
  await buildJourneys(db, late, OPTS);
  t.deepEqual(await ids(late), [4, 5, 6]);
  t.deepEqual(await days(), await daysOfPaths());
  await buildJourneys(db, early, OPTS);
  t.deepEqual(await ids(early), [7, 8]);
  t.deepEqual(await days(), await daysOfPaths());
});

test('non-converting path keys: paths reordered by another writer between the order check and the read are grouped by user', async (t) => {
  const { db, url, cleanup } = await freshDb();
  t.teardown(cleanup);
  const day = (i: number): string => `2023-09-0${i}`;
  const row = (id: number, user: string, channel: string) =>
    ({ path_id: id, user_id: user, first_session: `s${id}`, last_date: day(id), last_time: '10:00:00', session_count: 1, channels: channel, later_sessions: null });
  // one build's numbering: u1's two paths are neighbours by key
  await db('nonconverting_paths').insert([row(1, 'u1', 'A'), row(2, 'u1', 'B'), row(3, 'u2', 'C')]);
  await db('nonconverting_path_days').insert([1, 2, 3].map((i) => ({ last_date: day(i), first_path: i, last_path: i })));
  const w = { start: '2023-09-01', end: '2023-09-30' };
  t.deepEqual((await nonConvertingPathKeys(db, journeySql(db), w)).perUser, [{ key: `A${CHANNEL_SEPARATOR}B`, n: 1 }, { key: 'C', n: 1 }]);
  // right after the next order check, another connection moves u2's path between u1's two
  let moved = false;
  db.on('query-response', (_r: unknown, q: { sql?: string }) => {
    if (moved || q.sql?.startsWith('SELECT COALESCE(') !== true) return;
    moved = true;
    const other = new Database(url);
    other.exec(`UPDATE nonconverting_paths SET user_id = CASE path_id WHEN 2 THEN 'u2' ELSE 'u1' END WHERE path_id IN (2, 3)`);
    other.close();
  });
  t.deepEqual((await nonConvertingPathKeys(db, journeySql(db), w)).perUser, [{ key: `A${CHANNEL_SEPARATOR}C`, n: 1 }, { key: 'B', n: 1 }]);
  t.true(moved);
});
