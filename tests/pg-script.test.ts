import test from 'ava';
import knex from 'knex';
import { pgArray, pgLiteral, runPgScript } from '../shared/db/pg-script.js';

/**
 * shared/db/pg-script.ts on the throwaway PostgreSQL (TEST_POSTGRES_URL): values written into the SQL text come
 * back as they went in, and a script is one transaction.
 */
const url = process.env['TEST_POSTGRES_URL'];
const pgTest = url !== undefined && url !== '' ? test.serial : test.serial.skip;

const awkward = ["it's", 'back\\slash', 'dq "x"', 'q?mark $1 :name', 'end\\', "''", '', 'ünï 😀', 'line\nbreak', '{,}', 'NULL'];
const edgeFloats = [0, -0.5, 1 / 3, 0.1 + 0.2, 1e-300, 5e-324, 1.7976931348623157e308, 123456789.12345679, -1e21, 2 ** 53 + 2];
// one float per awkward string, every edge value among them
const floats = awkward.map((_, i) => edgeFloats[i % edgeFloats.length]!);

pgTest('values written into a script come back unchanged: literals, text and float arrays', async (t) => {
  const db = knex({ client: 'pg', connection: url!, pool: { min: 0, max: 2 } });
  try {
    await db.raw('DROP TABLE IF EXISTS pg_script_t');
    await db.raw('CREATE TABLE pg_script_t (k int, s text, f float8)');
    await runPgScript(db, [
      `INSERT INTO pg_script_t VALUES ${awkward.map((s, i) => `(${pgLiteral(i)}, ${pgLiteral(s)}, NULL)`).join(', ')}, (${pgLiteral(99)}, ${pgLiteral(null)}, ${pgLiteral(0.1 + 0.2)})`,
      `INSERT INTO pg_script_t SELECT 100 + i, s, f FROM unnest(${pgArray(awkward, 'text')}, ${pgArray(floats, 'float8')}) WITH ORDINALITY AS u(s, f, i)`,
      `INSERT INTO pg_script_t SELECT k, NULL, NULL FROM unnest(${pgArray([-2147483648, -1, 2147483647], 'int4')}) AS k`,
    ]);
    const rows = (await db('pg_script_t').select('k', 's', 'f').orderBy('k')) as Array<{ k: number; s: string | null; f: number | null }>;
    t.deepEqual(
      rows.filter((r) => r.k >= 0 && r.k < 99).map((r) => r.s),
      awkward,
    );
    t.deepEqual(rows.find((r) => r.k === 99), { k: 99, s: null, f: 0.1 + 0.2 });
    const fromArrays = rows.filter((r) => r.k > 100 && r.k < 1000);
    t.deepEqual(
      fromArrays.map((r) => r.s),
      awkward,
    );
    t.deepEqual(
      fromArrays.map((r) => r.f),
      floats,
    );
    t.deepEqual(
      rows.filter((r) => r.k < 0 || r.k > 1000).map((r) => r.k).sort((a, b) => a - b),
      [-2147483648, -1, 2147483647],
    );
    t.throws(() => pgLiteral(Number.NaN));
    t.throws(() => pgArray([1, Number.POSITIVE_INFINITY], 'float8'));
  } finally {
    await db.raw('DROP TABLE IF EXISTS pg_script_t');
    await db.destroy();
  }
});

pgTest('a script is one transaction: a failing statement undoes the ones before it, and the connection stays usable', async (t) => {
  // one connection: the failed script's connection is the one the next statements get
  const db = knex({ client: 'pg', connection: url!, pool: { min: 0, max: 1 } });
  try {
    await db.raw('DROP TABLE IF EXISTS pg_script_t');
    await db.raw('CREATE TABLE pg_script_t (k int PRIMARY KEY)');
    await t.throwsAsync(() => runPgScript(db, ['INSERT INTO pg_script_t VALUES (1)', 'INSERT INTO pg_script_t VALUES (2)', 'INSERT INTO pg_script_t VALUES (1)']), {
      message: /duplicate key/,
    });
    t.deepEqual(await db('pg_script_t').pluck('k'), []);
    await runPgScript(db, ['INSERT INTO pg_script_t VALUES (1)', 'INSERT INTO pg_script_t VALUES (2)']);
    t.deepEqual((await db('pg_script_t').pluck('k')).sort(), [1, 2]);
  } finally {
    await db.raw('DROP TABLE IF EXISTS pg_script_t');
    await db.destroy();
  }
});
