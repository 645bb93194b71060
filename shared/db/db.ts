import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import * as t from 'io-ts';
import type { Knex } from 'knex';
import { describeErrors } from '../codecs/report.js';
import { databaseError, internal, schemaError, type AppError } from '../errors.js';
import { dialectOf, sqliteDriverOf, writeTransaction, type Dialect } from './connect.js';

/**
 * The database as programs see it: every read decodes its rows with a codec, every call returns a TaskEither,
 * and a driver's error becomes an AppError here, once (the README's exit codes), instead of in each program.
 * The knex handle stays reachable (`knex()`, `run`) for what has no row shape: migrations, the bulk loader.
 */

/** Raw SQL with `?` bindings, or a knex builder made from the handle (the transaction's, inside one). */
export type Query = string | ((k: Knex) => Knex.QueryBuilder | Knex.Raw);

export interface Db {
  readonly dialect: Dialect;
  /** the rows of a SELECT, each decoded by `codec`; `what` says what the rows are for, in the error a user reads */
  select<A>(what: string, codec: t.Decoder<unknown, A>, query: Query, bindings?: readonly unknown[]): TE.TaskEither<AppError, A[]>;
  /** INSERT/UPDATE/DELETE or DDL; the number of rows changed where the driver says it (0 otherwise) */
  exec(what: string, query: Query, bindings?: readonly unknown[]): TE.TaskEither<AppError, number>;
  /**
   * One write transaction (shared/db/connect.ts' writeTransaction: BEGIN IMMEDIATE on SQLite). A Left from
   * `work` rolls it back and is returned as is.
   */
  transaction<A>(what: string, work: (tx: Db) => TE.TaskEither<AppError, A>): TE.TaskEither<AppError, A>;
  /** The raw handle, for code written against knex; its errors are mapped like the others'. */
  run<A>(what: string, work: (k: Knex) => Promise<A>): TE.TaskEither<AppError, A>;
  /** The raw handle itself (opened on first use; throws when the database cannot be opened). */
  knex(): Knex;
}

/**
 * Thrown by an `open` that finds no database (SQLite file missing): a user error with its own exit code (5),
 * not a driver failure. runTask reports it the same way when raw knex code meets it.
 */
export class MissingDatabase extends Error {
  constructor(file: string) {
    super(`the database ${file} does not exist: run setup-db (make task-setup-db) first, or check DATABASE_URL / database.url`);
  }
}

/**
 * An AppError carried through code that only knows exceptions (async generators, knex callbacks), and turned
 * back into the same value by `dbError`.
 */
export class DbFailure extends Error {
  constructor(readonly error: AppError) {
    super(error.message);
  }
}

/** Rows of a raw SELECT: SQLite drivers give an array, pg gives `{ rows }`. */
export function rowsOfResult(r: unknown): unknown[] {
  if (Array.isArray(r)) return r;
  if (typeof r === 'object' && r !== null && Array.isArray((r as { rows?: unknown }).rows)) return (r as { rows: unknown[] }).rows;
  return [];
}

/** Changed rows of a raw write: pg's rowCount, node-sqlite3's / better-sqlite3's changes (knex gives numbers for builders). */
function changedOf(r: unknown): number {
  if (typeof r === 'number') return r;
  if (Array.isArray(r)) return r.length;
  if (typeof r === 'object' && r !== null) {
    const o = r as { rowCount?: unknown; changes?: unknown };
    if (typeof o.rowCount === 'number') return o.rowCount;
    if (typeof o.changes === 'number') return o.changes;
  }
  return 0;
}

const missingTable = (cause: unknown): string | undefined => {
  const e = cause as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  // PostgreSQL: undefined_table; SQLite: both drivers say it in words only (code SQLITE_ERROR)
  if (e?.code === '42P01') return /relation "([^"]+)" does not exist/.exec(message)?.[1] ?? 'a table';
  return /no such table: (\S+)/.exec(message)?.[1];
};

/**
 * The one mapping from what a driver throws to an AppError: a missing database or table is the schema's
 * business (run setup-db, exit 5); a lock, a refused connection and any other driver error a database error
 * (exit 6; errors.ts' databaseError words the lock and drops credentials); a JavaScript error thrown by the
 * code around the query is a bug (exit 1).
 */
export function dbError(what: string, cause: unknown): AppError {
  if (cause instanceof DbFailure) return cause.error;
  if (cause instanceof MissingDatabase) return schemaError(cause.message, []);
  const table = missingTable(cause);
  if (table !== undefined) {
    return schemaError(`${what}: table ${table} does not exist`, [`table ${table} is missing: run setup-db (make task-setup-db) first`]);
  }
  if (cause instanceof TypeError || cause instanceof RangeError || cause instanceof ReferenceError) return internal(`${what}: ${cause.message}`);
  return databaseError(what, cause);
}

/** Decodes every row, naming the first bad one: "reading the window's journeys: row 3: revenue: expected ..." */
function decodeRows<A>(what: string, codec: t.Decoder<unknown, A>, rows: readonly unknown[]): E.Either<AppError, A[]> {
  const out: A[] = new Array<A>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const d = codec.decode(rows[i]);
    if (E.isLeft(d)) {
      // a stored value this version cannot read: deterministic, so the schema's exit code (no retry helps)
      return E.left(schemaError(`${what}: row ${i + 1} holds a value this version cannot read`, describeErrors(d.left)));
    }
    out[i] = d.right;
  }
  return E.right(out);
}

const isNodeSqlite3 = (k: Knex): boolean => sqliteDriverOf(k) === 'sqlite3';

interface NodeSqlite3Connection {
  run(sql: string, bindings: readonly unknown[], cb: (this: { changes: number }, err: Error | null) => void): void;
}

/**
 * knex runs raw SQL on node-sqlite3 with `all`, which drops the statement's change count; the driver's `run`
 * keeps it. Inside a transaction the client hands out the transaction's connection, so this stays inside it.
 */
async function runCounting(k: Knex, sql: string, bindings: readonly unknown[]): Promise<number> {
  const native = k.raw(sql, bindings as Knex.RawBinding[]).toSQL().toNative();
  const client = k.client as { acquireConnection(): Promise<NodeSqlite3Connection>; releaseConnection(c: NodeSqlite3Connection): Promise<void> };
  const conn = await client.acquireConnection();
  try {
    return await new Promise<number>((resolve, reject) =>
      conn.run(native.sql, native.bindings, function (err) {
        if (err !== null) reject(err);
        else resolve(this.changes);
      }),
    );
  } finally {
    await client.releaseConnection(conn);
  }
}

const build = (k: Knex, query: Query, bindings: readonly unknown[]): Knex.QueryBuilder | Knex.Raw =>
  typeof query === 'string' ? k.raw(query, bindings as Knex.RawBinding[]) : query(k);

/** Rolls a transaction back with the Left of its work, which comes out as the same value. */
class Rollback extends Error {
  constructor(readonly error: AppError) {
    super(error.message);
  }
}

/**
 * A Db over a knex handle that `open` returns (and may open on first use). `dialect` is known before opening
 * (from the configured target), so asking it never opens the database.
 */
export function makeDbCapability(open: () => Knex, dialect: Dialect): Db {
  const run = <A>(what: string, work: (k: Knex) => Promise<A>): TE.TaskEither<AppError, A> =>
    TE.tryCatch(
      async () => work(open()),
      (e) => dbError(what, e),
    );
  const db: Db = {
    dialect,
    knex: open,
    run,
    select: (what, codec, query, bindings = []) =>
      TE.chainEitherK((rows: unknown[]) => decodeRows(what, codec, rows))(
        run(what, async (k) => rowsOfResult(await build(k, query, bindings))),
      ),
    exec: (what, query, bindings = []) =>
      run(what, async (k) => (typeof query === 'string' && isNodeSqlite3(k) ? runCounting(k, query, bindings) : changedOf(await build(k, query, bindings)))),
    transaction: (what, work) =>
      TE.tryCatch(
        () =>
          writeTransaction(open(), async (trx) => {
            const r = await work(dbOver(trx))();
            if (E.isLeft(r)) throw new Rollback(r.left);
            return r.right;
          }),
        (e) => (e instanceof Rollback ? e.error : dbError(what, e)),
      ),
  };
  return db;
}

/** A Db over an open handle or a transaction. */
export function dbOver(k: Knex): Db {
  return makeDbCapability(() => k, dialectOf(k));
}

/** Runs a TaskEither where only a promise fits (a generator's loop, a knex callback): a Left is thrown as DbFailure. */
export async function orThrow<A>(te: TE.TaskEither<AppError, A>): Promise<A> {
  const r = await te();
  if (E.isLeft(r)) throw new DbFailure(r.left);
  return r.right;
}

// Codecs for what SQLite and PostgreSQL really return. PostgreSQL's numeric and bigint arrive as numbers
// (connect.ts' type parsers) but SQLite hands back what was stored, and drivers differ on text-typed numbers.

const isNumeric = (s: string): boolean => s.trim() !== '' && Number.isFinite(Number(s));

/** A number, or a string holding one. */
export const DbNumber = new t.Type<number, number, unknown>(
  'a number',
  // NaN is refused by `validate`, so not a number here either (isFirst relies on `is` meaning "decodes to itself")
  (u): u is number => typeof u === 'number' && !Number.isNaN(u),
  (u, c) =>
    typeof u === 'number' && !Number.isNaN(u) ? t.success(u) : typeof u === 'string' && isNumeric(u) ? t.success(Number(u)) : t.failure(u, c),
  (n) => n,
);

/** A nullable column or an expression that can be NULL. */
export const DbNumberOrNull = t.union([DbNumber, t.null], 'a number or null');

/** SUM/TOTAL/MAX over no rows is NULL in SQL; for a total that means 0. */
export const DbSum = new t.Type<number, number, unknown>(
  'a number or null (no rows)',
  (u): u is number => DbNumber.is(u),
  (u, c) => (u === null || u === undefined ? t.success(0) : DbNumber.validate(u, c)),
  (n) => n,
);

/** A 0/1 flag column (integer on both databases, but a text copy or a boolean expression may say it differently). */
export const DbBit = new t.Type<0 | 1, number, unknown>(
  '0 or 1',
  (u): u is 0 | 1 => u === 0 || u === 1,
  (u, c) => {
    const n = typeof u === 'boolean' ? Number(u) : typeof u === 'number' ? u : typeof u === 'string' && isNumeric(u) ? Number(u) : NaN;
    return n === 0 || n === 1 ? t.success(n) : t.failure(u, c);
  },
  (n) => n,
);

/** Text columns (dates and times are text on both databases: see connect.ts' type parsers). */
export const DbText = t.string;

/** A count row: `SELECT count(*) AS n`. */
export const CountRow = t.type({ n: DbNumber }, 'a count');
