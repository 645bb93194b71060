import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { databaseError, schemaError, type AppError } from '../errors.js';
import { compareSchema, readLiveSchema, type SchemaReport } from './check.js';
import { dialectOf } from './connect.js';
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
      const [, applied] = (await db.migrate.latest({ migrationSource: source })) as [number, string[]];
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
