import * as t from 'io-ts';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { describeTarget, targetOf } from '../../shared/db/connect.js';
import { describeSetup, setupDatabase } from '../../shared/db/setup.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.type({ check: t.boolean });

const spec: TaskSpec<t.TypeOf<typeof Args>> = {
  name: 'setup-db',
  createsDatabase: true,
  description:
    'Create or migrate the database (SQLite file or PostgreSQL), adopting a database made by the challenge script, then check that its schema is what this version expects.',
  options: (y) => y.option('check', { type: 'boolean', default: false, describe: 'only compare the schema with the expected one; change nothing' }),
  args: Args,
  examples: [
    ['$0', 'create or migrate data/attribution.db'],
    ['DATABASE_URL=postgres://me@localhost/attr $0 --check', 'check a PostgreSQL database without changing it'],
  ],
  program: (args, caps) =>
    pipe(
      setupDatabase(caps.db.knex(), { checkOnly: args.check }),
      TE.map((r) => {
        for (const w of r.report.warnings) caps.logger.warn(w);
        return { summary: describeSetup(r, describeTarget(targetOf(caps.config.database))) };
      }),
    ),
};

runMain(spec);
