import test from 'ava';
import type { Knex } from 'knex';
import * as E from 'fp-ts/lib/Either.js';
import { buildJourneys, type JourneyOptions } from '../shared/journeys/build.js';
import { migrate } from '../shared/db/migrate.js';
import { freshDb } from './helpers/env.js';
import { pgSchemaDb } from './helpers/pg-schema.js';

const pgUrl = process.env['TEST_POSTGRES_URL'];
const pgTest = pgUrl !== undefined && pgUrl !== '' ? test : test.skip;

const W = { start: '2023-09-01', end: '2023-09-05' };
/** every session's date: the build leaves out the test of a session's user */
const ALL = { start: '2023-08-01', end: '2023-09-05' };
const BASE: JourneyOptions = { lookbackDays: null, maxSessions: null, includeSameSecond: false, nonConverting: { closeAfterDays: 7 } };

/** [session_id, user_id, date, time, channel] */
type S = [string, string, string, string, string];

// user ids whose byte order differs from a linguistic one ('B' < 'a' < 'b' in bytes), users with and without orders,
// orders in a session's second, long gaps, sessions before the lookback, a user outside the window
const SESSIONS: S[] = [
  ['s01', 'b', '2023-09-01', '10:00:00', 'SEO'],
  ['s02', 'b', '2023-09-02', '10:00:00', 'Email'],
  ['s03', 'B', '2023-09-01', '09:00:00', 'Social'],
  ['s04', 'a', '2023-08-10', '09:00:00', 'SEO'],
  ['s05', 'a', '2023-08-30', '09:00:00', 'Direct'],
  ['s06', 'a', '2023-09-02', '09:00:00', 'Email'],
  ['s07', 'a', '2023-09-03', '12:00:00', 'SEO'],
  ['s08', 'a', '2023-09-04', '08:00:00', 'Social'],
  ['s10', 'é', '2023-09-03', '07:00:00', 'SEO'],
  ['s09', 'é', '2023-09-03', '07:00:00', 'Email'],
  ['s11', 'Z', '2023-08-01', '07:00:00', 'SEO'],
  ['s12', 'c', '2023-09-04', '23:00:00', 'Email'],
  ['s13', 'c', '2023-09-05', '01:00:00', 'SEO'],
  ['x"1', 'c', '2023-09-05', '02:00:00', 'SEO'],
  // not a time a session can start at: left out on both databases (PostgreSQL's time type holds both)
  ['s14', 'b', '2023-09-03', '24:00:00', 'SEO'],
  ['s15', 'b', '2023-09-03', '10:00:00.5', 'Email'],
];
const CONVERSIONS: Array<[string, string, string, string]> = [
  ['o1', 'a', '2023-09-03', '12:00:00'],
  ['o2', 'c', '2023-09-05', '01:00:00'],
  ['o3', 'Z', '2023-09-02', '10:00:00'],
];

async function seed(db: Knex): Promise<void> {
  await db('session_sources').insert(
    SESSIONS.map(([session_id, user_id, event_date, event_time, channel_name]) => ({
      session_id, user_id, event_date, event_time, channel_name, holder_engagement: 1, closer_engagement: 0, impression_interaction: 0,
    })),
  );
  await db('session_costs').insert(SESSIONS.map((s) => ({ session_id: s[0], cost: 1 })));
  await db('conversions').insert(CONVERSIONS.map(([conv_id, user_id, conv_date, conv_time]) => ({ conv_id, user_id, conv_date, conv_time, revenue: 10 })));
}

const paths = async (db: Knex): Promise<unknown[]> =>
  db('nonconverting_paths')
    .orderBy('path_id')
    .select('path_id', 'user_id', 'first_session', 'last_date', 'last_time', 'session_count', 'channels', 'later_sessions');

pgTest('PostgreSQL builds the same non-converting paths as SQLite, path ids included, whatever the rules', async (t) => {
  const pg = await pgSchemaDb(t, pgUrl!, 'nc_pg_stream_test');
  const lite = await freshDb();
  t.teardown(lite.cleanup);
  const r = await migrate(pg)();
  if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
  await seed(pg);
  await seed(lite.db);

  const variants: JourneyOptions[] = [
    BASE,
    { ...BASE, includeSameSecond: true },
    { ...BASE, lookbackDays: 3 },
    { ...BASE, lookbackDays: 3, includeSameSecond: true },
    { ...BASE, nonConverting: { closeAfterDays: 1.5 } },
  ];
  for (const [w, opts] of [ALL, W].flatMap((w) => variants.map((o) => [w, o] as const))) {
    const label = `${w.start} ${JSON.stringify(opts)}`;
    const a = await buildJourneys(lite.db, w, opts);
    const b = await buildJourneys(pg, w, opts);
    t.deepEqual(b.nonConverting, a.nonConverting, label);
    const expected = await paths(lite.db);
    t.true(expected.length > 2, label);
    t.is(new Set(expected.map((p) => (p as { user_id: string }).user_id)).size > 3, true, label);
    t.deepEqual(await paths(pg), expected, label);
  }
});
