import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import type { Knex } from 'knex';
import { makeDb, writeTransaction } from '../shared/db/connect.js';
import { databaseError, formatError } from '../shared/errors.js';
import { driverUnderTest, freshDb, runCli, tempDir } from './helpers/env.js';
import { otherProcessWrites } from './helpers/writer.js';

/**
 * The second writer reads before it writes, as process-attribution and load do. Begun DEFERRED, its read
 * pins a snapshot; SQLite then refuses the upgrade to a writer at once (no busy wait) because the first
 * writer holds the lock. Begun IMMEDIATE, it waits for the lock and then proceeds.
 */
function readThenWrite(db: Knex): Promise<number> {
  return writeTransaction(db, async (trx) => {
    const n = Number((await trx('conversion_types').count({ n: '*' }))[0]!['n']);
    await trx('conversion_types').insert({ name: 'b', params: '{}', source: 'test', created_at: String(n) });
    return n;
  });
}

test.serial(`a second writer waits for the first instead of failing with "database is locked" (${driverUnderTest()})`, async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  const first = await otherProcessWrites(env.url, 600);
  const seen = await readThenWrite(env.db);
  t.is(await first.done, 0);
  t.is(seen, 1, 'the second writer ran after the first committed');
  t.deepEqual((await env.db('conversion_types').orderBy('name').pluck('name')) as string[], ['a', 'b']);
});

test.serial('when the wait runs out the message says the database is locked, without the SQL, and nothing is written', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  const impatient = makeDb({ ...env.config.database, busy_timeout_ms: 50 });
  t.teardown(() => impatient.destroy());
  await impatient.raw('SELECT 1');
  const first = await otherProcessWrites(env.url, 600);
  const err = await readThenWrite(impatient).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.is(await first.done, 0);
  t.truthy(err, 'the impatient writer must fail');
  const msg = formatError(databaseError('writing the window', err));
  t.regex(msg, /^writing the window: the database is locked: another task kept writing to it for longer than database\.busy_timeout_ms/);
  t.notRegex(msg, /insert|select|BEGIN|conversion_types/i);
  t.deepEqual((await env.db('conversion_types').pluck('name')) as string[], ['a']);
});

test('a task on a SQLite file that does not exist fails with exit 5 naming it, and creates neither file nor folder', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const missing = path.join(dir, 'typo', 'attribution.db');
  for (const [task, args] of [
    ['build-journeys', []],
    ['send-to-api', []],
    ['process-attribution', []],
    ['fit-ihc', ['--name', 'x']],
  ] as const) {
    const r = await runCli(task, [...args, '--start-date', '2023-09-01', '--end-date', '2023-09-02'], { DATABASE_URL: missing, OUTPUT_DIR: path.join(dir, 'out') });
    t.is(r.code, 5, `${task}: ${r.stderr}`);
    t.is(r.stderr.trim(), `${task}: failed (exit 5): the database ${missing} does not exist: run setup-db (make task-setup-db) first, or check DATABASE_URL / database.url`);
    t.false(fs.existsSync(path.join(dir, 'typo')), task);
  }
  const setup = await runCli('setup-db', [], { DATABASE_URL: missing });
  t.is(setup.code, 0, setup.stderr);
  t.true(fs.existsSync(missing));
});

test('a database that cannot be opened is reported once, naming the file (no knex stack)', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  // a folder where the file should be: it exists, but SQLite cannot open it
  const r = await runCli('build-journeys', ['--start-date', '2023-09-01', '--end-date', '2023-09-02'], { DATABASE_URL: dir, OUTPUT_DIR: path.join(dir, 'out') });
  t.is(r.code, 6);
  const lines = r.stderr.trim().split('\n');
  t.is(lines.length, 1, r.stderr);
  t.regex(lines[0]!, new RegExp(`^build-journeys: failed \\(exit 6\\): .*cannot open the SQLite file ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`));
  t.notRegex(r.stderr, /Acquire connection error| {4}at /);
});

test('a PostgreSQL server that cannot be reached is named (host, port, database; never the password)', async (t) => {
  const r = await runCli('build-journeys', ['--start-date', '2023-09-01', '--end-date', '2023-09-02'], {
    DATABASE_URL: 'postgres://someone:pw-9f8e7d@127.0.0.1:9/attribution',
  });
  t.is(r.code, 6);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /cannot open the PostgreSQL 127\.0\.0\.1:9\/attribution: connect ECONNREFUSED/);
  t.false(r.stderr.includes('pw-9f8e7d'));
});

test('flag values that do not decode are named as typed, without io-ts words', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: path.join(dir, 'never.db') };
  const cases: Array<[string[], string]> = [
    [['--lookback-days', 'abc'], 'build-journeys: --lookback-days: expected a whole number > 0, got "abc"'],
    [['--lookback-days=1.5'], 'build-journeys: --lookback-days: expected a whole number > 0, got "1.5"'],
    [['--max-sessions', '0'], 'build-journeys: --max-sessions: expected a whole number > 0, got "0"'],
  ];
  for (const [args, line] of cases) {
    const r = await runCli('build-journeys', args, env);
    t.is(r.code, 2, r.stderr);
    t.is(r.stderr.split('\n')[0], line);
    t.notRegex(r.stderr, /undefined|null|Array<|io-ts/);
  }
  t.false(fs.existsSync(path.join(dir, 'never.db')));
});

