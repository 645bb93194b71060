import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { buildJourneys } from '../shared/journeys/build.js';
import { journeySql } from '../shared/journeys/sql.js';
import { ISSUE_CHECKS } from '../shared/journeys/validate.js';
import { migrate } from '../shared/db/migrate.js';
import { pgSchemaDb } from './helpers/pg-schema.js';

const pgUrl = process.env['TEST_POSTGRES_URL'];
const pgTest = pgUrl !== undefined && pgUrl !== '' ? test : test.skip;

const W = { start: '2023-09-01', end: '2023-09-03' };
const REASONS = ['session_without_cost', 'cost_without_session'];

pgTest("PostgreSQL: the one-pass counts of sessions without cost and costs without session agree with the naming queries, so a zero skips nothing", async (t) => {
  const db = await pgSchemaDb(t, pgUrl!, 'validate_pg_test');
  const r = await migrate(db)();
  if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
  const sessions: Array<[string, string, string]> = [
    ['in-costed', 'u', '2023-09-01'],
    ['in-free', 'v', '2023-09-02'], // dated in the window, no cost row
    ['old-free', 'u', '2023-08-01'], // of a converting user, before the window
    ['old-costed', 'u', '2023-08-02'],
    ['far-free', 'x', '2023-08-01'], // neither: out of scope
    ['null-cost', 'v', '2023-09-03'], // a NULL cost is a cost row
  ];
  await db('session_sources').insert(
    sessions.map(([session_id, user_id, event_date]) => ({
      session_id, user_id, event_date, event_time: '08:00:00', channel_name: 'SEO', holder_engagement: 0, closer_engagement: 0, impression_interaction: 0,
    })),
  );
  await db('conversions').insert({ conv_id: 'c1', user_id: 'u', conv_date: '2023-09-02', conv_time: '10:00:00', revenue: 10 });
  await db('session_costs').insert([
    { session_id: 'in-costed', cost: 1 },
    { session_id: 'old-costed', cost: 2 },
    { session_id: 'null-cost', cost: null },
    { session_id: 'orphan', cost: 3 },
  ]);

  const q = journeySql(db);
  const agree = async (reason: string): Promise<number> => {
    const check = ISSUE_CHECKS.find((c) => c.reason === reason)!;
    const sel = check.select(q, W);
    const named = ((await db.raw(sel.sql, [...sel.bindings])) as { rows: unknown[] }).rows;
    const counted = check.count?.(q, W);
    t.not(counted, undefined, `${reason} is counted before it is named`);
    const row = ((await db.raw(counted!.sql, [...counted!.bindings])) as { rows: Array<Record<string, unknown>> }).rows[0]!;
    t.is(Number(row[counted!.column]), named.length, reason);
    return named.length;
  };
  t.is(await agree('session_without_cost'), 2); // in-free, old-free
  t.is(await agree('cost_without_session'), 1); // orphan
  await buildJourneys(db, W, { lookbackDays: null, maxSessions: null, includeSameSecond: false, nonConverting: null });
  const issues = await db('data_issues').whereIn('reason', REASONS).orderBy('record_key').select('reason', 'record_key');
  t.deepEqual(issues, [
    { reason: 'session_without_cost', record_key: 'in-free' },
    { reason: 'session_without_cost', record_key: 'old-free' },
    { reason: 'cost_without_session', record_key: 'orphan' },
  ].sort((a, b) => (a.record_key < b.record_key ? -1 : 1)));

  await db('session_costs').insert([{ session_id: 'in-free', cost: 1 }, { session_id: 'old-free', cost: 1 }]);
  await db('session_costs').where({ session_id: 'orphan' }).delete();
  t.is(await agree('session_without_cost'), 0);
  t.is(await agree('cost_without_session'), 0);
  await buildJourneys(db, W, { lookbackDays: null, maxSessions: null, includeSameSecond: false, nonConverting: null });
  t.deepEqual(await db('data_issues').whereIn('reason', REASONS), []);
});
