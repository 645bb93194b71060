import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import { formatError } from '../shared/errors.js';
import { kindByName } from '../shared/ingest/kinds.js';
import { loadFiles, type FileStats } from '../shared/ingest/load.js';
import { silentLogger } from '../shared/log.js';
import { makeProgress } from '../shared/progress.js';
import { driverUnderTest, freshDb, runCli } from './helpers/env.js';

const SESSIONS_HEADER = 'session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction';

function write(dir: string, name: string, lines: string[]): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, lines.join('\n') + '\n');
  return p;
}

const opts = (strict = false) => ({
  strict,
  runId: 'run-1',
  chunkRows: 3, // tiny chunks so the tests cross chunk borders
  stageChunkRows: 2,
  now: () => new Date('2026-01-01T00:00:00Z'),
  progress: (label: string, total: number) => makeProgress({ label, total, logger: silentLogger, isTTY: false, intervalMs: 1e9 }),
});

async function load(db: Knex, files: { kind: 'sessions' | 'conversions' | 'costs'; path: string }[], strict = false): Promise<FileStats[]> {
  const r = await loadFiles(db, files.map((f) => ({ kind: kindByName(f.kind), path: f.path })), opts(strict))();
  if (E.isLeft(r)) throw new Error(formatError(r.left));
  return r.right;
}

test(`every invalid row is quarantined with line, field and reason; valid rows load (${driverUnderTest()})`, async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const sessions = write(dir, 's.csv', [
      // column order differs from the table: it is free
      'user_id,session_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction',
      'u1,s1,2023-08-29,10:00:00,SEO,1,0,0',
      'u1,s2,2023-08-29,11:00:00,Direct,1,1,0',
      'u2,s3,2023-02-30,11:00:00,Direct,1,1,0', // bad_date (line 4)
      'u2,,2023-08-30,11:00:00,Direct,1,1,0', // empty_id (5)
      'u2,s4,2023-08-30,11:00,Direct,1,1,0', // bad_time (6)
      'u2,s5,2023-08-30,11:00:00,Direct,2,1,0', // bad_flag (7)
      'u2,s1,2023-08-30,11:00:00,Direct,1,1,0', // duplicate_key of line 2 (8)
      'u3,s6,2023-08-30,11:00:00,Direct,1,1', // wrong_field_count (9)
      'u3,s7,2023-08-30,11:00:00,,1,1,0', // missing_field channel (10)
      'u3,s8,2023-08-31,23:59:59,Email,0,0,1',
    ]);
    const conversions = write(dir, 'c.csv', [
      'conv_id,user_id,conv_date,conv_time,revenue',
      'c1,u1,2023-08-29,12:00:00,10.5',
      'c2,u1,2023-08-29,12:00:00,-1', // negative_value
      'c3,u1,2023-08-29,12:00:00,12 EUR', // bad_number
      'c4,u1,2023-08-29,12:00:00,', // missing_field
    ]);
    const costs = write(dir, 'k.csv', ['cost,session_id', '1.50,s1', ',s2', '-0.5,s3']);
    const stats = await load(db, [
      { kind: 'sessions', path: sessions },
      { kind: 'conversions', path: conversions },
      { kind: 'costs', path: costs },
    ]);
    t.deepEqual(
      stats.map((s) => [s.kind, s.read, s.inserted, s.quarantined]),
      [
        ['sessions', 10, 3, 7],
        ['conversions', 4, 1, 3],
        ['costs', 3, 2, 1],
      ],
    );
    const q = await db('ingest_quarantine').select('source_file', 'line', 'field', 'reason', 'record_key').orderBy('id');
    t.deepEqual(
      q.map((r) => `${path.basename(r.source_file)}:${r.line}:${r.field ?? '-'}:${r.reason}:${r.record_key ?? '-'}`).sort(),
      [
        'c.csv:3:revenue:negative_value:c2',
        'c.csv:4:revenue:bad_number:c3',
        'c.csv:5:revenue:missing_field:c4',
        'k.csv:4:cost:negative_value:s3',
        's.csv:10:channel_name:missing_field:s7',
        's.csv:4:event_date:bad_date:s3',
        's.csv:5:session_id:empty_id:-',
        's.csv:6:event_time:bad_time:s4',
        's.csv:7:holder_engagement:bad_flag:s5',
        's.csv:8:session_id:duplicate_key:s1',
        's.csv:9:-:wrong_field_count:s6',
      ].sort(),
    );
    // the first occurrence of a duplicated key wins
    t.deepEqual(await db('session_sources').select('session_id', 'user_id', 'event_date').orderBy('session_id'), [
      { session_id: 's1', user_id: 'u1', event_date: '2023-08-29' },
      { session_id: 's2', user_id: 'u1', event_date: '2023-08-29' },
      { session_id: 's8', user_id: 'u3', event_date: '2023-08-31' },
    ]);
    t.deepEqual(await db('session_costs').select().orderBy('session_id'), [
      { session_id: 's1', cost: 1.5 },
      { session_id: 's2', cost: null },
    ]);
    t.deepEqual(await db('conversions').select(), [{ conv_id: 'c1', user_id: 'u1', conv_date: '2023-08-29', conv_time: '12:00:00', revenue: 10.5 }]);
  } finally {
    await cleanup();
  }
});

test(`a first load stores the rows in key order whatever the file's order, also when a repeated key sends it through the staging table (${driverUnderTest()})`, async (t) => {
  // later lookups by key that read other columns then walk the table front to back (shared/ingest/load.ts)
  const ids = ['s5', 's2', 's9', 's1', 's7', 's3', 's8', 's4', 's6'];
  const session = (id: string) => `${id},u${id},2023-08-29,10:00:00,SEO,1,0,0`;
  const rowidOrder = async (db: Knex, table: string, key: string): Promise<string[]> =>
    ((await db.raw(`SELECT ${key} AS k FROM ${table} ORDER BY rowid`)) as Array<{ k: string }>).map((r) => r.k);
  for (const repeat of [false, true]) {
    const { db, dir, cleanup } = await freshDb();
    try {
      const sessions = write(dir, 's.csv', [SESSIONS_HEADER, ...ids.map(session), ...(repeat ? [session('s2')] : [])]);
      const conversions = write(dir, 'c.csv', ['conv_id,user_id,conv_date,conv_time,revenue', 'c3,u1,2023-08-29,12:00:00,1', 'c1,u1,2023-08-29,12:00:00,1', 'c2,u1,2023-08-29,12:00:00,1']);
      const stats = await load(db, [
        { kind: 'sessions', path: sessions },
        { kind: 'conversions', path: conversions },
      ]);
      t.deepEqual(stats.map((s) => [s.inserted, s.quarantined]), [[9, repeat ? 1 : 0], [3, 0]]);
      t.deepEqual(await rowidOrder(db, 'session_sources', 'session_id'), [...ids].sort());
      t.deepEqual(await rowidOrder(db, 'conversions', 'conv_id'), ['c1', 'c2', 'c3']);
      // the secondary indexes, dropped for the insert, are back
      const indexes = (await db.raw(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'session_sources' AND sql IS NOT NULL ORDER BY name`)) as Array<{ name: string }>;
      t.deepEqual(indexes.map((i) => i.name), ['idx_session_sources_date_channel_id_user', 'idx_session_sources_user_ts_id_channel']);
    } finally {
      await cleanup();
    }
  }
});

test('a re-load changes nothing; a changed row is counted as updated', async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const rows = ['s1,u1,2023-08-29,10:00:00,SEO,1,0,0', 's2,u1,2023-08-29,11:00:00,Direct,1,1,0', 's3,u2,2023-08-30,09:00:00,Email,0,0,0', 's4,u2,2023-08-30,09:30:00,Email,0,1,0'];
    const f = write(dir, 's.csv', [SESSIONS_HEADER, ...rows]);
    const first = await load(db, [{ kind: 'sessions', path: f }]);
    t.like(first[0], { inserted: 4, updated: 0, unchanged: 0 });
    const snapshot = await db('session_sources').select().orderBy('session_id');
    const again = await load(db, [{ kind: 'sessions', path: f }]);
    t.like(again[0], { inserted: 0, updated: 0, unchanged: 4 });
    t.deepEqual(await db('session_sources').select().orderBy('session_id'), snapshot);
    const g = write(dir, 's2.csv', [SESSIONS_HEADER, rows[0]!.replace('SEO', 'Paid Search'), 's9,u9,2023-09-01,00:00:00,Email,0,0,0']);
    const changed = await load(db, [{ kind: 'sessions', path: g }]);
    t.like(changed[0], { inserted: 1, updated: 1, unchanged: 0 });
    t.is((await db('session_sources').where({ session_id: 's1' }).first()).channel_name, 'Paid Search');
    t.is((await db('session_sources').count({ n: '*' }))[0]!['n'] as number, 5);
  } finally {
    await cleanup();
  }
});

test('--strict loads nothing when any row is invalid', async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const good = write(dir, 'c.csv', ['conv_id,user_id,conv_date,conv_time,revenue', 'c1,u1,2023-08-29,12:00:00,10']);
    const bad = write(dir, 's.csv', [SESSIONS_HEADER, 's1,u1,2023-08-29,10:00:00,SEO,1,0,0', 's2,u1,2023-13-01,10:00:00,SEO,1,0,0']);
    const r = await loadFiles(db, [{ kind: kindByName('conversions'), path: good }, { kind: kindByName('sessions'), path: bad }], opts(true))();
    if (E.isRight(r)) return t.fail('strict load succeeded');
    t.regex(formatError(r.left), /--strict: 1 invalid row\(s\), so nothing was loaded/);
    t.regex(formatError(r.left), /s\.csv, line 3, field "event_date": bad_date/);
    for (const table of ['conversions', 'session_sources', 'ingest_quarantine']) t.is((await db(table).count({ n: '*' }))[0]!['n'] as number, 0, table);
  } finally {
    await cleanup();
  }
});

test('a file of the wrong kind stops before anything is written, naming file and columns', async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const sessions = write(dir, 's.csv', [SESSIONS_HEADER, 's1,u1,2023-08-29,10:00:00,SEO,1,0,0']);
    const r = await loadFiles(db, [{ kind: kindByName('sessions'), path: sessions }, { kind: kindByName('costs'), path: sessions }], opts())();
    if (E.isRight(r)) return t.fail('wrong header accepted');
    t.is(r.left._tag, 'InputError');
    t.regex(formatError(r.left), /s\.csv, line 1: this is not a costs CSV .*missing column\(s\): cost; unknown column\(s\): user_id/);
    t.is((await db('session_sources').count({ n: '*' }))[0]!['n'] as number, 0);
  } finally {
    await cleanup();
  }
});

test('a malformed CSV in the middle of a load rolls back every file', async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const good = write(dir, 'c.csv', ['conv_id,user_id,conv_date,conv_time,revenue', 'c1,u1,2023-08-29,12:00:00,10']);
    const broken = write(dir, 'k.csv', ['session_id,cost', 's1,1', '"s2,2', 's3,3']);
    const r = await loadFiles(db, [{ kind: kindByName('conversions'), path: good }, { kind: kindByName('costs'), path: broken }], opts())();
    if (E.isRight(r)) return t.fail('broken CSV accepted');
    t.regex(formatError(r.left), /k\.csv: the CSV cannot be parsed/);
    t.is((await db('conversions').count({ n: '*' }))[0]!['n'] as number, 0);
  } finally {
    await cleanup();
  }
});

test('load as a command: summary by reason, exit 4 for a missing file, exit 2 with nothing to load', async (t) => {
  const { dir, url, cleanup } = await freshDb();
  try {
    write(dir, 'session_sources.csv', [SESSIONS_HEADER, 's1,u1,2023-08-29,10:00:00,SEO,1,0,0', 's2,u1,2023-08-29,10:00:00,SEO,1,0,x']);
    write(dir, 'conversions.csv', ['conv_id,user_id,conv_date,conv_time,revenue', 'c1,u1,2023-08-29,12:00:00,10']);
    write(dir, 'session_costs.csv', ['session_id,cost', 's1,0.5']);
    const ok = await runCli('load', ['--dir', dir], { DATABASE_URL: url });
    t.is(ok.code, 0, ok.stderr);
    t.regex(ok.stdout, /^load: 3 file\(s\): 4 rows read, 3 inserted, 0 updated, 0 unchanged, 1 quarantined \(bad_flag 1\)$/m);
    const missing = await runCli('load', ['--costs', path.join(dir, 'nope.csv')], { DATABASE_URL: url });
    t.is(missing.code, 4);
    t.regex(missing.stderr, /nope\.csv: file not found/);
    const nothing = await runCli('load', [], { DATABASE_URL: url });
    t.is(nothing.code, 2);
    t.regex(nothing.stderr, /nothing to load/);
  } finally {
    await cleanup();
  }
});

function writeBytes(dir: string, name: string, parts: (string | Buffer)[]): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8') : x))));
  return p;
}

test(`invalid UTF-8 and control characters are quarantined with reasons of their own, never stored (${driverUnderTest()})`, async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const row = (id: string | Buffer, channel: string | Buffer = 'SEO') => [id, ',u1,2023-08-29,10:00:00,', channel, ',1,0,0\n'];
    const f = writeBytes(dir, 's.csv', [
      SESSIONS_HEADER + '\n',
      ...row(Buffer.from([0x78, 0xff])), // line 2: x\xff
      ...row(Buffer.from([0x78, 0xfd])), // line 3: x\xfd, which decoding would make equal to line 2
      ...row('ok\u00e9'), // line 4: valid UTF-8 stays as it is
      ...row('s\u0000nul'), // line 5: NUL in an id
      ...row('s5', 'Paid\u0001Search'), // line 6: control character in a name
      ...row('"s6"', '"two\nlines"'), // lines 7-8: a line break inside quotes is a control character too
      ...row('s7'), // line 9
    ]);
    const [s] = await load(db, [{ kind: 'sessions', path: f }]);
    t.like(s, { read: 7, inserted: 2, quarantined: 5 });
    const q = await db('ingest_quarantine').select('line', 'field', 'reason', 'record_key', 'detail').orderBy('line');
    t.deepEqual(
      q.map((r) => `${r.line}:${r.field}:${r.reason}:${r.record_key}`),
      ['2:session_id:bad_encoding:x\\xff', '3:session_id:bad_encoding:x\\xfd', '5:session_id:control_character:s\\x00nul', '6:channel_name:control_character:s5', '8:channel_name:control_character:s6'],
    );
    t.regex(q[0]!.detail, /not valid UTF-8/);
    t.deepEqual((await db('session_sources').select('session_id').orderBy('session_id')).map((r) => r.session_id), ['ok\u00e9', 's7']);
  } finally {
    await cleanup();
  }
});

test('amounts beyond the documented range are quarantined; the largest accepted one loads', async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const c = write(dir, 'c.csv', ['conv_id,user_id,conv_date,conv_time,revenue', 'c1,u1,2023-08-29,12:00:00,1e308', 'c2,u1,2023-08-29,12:00:00,1000000000', 'c3,u1,2023-08-29,12:00:00,1e999', 'c4,u1,2023-08-29,12:00:00,1000000000.01']);
    const k = write(dir, 'k.csv', ['session_id,cost', 's1,1e10', 's2,0.25']);
    const stats = await load(db, [{ kind: 'conversions', path: c }, { kind: 'costs', path: k }]);
    t.deepEqual(stats.map((s) => [s.inserted, s.quarantined, s.byReason]), [[1, 3, { amount_out_of_range: 3 }], [1, 1, { amount_out_of_range: 1 }]]);
    t.deepEqual((await db('conversions').select('conv_id', 'revenue')), [{ conv_id: 'c2', revenue: 1e9 }]);
    const q = await db('ingest_quarantine').select('line', 'field', 'detail').where({ table_name: 'conversions' }).orderBy('line');
    t.deepEqual(q.map((r) => `${r.line}:${r.field}`), ['2:revenue', '4:revenue', '5:revenue']);
    t.regex(q[0]!.detail, /1e308 is above the largest amount accepted, 1,000,000,000/);
  } finally {
    await cleanup();
  }
});

test('mixed line endings keep every row apart, with right line numbers and counts', async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const f = writeBytes(dir, 's.csv', [
      SESSIONS_HEADER + '\r\n',
      's1,u1,2023-08-29,10:00:00,SEO,1,0,0\n', // line 2
      's2,u1,2023-08-29,10:00:00,SEO,1,0,0\r', // line 3 (a lone CR)
      's3,u1,2023-08-29,10:00:00,SEO,1,0,9\r\n', // line 4: bad flag
      '\n', // line 5: empty
      's4,u1,2023-08-29,10:00:00,SEO,1,0,0', // line 6, no final line break
    ]);
    const [s] = await load(db, [{ kind: 'sessions', path: f }]);
    t.like(s, { read: 4, inserted: 3, quarantined: 1 });
    t.deepEqual(await db('ingest_quarantine').select('line', 'reason'), [{ line: 4, reason: 'bad_flag' }]);
    t.deepEqual((await db('session_sources').select('session_id').orderBy('session_id')).map((r) => r.session_id), ['s1', 's2', 's4']);
  } finally {
    await cleanup();
  }
});

test('a 10 MB id is quarantined as field_too_long; the rows around it load', async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    const f = writeBytes(dir, 'k.csv', ['session_id,cost\n', 's1,1\n', 'x'.repeat(10 * 1024 * 1024), ',2\n', 's3,3\n']);
    const [s] = await load(db, [{ kind: 'costs', path: f }]);
    t.like(s, { read: 3, inserted: 2, quarantined: 1 });
    const [q] = await db('ingest_quarantine').select('line', 'field', 'reason', 'detail', 'raw');
    t.like(q, { line: 3, field: 'session_id', reason: 'field_too_long' });
    t.regex(q.detail, /10,485,760 bytes, more than the limit of 1,024/);
    t.true(q.raw.length < 500, 'the quarantine keeps a stand-in, not the 10 MB');
  } finally {
    await cleanup();
  }
});

test('ids and channel names keep the whitespace a quoted field gives them: " x" and "x" are two sessions, never one', async (t) => {
  const env = await freshDb();
  t.teardown(() => env.cleanup());
  const file = path.join(env.dir, 'session_sources.csv');
  fs.writeFileSync(
    file,
    'session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction\n' +
      'x,u1,2023-09-01,10:00:00,SEO,0,0,0\n' +
      '" x",u1, 2023-09-01 ,10:00:01,"SEO\u00a0",0,0,0\n',
  );
  const r = await runCli('load', ['--sessions', file], { DATABASE_URL: env.url });
  t.is(r.code, 0, r.stderr);
  const rows = (await env.db('session_sources').select('session_id', 'event_date', 'channel_name').orderBy('session_id')) as Array<Record<string, string>>;
  t.deepEqual(rows, [
    { session_id: ' x', event_date: '2023-09-01', channel_name: 'SEO\u00a0' },
    { session_id: 'x', event_date: '2023-09-01', channel_name: 'SEO' },
  ]);
});

test(`an adopted table without its primary key never gets a file's repeated key stored twice (${driverUnderTest()})`, async (t) => {
  const { db, dir, cleanup } = await freshDb();
  try {
    await db.schema.dropTable('session_costs');
    await db.raw('CREATE TABLE session_costs (session_id TEXT, cost REAL)');
    const costs = write(dir, 'k.csv', ['session_id,cost', 's1,1.5', 's2,2', 's1,3']);
    // the upsert needs the key: the load stops and changes nothing (an empty table must not take the fast path,
    // which finds repeats through the key)
    await t.throwsAsync(load(db, [{ kind: 'costs', path: costs }]), { message: /nothing was changed/ });
    t.deepEqual(await db('session_costs').select('session_id'), []);
  } finally {
    await cleanup();
  }
});
