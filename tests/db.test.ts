import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as E from 'fp-ts/lib/Either.js';
import { makeDb, SQLITE_CACHE_KIB, writeTransaction } from '../shared/db/connect.js';
import { checkSchema, migrate } from '../shared/db/migrate.js';
import { expectedSchema } from '../shared/db/schema.js';
import { MIGRATIONS, migrationSource } from '../shared/db/migrations/index.js';
import * as m009 from '../shared/db/migrations/009_reporting_storage.js';
import { formatError, redact } from '../shared/errors.js';
import { ROOT, driverUnderTest, freshDb, runCli, tempDir, testConfig } from './helpers/env.js';

const CHALLENGE_SQL = fs.readFileSync(path.join(ROOT, 'tests/fixtures/challenge_schema.sql'), 'utf8');

function challengeDb(): { file: string; dir: string } {
  const dir = tempDir();
  const file = path.join(dir, 'challenge.db');
  const raw = new Database(file);
  raw.exec(CHALLENGE_SQL);
  raw.close();
  return { file, dir };
}

test(`migrating an empty database creates every expected table and passes the check (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    const check = await checkSchema(db)();
    t.true(E.isRight(check), E.isLeft(check) ? formatError(check.left) : '');
    for (const table of expectedSchema()) t.true(await db.schema.hasTable(table.name), table.name);
    const journal = (await db.raw('PRAGMA journal_mode')) as Array<{ journal_mode: string }>;
    t.is(journal[0]?.journal_mode, 'wal');
    const fk = (await db.raw('PRAGMA foreign_keys')) as Array<{ foreign_keys: number }>;
    t.is(fk[0]?.foreign_keys, 1);
  } finally {
    await cleanup();
  }
});

test('migrating twice changes nothing', async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    const second = await migrate(db)();
    t.deepEqual(E.isRight(second) ? second.right.applied : ['error'], []);
  } finally {
    await cleanup();
  }
});

test('a database made by the challenge script is adopted with its data untouched', async (t) => {
  const { file, dir } = challengeDb();
  const config = testConfig(file, dir);
  const db = makeDb(config.database);
  try {
    const before = await Promise.all(['session_sources', 'conversions', 'session_costs', 'attribution_customer_journey', 'channel_reporting'].map((x) => db(x).select()));
    const r = await migrate(db)();
    if (E.isLeft(r)) return t.fail(formatError(r.left));
    t.deepEqual([...r.right.adopted].sort(), ['attribution_customer_journey', 'channel_reporting', 'conversions', 'session_costs', 'session_sources']);
    const check = await checkSchema(db)();
    t.true(E.isRight(check), E.isLeft(check) ? formatError(check.left) : '');
    const after = await Promise.all(['session_sources', 'conversions', 'session_costs', 'attribution_customer_journey', 'channel_reporting'].map((x) => db(x).select()));
    t.deepEqual(after, before);
    t.is(before[0]!.length, 1);
  } finally {
    await db.destroy();
  }
});

test(`adopting a challenge database builds each index once, on the table as the migrations leave it, and ends with the schema of a step-by-step migration (${driverUnderTest()})`, async (t) => {
  const indexSql = async (db: ReturnType<typeof makeDb>): Promise<unknown[]> =>
    (await db.raw(`SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)) as unknown[];
  const oneBatch = challengeDb();
  const db = makeDb(testConfig(oneBatch.file, oneBatch.dir).database);
  const stepwise = challengeDb();
  const other = makeDb(testConfig(stepwise.file, stepwise.dir).database);
  try {
    const sent: string[] = [];
    db.on('query', (q: { sql: string }) => sent.push(q.sql));
    const r = await migrate(db)();
    if (E.isLeft(r)) return t.fail(formatError(r.left));
    const built = sent.flatMap((sql) => /^\s*CREATE\s+INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)/i.exec(sql)?.[1] ?? []);
    const droppedAfter = sent.flatMap((sql, i) => {
      const name = /^\s*DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?(\w+)/i.exec(sql)?.[1];
      return name !== undefined && sent.slice(0, i).some((s) => new RegExp(`INDEX\\s+(IF\\s+NOT\\s+EXISTS\\s+)?${name}\\b`, 'i').test(s) && /^\s*CREATE/i.test(s)) ? [name] : [];
    });
    t.deepEqual(droppedAfter, [], 'no index is built and then dropped');
    t.is(new Set(built).size, built.length, `each index built once: ${built.join(', ')}`);
    t.true(built.includes('idx_session_sources_user_ts_id_channel'));
    // the same database migrated one migration at a time (each a batch of its own, so nothing waits)
    for (let i = 0; i < MIGRATIONS.length; i++) await other.migrate.up({ migrationSource });
    t.deepEqual(await indexSql(db), await indexSql(other));
    const check = await checkSchema(db)();
    t.true(E.isRight(check), E.isLeft(check) ? formatError(check.left) : '');
  } finally {
    await db.destroy();
    await other.destroy();
  }
});

test(`every SQLite connection opens with a 2 MB page cache, whichever driver (better-sqlite3's own default is 16 MB) (${driverUnderTest()})`, async (t) => {
  const { file, dir } = challengeDb();
  const db = makeDb(testConfig(file, dir).database);
  try {
    const rows = (await db.raw('PRAGMA cache_size')) as Array<{ cache_size: number }>;
    t.is(rows[0]!.cache_size, -SQLITE_CACHE_KIB);
  } finally {
    await db.destroy();
  }
});

test(`migrating, which sorts with a page cache of its own, leaves the connection's as it found it (${driverUnderTest()})`, async (t) => {
  const { file, dir } = challengeDb();
  const db = makeDb(testConfig(file, dir).database);
  const cache = async (): Promise<number> => ((await db.raw('PRAGMA cache_size')) as Array<{ cache_size: number }>)[0]!.cache_size;
  try {
    await db.raw('PRAGMA cache_size = -12345');
    t.true(E.isRight(await migrate(db)()));
    t.is(await cache(), -12345);
  } finally {
    await db.destroy();
  }
});

const definition = async (db: ReturnType<typeof makeDb>, table: string): Promise<string> =>
  ((await db.raw(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, [table])) as Array<{ sql: string }>)[0]?.sql ?? '';
const indexNames = async (db: ReturnType<typeof makeDb>, table: string): Promise<string[]> =>
  ((await db.raw(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`, [table])) as Array<{ name: string }>).map((r) => r.name);

test(`migration 009 makes session_costs and model_credits WITHOUT ROWID tables and back, rows, indexes and declared types kept (${driverUnderTest()})`, async (t) => {
  const { file, dir } = challengeDb();
  const db = makeDb(testConfig(file, dir).database);
  try {
    t.true(E.isRight(await migrate(db)()));
    t.regex(await definition(db, 'session_costs'), /\)\s*WITHOUT ROWID$/);
    t.regex(await definition(db, 'model_credits'), /\)\s*WITHOUT ROWID$/);
    await db.raw('CREATE INDEX idx_costs_by_cost ON session_costs (cost)');
    await db('session_costs').insert([{ session_id: 'b', cost: 2.5 }, { session_id: 'c', cost: null }]);
    await db('model_credits').insert({ model: 'linear', conv_id: 'c1', session_id: 's1', credit: 0.5 });
    const rows = async (): Promise<unknown[]> => [
      await db('session_costs').select().orderBy('session_id'),
      await db('model_credits').select(),
      await indexNames(db, 'session_costs'),
    ];
    const before = await rows();
    await writeTransaction(db, (trx) => m009.down(trx));
    t.notRegex(await definition(db, 'session_costs'), /WITHOUT ROWID/);
    t.deepEqual(await rows(), before);
    await writeTransaction(db, (trx) => m009.up(trx));
    t.regex(await definition(db, 'session_costs'), /\)\s*WITHOUT ROWID$/);
    t.deepEqual(await rows(), before);
    // the same declared column types: the schema check still passes, an adopted table keeps its shape
    const check = await checkSchema(db)();
    t.true(E.isRight(check), E.isLeft(check) ? formatError(check.left) : '');
    t.regex(await definition(db, 'session_costs'), /session_id VARCHAR\(64\) PRIMARY KEY,\s*cost REAL/);
  } finally {
    await db.destroy();
  }
});

test('migration 009 leaves a cost table with a NULL key as a rowid table, its rows untouched', async (t) => {
  const { file, dir } = challengeDb();
  const raw = new Database(file);
  raw.exec(`INSERT INTO session_costs (session_id, cost) VALUES (NULL, 4)`);
  raw.close();
  const db = makeDb(testConfig(file, dir).database);
  try {
    const before = await db('session_costs').select().orderBy('cost');
    t.true(E.isRight(await migrate(db)()));
    t.notRegex(await definition(db, 'session_costs'), /WITHOUT ROWID/);
    t.regex(await definition(db, 'model_credits'), /WITHOUT ROWID/);
    t.deepEqual(await db('session_costs').select().orderBy('cost'), before);
  } finally {
    await db.destroy();
  }
});

test(`migration 011 stores an adopted session table's rows in key order, rows, indexes and declared types kept; a table in order is left alone (${driverUnderTest()})`, async (t) => {
  const sessions = (db: ReturnType<typeof makeDb>) => db('session_sources').select().orderBy('session_id');
  const byRowid = async (db: ReturnType<typeof makeDb>): Promise<Array<{ rowid: number; session_id: string }>> =>
    (await db.raw('SELECT rowid, session_id FROM session_sources ORDER BY rowid')) as Array<{ rowid: number; session_id: string }>;
  const add = (file: string, sql: string) => {
    const raw = new Database(file);
    raw.exec(sql);
    raw.close();
  };
  const row = (id: string, rowid: number) => `INSERT INTO session_sources (rowid, session_id, user_id, event_date, event_time, channel_name, holder_engagement, closer_engagement, impression_interaction)
    VALUES (${rowid}, '${id}', 'u1', '2023-09-0${rowid % 9}', '10:00:00', 'SEO', 0, 1, 0);`;
  {
    // the challenge fixture holds s1 (rowid 1); these come after it in file order, not in key order
    const { file, dir } = challengeDb();
    add(file, row('s3', 2) + row('s0', 3) + row('s2', 4) + 'CREATE INDEX idx_sessions_by_channel ON session_sources (channel_name);');
    const db = makeDb(testConfig(file, dir).database);
    try {
      const before = await sessions(db);
      t.true(E.isRight(await migrate(db)()));
      t.deepEqual((await byRowid(db)).map((r) => r.session_id), ['s0', 's1', 's2', 's3']);
      t.deepEqual(await sessions(db), before);
      t.true((await indexNames(db, 'session_sources')).includes('idx_sessions_by_channel'));
      t.regex(await definition(db, 'session_sources'), /session_id VARCHAR\(64\) PRIMARY KEY,\s*user_id VARCHAR\(64\)/);
      t.notRegex(await definition(db, 'session_sources'), /WITHOUT ROWID/);
      const check = await checkSchema(db)();
      t.true(E.isRight(check), E.isLeft(check) ? formatError(check.left) : '');
    } finally {
      await db.destroy();
    }
  }
  {
    // already in key order (rowids with gaps): not copied, so the rowids stay as they were
    const { file, dir } = challengeDb();
    add(file, row('s2', 20) + row('s3', 30));
    const db = makeDb(testConfig(file, dir).database);
    try {
      t.true(E.isRight(await migrate(db)()));
      t.deepEqual(await byRowid(db), [{ rowid: 1, session_id: 's1' }, { rowid: 20, session_id: 's2' }, { rowid: 30, session_id: 's3' }]);
    } finally {
      await db.destroy();
    }
  }
});

test('schema drift is reported with each exact difference', async (t) => {
  const { file, dir } = challengeDb();
  const db = makeDb(testConfig(file, dir).database);
  try {
    t.true(E.isRight(await migrate(db)()));
    // after a clean setup someone edits the database by hand: a missing column, a mistyped column,
    // a wrong key and a missing table
    const raw = new Database(file);
    raw.exec(`
      ALTER TABLE conversions RENAME TO conversions_old;
      CREATE TABLE conversions (conv_id TEXT, user_id TEXT, conv_date DATE, revenue TEXT, PRIMARY KEY (conv_id, user_id));
      DROP TABLE channel_reporting;
    `);
    raw.close();
    const check = await checkSchema(db)();
    if (E.isRight(check)) return t.fail('drift not detected');
    t.is(check.left._tag, 'SchemaError');
    const diffs = check.left._tag === 'SchemaError' ? check.left.differences : [];
    t.deepEqual([...diffs].sort(), [
      'conversions has primary key (conv_id, user_id), expected (conv_id)',
      'conversions.conv_time is missing (expected time)',
      'conversions.revenue has type TEXT, expected real',
      'table channel_reporting is missing',
    ]);
  } finally {
    await db.destroy();
  }
});

test('setup-db as a command: creates, is idempotent, and exits 5 naming the drift', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'cli.db');
  const env = { DATABASE_URL: file };
  const first = await runCli('setup-db', [], env);
  t.is(first.code, 0, first.stderr);
  t.regex(first.stdout, new RegExp(String.raw`setup-db: SQLite file .*cli\.db .*applied ${MIGRATIONS.length} migration\(s\).*schema OK`));
  const second = await runCli('setup-db', [], env);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /already up to date; schema OK/);
  const raw = new Database(file);
  raw.exec('ALTER TABLE session_costs DROP COLUMN cost');
  raw.close();
  const check = await runCli('setup-db', ['--check'], env);
  t.is(check.code, 5);
  t.regex(check.stderr, /session_costs\.cost is missing \(expected real\)/);
  t.false(fs.existsSync(path.join(ROOT, 'cli.db')));
});

test('setup-db refuses unknown flags with exit 2 and a bad config with exit 3', async (t) => {
  const dir = tempDir();
  const usage = await runCli('setup-db', ['--chek'], { DATABASE_URL: path.join(dir, 'x.db') });
  t.is(usage.code, 2);
  t.regex(usage.stderr, /Unknown argument: chek/);
  const cfg = path.join(dir, 'bad.yaml');
  fs.writeFileSync(cfg, fs.readFileSync(path.join(ROOT, 'config/config.yaml'), 'utf8').replace('pool_max: 4', 'pool_max: four'));
  const bad = await runCli('setup-db', ['--config', cfg], { DATABASE_URL: path.join(dir, 'x.db') });
  t.is(bad.code, 3);
  t.regex(bad.stderr, /database\.pool_max: expected a whole number > 0, got "four"/);
  t.false(fs.existsSync(path.join(dir, 'x.db')), 'nothing is created when the config is bad');
});

test('redact hides the password of every URL, wherever it stands, and leaves texts without one as they were', (t) => {
  t.is(
    redact('connect postgres://app:s3cr3t@db:5432/x failed; x_y.pg+s://u:p@h and (https://u:p@h/)'),
    'connect postgres://app:***@db:5432/x failed; x_y.pg+s://u:***@h and (https://u:***@h/)',
  );
  t.is(redact('abcpostgres://u:pw@h'), 'abcpostgres://u:***@h');
  // an answer full of long hex ids, as send-to-api stores them
  const answer = JSON.stringify({ value: [{ conversion_id: 'a'.repeat(64), session_id: 'b'.repeat(64), ihc: 1 }] });
  t.is(redact(answer), answer);
});

test(`setup-db killed while adopting leaves the challenge database as it was; a rerun adopts it and leaves it in WAL mode (${driverUnderTest()})`, async (t) => {
  const rows = (file: string): unknown[] => {
    const db = new Database(file);
    try {
      return ['session_sources', 'session_costs'].map((x) => db.prepare(`SELECT * FROM ${x} ORDER BY rowid`).all());
    } finally {
      db.close();
    }
  };
  // a kill needs the batch under way; on a busy machine the poll below may miss it, so a few attempts
  for (let attempt = 1; ; attempt++) {
    const { file } = challengeDb();
    const raw = new Database(file);
    // enough rows, in no key order, for the adoption's copies to take a while
    raw.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
              INSERT INTO session_sources SELECT hex(randomblob(32)), 'u' || (i % 4000), '2023-09-01', '12:00:00', 'ch' || (i % 7), 1, 0, 0 FROM n;
              INSERT OR IGNORE INTO session_costs SELECT session_id, 0.25 FROM session_sources;`);
    raw.close();
    const before = rows(file);
    const journal = `${file}-journal`;
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks/setup-db/main.js')], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], DATABASE_URL: file, DATABASE_SQLITE_CLIENT: driverUnderTest() },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // the batch journals the pages it overwrites: once its journal holds some, the copies have begun
    while (child.exitCode === null && !((fs.statSync(journal, { throwIfNoEntry: false })?.size ?? 0) > 100_000)) await new Promise((r) => setTimeout(r, 2));
    child.kill('SIGKILL');
    if ((await exited) !== null) {
      if (attempt < 5) continue;
      return t.fail('setup-db finished before every kill');
    }
    t.true(fs.existsSync(journal));
    t.deepEqual(rows(file), before);
    const rerun = await runCli('setup-db', [], { DATABASE_URL: file });
    t.is(rerun.code, 0, rerun.stderr);
    const after = new Database(file);
    try {
      t.is(after.pragma('journal_mode', { simple: true }), 'wal');
      t.is(after.pragma('integrity_check', { simple: true }), 'ok');
      t.is((after.prepare('SELECT COUNT(*) AS n FROM session_sources').get() as { n: number }).n, (before[0] as unknown[]).length);
    } finally {
      after.close();
    }
    return;
  }
});

test(`adopting while another connection has the database open runs under WAL and adopts it all the same (${driverUnderTest()})`, async (t) => {
  const { file, dir } = challengeDb();
  const reader = new Database(file);
  reader.pragma('journal_mode = WAL');
  const db = makeDb(testConfig(file, dir).database);
  try {
    const before = reader.prepare('SELECT * FROM session_sources').all();
    const r = await migrate(db)();
    t.true(E.isRight(r), E.isLeft(r) ? formatError(r.left) : '');
    t.is(reader.pragma('journal_mode', { simple: true }), 'wal');
    t.deepEqual(reader.prepare('SELECT * FROM session_sources').all(), before);
  } finally {
    reader.close();
    await db.destroy();
  }
});
