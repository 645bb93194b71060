import test from 'ava';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import knex, { type Knex } from 'knex';
import { makeDb, writeTransaction } from '../shared/db/connect.js';
import { makeStager } from '../shared/ingest/stage.js';
import { migrate } from '../shared/db/migrate.js';
import { formatError } from '../shared/errors.js';
import { kindByName } from '../shared/ingest/kinds.js';
import { loadFiles, type FileStats } from '../shared/ingest/load.js';
import { silentLogger } from '../shared/log.js';
import { makeProgress } from '../shared/progress.js';
import { CONFIG_FILE, freshDb, ROOT, tempDir, testConfig } from './helpers/env.js';
import { pgSchemaDb } from './helpers/pg-schema.js';

/**
 * Load on PostgreSQL (COPY into staging, set-based upsert) must store and quarantine exactly what the SQLite
 * load does. Runs when TEST_POSTGRES_URL is set; uses a database of its own beside the pipeline suite's.
 */
const url = process.env['TEST_POSTGRES_URL'];
const pgTest = url !== undefined && url !== '' ? test : test.skip;

const opts = (strict: boolean) => ({
  strict,
  runId: 'run-1',
  chunkRows: 400,
  stageChunkRows: 5000,
  now: () => new Date('2026-01-01T00:00:00Z'),
  progress: (label: string, total: number) => makeProgress({ label, total, logger: silentLogger, isTTY: false, intervalMs: 1e9 }),
});

function files(dir: string): { kind: 'sessions' | 'conversions' | 'costs'; path: string }[] {
  const w = (name: string, parts: (string | Buffer)[]) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x))));
    return p;
  };
  return [
    {
      kind: 'sessions',
      path: w('s.csv', [
        'session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction\r\n',
        's1,u1,2023-08-29,10:00:00,"FB, ""IG"" Ads",1,0,0\n',
        's2,u1,2023-08-29,11:00:00,Direct,1,1,0\r',
        'x', Buffer.from([0xff]), ',u1,2023-08-29,11:00:00,Direct,1,1,0\n',
        's1,u2,2023-08-30,11:00:00,Direct,1,1,0\n',
        's3,u2,2023-02-30,11:00:00,Direct,1,1,0\n',
        's4,u\u00e9,2023-08-31,23:59:59,Email,0,0,1\n',
      ]),
    },
    { kind: 'conversions', path: w('c.csv', ['conv_id,user_id,conv_date,conv_time,revenue\n', 'c1,u1,2023-08-29,12:00:00,10.5\n', 'c2,u1,2023-08-29,12:00:00,1e308\n']) },
    { kind: 'costs', path: w('k.csv', ['session_id,cost\n', 's1,1.5\n', 's2,\n', 's3,1e-7\n']) },
  ];
}

async function load(db: Knex, fs_: ReturnType<typeof files>, strict = false): Promise<E.Either<string, FileStats[]>> {
  const r = await loadFiles(db, fs_.map((f) => ({ kind: kindByName(f.kind), path: f.path })), opts(strict))();
  return E.isLeft(r) ? E.left(formatError(r.left)) : E.right(r.right);
}

async function contents(db: Knex): Promise<unknown> {
  return {
    sessions: await db('session_sources').select().orderBy('session_id'),
    conversions: await db('conversions').select().orderBy('conv_id'),
    costs: await db('session_costs').select().orderBy('session_id'),
    quarantine: await db('ingest_quarantine').select('line', 'table_name', 'record_key', 'field', 'reason', 'detail', 'raw').orderBy(['table_name', 'line']),
  };
}

/**
 * Runs the load command on `file` against database `name` and SIGKILLs it the moment the server runs a statement
 * starting with `statement`; resolves with its exit code (null when killed) once the server has rolled the dead
 * client's transaction back, so that what follows checks the rolled-back state rather than queueing behind its locks.
 */
/**
 * A database of its own, made empty and migrated: the kill tests run a load as another process, which cannot be
 * pointed at a schema of a shared database (pgSchemaDb) by URL alone.
 */
async function migratedDatabase(name: string): Promise<{ pg: Knex; pgUrl: string; dir: string }> {
  const admin = knex({ client: 'pg', connection: url! });
  try {
    await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
    await admin.raw(`CREATE DATABASE ${name}`);
  } finally {
    await admin.destroy();
  }
  const pgUrl = url!.replace(/\/[^/]*$/, `/${name}`);
  const dir = tempDir();
  const pg = makeDb(testConfig(pgUrl, path.join(dir, 'out')).database);
  const m = await migrate(pg)();
  if (E.isLeft(m)) {
    await pg.destroy();
    throw new Error(`migrating ${name}: ${formatError(m.left)}`);
  }
  return { pg, pgUrl, dir };
}

const publicIndexes = (pg: Knex): Promise<unknown[]> =>
  pg.raw(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`).then((r: { rows: unknown[] }) => r.rows);

async function killLoadDuring(pg: Knex, name: string, pgUrl: string, file: string, statement: string): Promise<number | null> {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks/load/main.js'), '--sessions', file], {
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ATTRIBUTION_CONFIG: CONFIG_FILE, DATABASE_URL: pgUrl, LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  let running = true;
  void exited.then(() => (running = false));
  let caught = false;
  while (running && !caught) {
    const r = await pg.raw(`SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = ? AND state = 'active' AND query LIKE ?`, [name, `${statement}%`]);
    caught = r.rows[0].n > 0;
    if (!caught) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (caught) child.kill('SIGKILL');
  const code = await exited;
  for (let i = 0; i < 400; i++) {
    const r = await pg.raw(`SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid() AND state <> 'idle'`, [name]);
    if (r.rows[0].n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return code;
}

pgTest('PostgreSQL stores and quarantines exactly what SQLite does; a re-load changes nothing; --strict writes nothing', async (t) => {
  const admin = knex({ client: 'pg', connection: url! });
  try {
    await admin.raw('DROP DATABASE IF EXISTS ingest_test');
    await admin.raw('CREATE DATABASE ingest_test');
  } finally {
    await admin.destroy();
  }
  const pgUrl = url!.replace(/\/[^/]*$/, '/ingest_test');
  const dir = tempDir();
  const pg = makeDb(testConfig(pgUrl, path.join(dir, 'out')).database);
  const lite = await freshDb();
  try {
    const m = await migrate(pg)();
    if (E.isLeft(m)) return t.fail(JSON.stringify(m.left));
    const input = files(dir);
    const strict = await load(pg, input, true);
    t.true(E.isLeft(strict));
    t.deepEqual(await contents(pg), { sessions: [], conversions: [], costs: [], quarantine: [] });

    const a = await load(lite.db, input);
    const b = await load(pg, input);
    t.deepEqual(b, a);
    t.deepEqual(E.map((s: FileStats[]) => s.map((x) => [x.inserted, x.quarantined]))(b), E.right([[3, 3], [1, 1], [3, 0]]));
    t.deepEqual(await contents(pg), await contents(lite.db));

    const again = await load(pg, input);
    t.deepEqual(E.map((s: FileStats[]) => s.map((x) => [x.inserted, x.updated, x.unchanged]))(again), E.right([[0, 0, 3], [0, 0, 1], [0, 0, 3]]));

    // a later file that changes some stored rows and adds others: the changed ones are updated, the new ones
    // inserted beside them, the rest left alone, as on SQLite; the indexes dropped for the first (bulk) load are back
    const indexes = () => pg.raw(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('session_sources', 'session_costs') ORDER BY indexname`).then((r) => r.rows);
    const before = await indexes();
    await load(lite.db, input); // the re-load's quarantine rows, so that both databases hold the same again
    const later = [
      {
        kind: 'sessions' as const,
        path: path.join(dir, 's2.csv'),
        text: 'session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction\n' +
          's1,u1,2023-08-29,10:00:00,Email,1,0,0\ns2,u1,2023-08-29,11:00:00,Direct,1,1,0\ns5,u3,2023-09-01,08:00:00,Direct,0,0,0\n',
      },
      { kind: 'costs' as const, path: path.join(dir, 'k2.csv'), text: 'session_id,cost\ns1,2.5\ns2,\ns3,\ns5,0.25\n' },
    ];
    for (const f of later) fs.writeFileSync(f.path, f.text);
    const c = await load(lite.db, later);
    const d = await load(pg, later);
    t.deepEqual(d, c);
    t.deepEqual(E.map((s: FileStats[]) => s.map((x) => [x.inserted, x.updated, x.unchanged]))(d), E.right([[1, 1, 1], [1, 2, 1]]));
    t.deepEqual(await contents(pg), await contents(lite.db));
    t.true(before.length >= 4);
    t.deepEqual(await indexes(), before);
  } finally {
    await pg.destroy();
    await lite.cleanup();
  }
});

pgTest('a PostgreSQL load killed while it inserts (its secondary indexes dropped) leaves the database as it was', async (t) => {
  const { pg, pgUrl, dir } = await migratedDatabase('ingest_kill_test');
  try {
    t.true(E.isRight(await load(pg, files(dir))));
    const indexes = () => publicIndexes(pg);
    const before = { contents: await contents(pg), indexes: await indexes() };

    // far more rows than stored, so the load drops session_sources' secondary indexes before its INSERT
    const big = path.join(dir, 'big.csv');
    const lines = ['session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction'];
    for (let i = 0; i < 100_000; i++) lines.push(`k${String(i).padStart(7, '0')},u${i % 5000},2023-09-01,10:00:00,Direct,1,0,0`);
    fs.writeFileSync(big, lines.join('\n') + '\n');
    // the moment the server runs the load's INSERT into session_sources, the load process dies
    t.is(await killLoadDuring(pg, 'ingest_kill_test', pgUrl, big, 'INSERT INTO session_sources'), null, 'the load was killed in flight, not finished before');
    t.deepEqual({ contents: await contents(pg), indexes: await indexes() }, before);

    const again = await load(pg, [{ kind: 'sessions', path: big }]);
    t.deepEqual(E.map((s: FileStats[]) => s.map((x) => [x.inserted, x.quarantined]))(again), E.right([[100_000, 0]]));
    t.deepEqual(await indexes(), before.indexes);
  } finally {
    await pg.destroy();
  }
});

pgTest('a PostgreSQL load into empty tables, killed while its key constraint is set aside, leaves them as they were; finished, it puts the key back', async (t) => {
  const { pg, pgUrl, dir } = await migratedDatabase('ingest_direct_test');
  try {
    const indexes = () => publicIndexes(pg);
    const keys = () =>
      pg.raw(`SELECT conrelid::regclass::text AS t, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`).then((r) => r.rows);
    const before = { contents: await contents(pg), indexes: await indexes(), keys: await keys() };
    t.true(before.keys.some((k: { t: string; def: string }) => k.t === 'session_sources' && k.def === 'PRIMARY KEY (session_id)'));

    const big = path.join(dir, 'big.csv');
    const lines = ['session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction'];
    for (let i = 0; i < 100_000; i++) lines.push(`k${String((i * 7919) % 100_000).padStart(7, '0')},u${i % 5000},2023-09-01,10:00:00,Direct,1,0,0`);
    fs.writeFileSync(big, lines.join('\n') + '\n');
    // the rows go straight into the empty table (no staging table) while its key constraint is dropped
    t.is(await killLoadDuring(pg, 'ingest_direct_test', pgUrl, big, 'COPY session_sources'), null, 'the load was killed in flight, not finished before');
    t.deepEqual({ contents: await contents(pg), indexes: await indexes(), keys: await keys() }, before);

    const done = await load(pg, [{ kind: 'sessions', path: big }]);
    t.deepEqual(E.map((s: FileStats[]) => s.map((x) => [x.inserted, x.quarantined]))(done), E.right([[100_000, 0]]));
    t.deepEqual({ indexes: await indexes(), keys: await keys() }, { indexes: before.indexes, keys: before.keys });
    const stored = await pg.raw(`SELECT COUNT(*)::int AS n, COUNT(DISTINCT session_id)::int AS d FROM session_sources`);
    t.deepEqual(stored.rows[0], { n: 100_000, d: 100_000 });
    // stored frozen (COPY ... FREEZE): every page is all-visible in the visibility map, which the load's ANALYZE counts
    const visible = await pg.raw(`SELECT relpages, relallvisible FROM pg_class WHERE oid = 'session_sources'::regclass`);
    t.true(visible.rows[0].relpages > 0);
    t.is(visible.rows[0].relallvisible, visible.rows[0].relpages);
    // the key is enforced again
    const dup = await pg.raw(`INSERT INTO session_sources SELECT * FROM session_sources LIMIT 1`).then(
      () => 'inserted',
      (e: { code?: string }) => e.code,
    );
    t.is(dup, '23505');
  } finally {
    await pg.destroy();
  }
});

pgTest('typed rows reach PostgreSQL in binary COPY exactly as CSV COPY stores them', async (t) => {
  const pg = await pgSchemaDb(t, url!, 'binary_copy_test');
  // bigint, text, date, time, integer, double precision and NULL, at their edges
  await pg.raw(`CREATE TABLE typed (k BIGINT, s TEXT, d DATE, tm TIME, n INTEGER, x DOUBLE PRECISION)`);
  const cols = ['k', 's', 'd', 'tm', 'n', 'x'];
  const rows: unknown[][] = [
    [1, 'plain', '2023-09-01', '00:00:00', 0, 0.1],
    [Number.MAX_SAFE_INTEGER, 'x"1,\n\\ é \u001f 😀', '2024-02-29', '23:59:59', -2147483648, -1e-300],
    [-Number.MAX_SAFE_INTEGER, '', '1970-01-01', '12:34:56', 2147483647, 1.7976931348623157e308],
    [7, null, '1999-12-31', '24:00:00', null, Number.MIN_VALUE],
    [8, 'n', '0001-01-01', null, 5, null],
  ];
  const write = async (typed: boolean) => {
    await pg.raw('TRUNCATE typed');
    await writeTransaction(pg, async (trx) => {
      const stager = await makeStager(trx, 'typed', cols, 100, { typed });
      for (const r of rows) stager.add(r);
      await stager.close();
    });
    return (await pg.raw(`SELECT k::text, s, d::text, tm::text, n, x::text FROM typed ORDER BY k`)).rows as unknown[];
  };
  const csv = await write(false);
  t.is(csv.length, rows.length);
  t.deepEqual(await write(true), csv);
  // a value that is not of its column's type stops the write instead of storing something else
  await t.throwsAsync(() => writeTransaction(pg, async (trx) => {
    const stager = await makeStager(trx, 'typed', cols, 100, { typed: true });
    stager.add([1.5, 's', '2023-09-01', '00:00:00', 1, 1]);
    await stager.close();
  }), { message: /not a 64-bit integer/ });
  await t.throwsAsync(() => writeTransaction(pg, async (trx) => {
    const stager = await makeStager(trx, 'typed', cols, 100, { typed: true });
    stager.add([1, 's', '2023-02-30', '00:00:00', 1, 1]);
    await stager.close();
  }), { message: /not a date/ });
});
