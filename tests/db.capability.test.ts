import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import * as io from 'io-ts';
import type { Knex } from 'knex';
import { makeDb } from '../shared/db/connect.js';
import { dbOver, DbBit, DbNumber, DbNumberOrNull, DbSum, makeDbCapability, MissingDatabase, type Db } from '../shared/db/db.js';
import { migrate } from '../shared/db/migrate.js';
import { EXIT_CODES, formatError, schemaError, type AppError } from '../shared/errors.js';
import { freshDb, tempDir, testConfig } from './helpers/env.js';
import { otherProcessWrites } from './helpers/writer.js';

/**
 * The Db capability on real databases: a SQLite file with the driver under test, and PostgreSQL when
 * TEST_POSTGRES_URL is set (scripts/with-postgres.sh). Every failure must come back as the AppError whose exit
 * code the README gives, in words that name what was being read.
 */

const pgUrl = process.env['TEST_POSTGRES_URL'];
const pgTest = pgUrl !== undefined && pgUrl !== '' ? test : test.skip;

async function left<A>(t: ExecutionContext, te: TE.TaskEither<AppError, A>): Promise<AppError> {
  const r = await te();
  if (E.isRight(r)) return t.fail(`expected a Left, got ${JSON.stringify(r.right)}`) as never;
  return r.left;
}

async function right<A>(t: ExecutionContext, te: TE.TaskEither<AppError, A>): Promise<A> {
  const r = await te();
  if (E.isLeft(r)) return t.fail(`expected a Right, got ${formatError(r.left)}`) as never;
  return r.right;
}

const Row = io.type({ id: io.string, revenue: DbNumber, cost: DbNumberOrNull, flag: DbBit, total: DbSum });

/** The same behaviour on both databases: `db` has the migrated schema. */
async function behaves(t: ExecutionContext, db: Db): Promise<void> {
  t.is(await right(t, db.exec('emptying', "DELETE FROM conversion_types WHERE name LIKE 'cap-%'")), 0);
  const inserted = await right(
    t,
    db.exec('adding two types', "INSERT INTO conversion_types (name, params, source, created_at) VALUES ('cap-a', '{}', 's', 'x'), ('cap-b', '{}', 's', 'x')"),
  );
  t.is(inserted, 2, 'exec gives the number of rows changed');
  t.is(await right(t, db.exec('renaming one', (k) => k('conversion_types').where('name', 'cap-a').update({ source: 't' }))), 1);

  // numbers as each database gives them: a numeric string (a text column), NULL, a SUM over no rows
  const rows = await right(
    t,
    db.select(
      'reading the test row',
      Row,
      "SELECT 'x' AS id, '12.5' AS revenue, NULL AS cost, 1 AS flag, (SELECT SUM(session_count) FROM journeys WHERE conv_id = 'none') AS total",
    ),
  );
  t.deepEqual(rows, [{ id: 'x', revenue: 12.5, cost: null, flag: 1, total: 0 }]);
  const built = await right(t, db.select('reading the types', io.type({ name: io.string }), (k) => k('conversion_types').select('name').where('name', 'like', 'cap-%').orderBy('name')));
  t.deepEqual(built, [{ name: 'cap-a' }, { name: 'cap-b' }]);

  // a value the code cannot read names the query's purpose, the row and the field; exit 5, no retry helps
  const bad = await left(t, db.select('reading the channel totals', Row, "SELECT 'x' AS id, 'abc' AS revenue, NULL AS cost, 1 AS flag, 0 AS total"));
  t.is(bad._tag, 'SchemaError');
  t.regex(formatError(bad), /^reading the channel totals: row 1 holds a value this version cannot read\n {2}- revenue: expected a number, got "abc"/);

  // a missing table: the schema's exit code and the command that fixes it, not the driver's words and SQL
  const missing = await left(t, db.select('reading the journeys', io.unknown, 'SELECT * FROM no_such_table'));
  t.is(missing._tag, 'SchemaError');
  t.is(formatError(missing), 'reading the journeys: table no_such_table does not exist\n  - table no_such_table is missing: run setup-db (make task-setup-db) first');

  // any other driver error: exit 6, named by purpose
  const syntax = await left(t, db.exec('writing nonsense', 'INSERT INTO conversion_types (nope) VALUES (1)'));
  t.is(syntax._tag, 'DatabaseError');
  t.regex(syntax.message, /^writing nonsense: /);

  // a Left from the work rolls the transaction back and comes out unchanged; a driver error inside rolls back too
  const refusal = schemaError('refused on purpose', []);
  const rolled = await left(
    t,
    db.transaction('replacing the types', (tx) =>
      TE.chain(() => TE.left<AppError, number>(refusal))(tx.exec('removing', "DELETE FROM conversion_types WHERE name LIKE 'cap-%'")),
    ),
  );
  t.is(rolled, refusal);
  const failed = await left(
    t,
    db.transaction('replacing the types', (tx) =>
      TE.chain(() => tx.exec('breaking', 'INSERT INTO conversion_types (name) VALUES (NULL)'))(tx.exec('removing', "DELETE FROM conversion_types WHERE name LIKE 'cap-%'")),
    ),
  );
  t.is(failed._tag, 'DatabaseError');
  t.regex(failed.message, /^breaking: .*not[- ]null/i, 'the failing statement names itself');
  const kept = await right(t, db.select('counting', io.type({ n: DbNumber }), "SELECT count(*) AS n FROM conversion_types WHERE name LIKE 'cap-%'"));
  t.deepEqual(kept, [{ n: 2 }], 'both transactions were rolled back');
  const committed = await right(
    t,
    db.transaction('replacing the types', (tx) => tx.exec('removing', "DELETE FROM conversion_types WHERE name LIKE 'cap-%'")),
  );
  t.is(committed, 2);
}

test('select decodes, exec counts, transaction rolls back on a Left, and driver errors become AppErrors (SQLite file)', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await behaves(t, dbOver(env.db));
});

pgTest('the same on PostgreSQL', async (t) => {
  const config = testConfig(pgUrl!, tempDir());
  const k = makeDb(config.database);
  t.teardown(() => k.destroy());
  const m = await migrate(k)();
  if (E.isLeft(m)) return t.fail(formatError(m.left));
  await behaves(t, dbOver(k));
});

/** a TCP port on 127.0.0.1 that was free a moment ago */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

pgTest('a PostgreSQL server that refuses the connection is a database error naming the server, without the password', async (t) => {
  // a port nothing listens on: one the system just handed out and took back (the test server's port + 1 was
  // assumed free, and was not when another throwaway server ran beside this one)
  const port = await freePort();
  const refused = `postgres://someone:secret-pw@127.0.0.1:${port}/nowhere`;
  const k = makeDb(testConfig(refused, tempDir()).database);
  t.teardown(() => k.destroy());
  const e = await left(t, dbOver(k).select('reading the journeys', io.unknown, 'SELECT 1'));
  t.is(e._tag, 'DatabaseError');
  t.is(EXIT_CODES[e._tag], 6);
  t.regex(e.message, new RegExp(`^reading the journeys: cannot open the PostgreSQL 127\\.0\\.0\\.1:${port}/nowhere: .*ECONNREFUSED`));
  t.notRegex(e.message, /secret-pw/);
});

test('a writer that cannot get the lock within busy_timeout_ms is a database error that says so (a real second writer process)', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  const impatient: Knex = makeDb({ ...env.config.database, busy_timeout_ms: 100 });
  t.teardown(() => impatient.destroy());
  await impatient.raw('SELECT 1');
  const first = await otherProcessWrites(env.url, 800);
  const db = dbOver(impatient);
  const e = await left(t, db.transaction('writing the window', (tx) => tx.exec('adding a type', "INSERT INTO conversion_types (name, params, source, created_at) VALUES ('b', '{}', 's', 'x')")));
  t.is(await first.done, 0);
  t.is(e._tag, 'DatabaseError');
  t.regex(e.message, /^writing the window: the database is locked: another task kept writing to it for longer than database\.busy_timeout_ms/);
  t.notRegex(e.message, /insert|BEGIN|conversion_types/i);
  // the other process's row is there, ours is not: nothing was half-written
  t.deepEqual(await right(t, db.select('reading the types', io.type({ name: io.string }), 'SELECT name FROM conversion_types ORDER BY name')), [{ name: 'a' }]);
});

test('a database that does not exist is the schema exit code naming the file, before any query', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'missing.db');
  const db = makeDbCapability(() => {
    throw new MissingDatabase(file);
  }, 'sqlite');
  const e = await left(t, db.select('reading the journeys', io.unknown, 'SELECT 1'));
  t.is(e._tag, 'SchemaError');
  t.is(e.message, `the database ${file} does not exist: run setup-db (make task-setup-db) first, or check DATABASE_URL / database.url`);
  t.false(fs.existsSync(file));
});
