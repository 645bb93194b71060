import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { databaseError, schemaError, type AppError } from '../errors.js';
import { compareSchema, readLiveSchema, type SchemaReport } from './check.js';
import { dialectOf } from './connect.js';
import { withSqlitePragmas } from './pragmas.js';
import { dbError, type Db } from './db.js';
import { deferIndexes } from './deferred-indexes.js';
import { MIGRATIONS, migrationSource } from './migrations/index.js';
import { expectedSchema } from './schema.js';

export interface MigrateResult {
  readonly applied: readonly string[];
  /** the challenge tables were already there without migration history: adopted, data untouched */
  readonly adopted: readonly string[];
}

const CHALLENGE = ['session_sources', 'conversions', 'session_costs', 'attribution_customer_journey', 'channel_reporting'];

/**
 * SQLite's page cache while migrating, KiB: SQLite's own default, where better-sqlite3 sets 16 MB. The migrations'
 * heavy statements on an adopted database are sorts (the copies of 009 and 011 in key order, the index builds),
 * and SQLite's sorter sorts runs as large as the page cache in memory, as linked lists, before merging them: a
 * 16 MB run misses the CPU caches at every step of its sort, a 2 MB one much less. The page cache itself buys those
 * statements nothing (they append to new B-trees and scan). At scale 10 (580,721 sessions) the adoption's copies,
 * index builds and commit took 6.31 CPU s against 6.91 (five alternating runs each), peak RSS 57 MB against 86.
 */
const MIGRATION_CACHE_KIB = 2000;

/**
 * SQLite: `work` under a rollback journal instead of the write-ahead log, then back in WAL mode (as every connection
 * opens it). Adopting rewrites the user's tables into new pages (009's and 011's copies and the index builds: 410 MB
 * at scale 10); under WAL each of those pages is written to the log, looked up there by every later read in the
 * batch, and written again when the commit's checkpoint copies it into the database. A rollback journal holds only
 * the former content of pages the batch overwrites (none for pages past the file's former end), and a killed batch is
 * rolled back from it by whoever opens the database next, as a WAL batch is discarded: the database stays as it was.
 * At scale 10 the adoption's copies, index builds and commit took 4.89 CPU s against 6.76 (three alternating runs).
 * synchronous = FULL meanwhile, as SQLite advises for a rollback journal that must survive a power cut. SQLite
 * leaves WAL only when no other connection has the database open; otherwise the batch runs under WAL as before.
 * A process that opens the database during the batch waits for its end (busy_timeout) instead of reading the
 * tables as they were: the batch holds the database's exclusive lock once it writes pages out.
 */
async function outsideWal<T>(db: Knex, work: () => Promise<T>): Promise<T> {
  const pragma = async (p: string): Promise<unknown> => Object.values(((await db.raw(`PRAGMA ${p}`)) as Array<Record<string, unknown>>)[0] ?? {})[0];
  const sync = await pragma('synchronous');
  const left = await pragma('journal_mode = DELETE').then((m) => m === 'delete', () => false);
  if (!left) return work();
  await pragma('synchronous = FULL');
  try {
    return await work();
  } finally {
    await pragma(`synchronous = ${Number(sync)}`);
    // every connection switches to WAL when it opens (connect.ts): one that another holds back now gets it from there
    await pragma('journal_mode = WAL').catch(() => undefined);
  }
}

export function migrate(db: Knex): TE.TaskEither<AppError, MigrateResult> {
  return TE.tryCatch(
    async () => {
      const hadHistory = await db.schema.hasTable('knex_migrations');
      const adopted: string[] = [];
      if (!hadHistory) {
        for (const t of CHALLENGE) if (await db.schema.hasTable(t)) adopted.push(t);
      }
      // without history every migration runs in this batch: its index builds wait for its end (deferIndexes)
      const source = hadHistory ? migrationSource : { ...migrationSource, getMigrations: async () => deferIndexes(MIGRATIONS) };
      const latest = (): Promise<unknown> => db.migrate.latest({ migrationSource: source });
      const [, applied] = (await withSqlitePragmas(db, { cache_size: -MIGRATION_CACHE_KIB }, () =>
        adopted.length > 0 && dialectOf(db) === 'sqlite' ? outsideWal(db, latest) : latest(),
      )) as [number, string[]];
      return { applied, adopted };
    },
    (e) => databaseError('migrating the database failed', e),
  );
}

export function checkSchema(db: Knex): TE.TaskEither<AppError, SchemaReport> {
  return pipe(
    TE.tryCatch(
      () => readLiveSchema(db),
      (e) => databaseError('reading the database schema failed', e),
    ),
    TE.map((live) => compareSchema(expectedSchema(), live, dialectOf(db))),
    TE.chain((report) =>
      report.errors.length === 0
        ? TE.right(report)
        : TE.left(schemaError(`the database schema differs from what this version expects (${report.errors.length} difference(s)):`, report.errors)),
    ),
  );
}

/** For tasks other than setup-db: fail early, with the differences, instead of deep inside a query. */
export function requireSchema(db: Db): TE.TaskEither<AppError, SchemaReport> {
  return pipe(
    TE.fromEither(E.tryCatch(() => db.knex(), (e) => dbError('opening the database failed', e))),
    TE.chain(checkSchema),
    TE.mapLeft((e) =>
      e._tag === 'SchemaError' ? schemaError(`${e.message}\n  run setup-db (make task-setup-db) first`, e.differences) : e,
    ),
  );
}
