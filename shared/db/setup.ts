import type { Knex } from 'knex';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { AppError } from '../errors.js';
import type { SchemaReport } from './check.js';
import { checkSchema, migrate, type MigrateResult } from './migrate.js';

export interface SetupResult {
  readonly migrated: MigrateResult | undefined;
  readonly report: SchemaReport;
}

/** Migrate (unless only checking), then always validate: a migration that "worked" on a drifted database is not done. */
export function setupDatabase(db: Knex, opts: { readonly checkOnly: boolean }): TE.TaskEither<AppError, SetupResult> {
  return pipe(
    opts.checkOnly ? TE.right<AppError, MigrateResult | undefined>(undefined) : migrate(db),
    TE.chain((migrated) => pipe(checkSchema(db), TE.map((report) => ({ migrated, report })))),
  );
}

export function describeSetup(r: SetupResult, where: string): string {
  const parts: string[] = [];
  if (r.migrated !== undefined) {
    parts.push(r.migrated.applied.length === 0 ? 'already up to date' : `applied ${r.migrated.applied.length} migration(s) (${r.migrated.applied.join(', ')})`);
    if (r.migrated.adopted.length > 0) parts.push(`adopted existing challenge tables (${r.migrated.adopted.join(', ')}) without changing their data`);
  }
  parts.push(`schema OK${r.report.warnings.length > 0 ? ` with ${r.report.warnings.length} note(s)` : ''}`);
  return `${where}: ${parts.join('; ')}`;
}
