import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import knex, { type Knex } from 'knex';
import { makeDb } from '../shared/db/connect.js';
import { migrate } from '../shared/db/migrate.js';
import { formatError } from '../shared/errors.js';
import { kindByName } from '../shared/ingest/kinds.js';
import { loadFiles, type FileStats } from '../shared/ingest/load.js';
import { silentLogger } from '../shared/log.js';
import { makeProgress } from '../shared/progress.js';
import { freshDb, tempDir, testConfig } from './helpers/env.js';

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
