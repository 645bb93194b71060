import * as path from 'node:path';
import * as t from 'io-ts';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { usageError, type AppError } from '../../shared/errors.js';
import { KINDS, kindByName } from '../../shared/ingest/kinds.js';
import type { LoadFile } from '../../shared/ingest/load.js';
import { loadProgram } from '../../shared/ingest/program.js';
import { runMain, type Capabilities, type TaskResult, type TaskSpec } from '../../shared/task.js';

const Args = t.type({
  sessions: t.union([t.undefined, t.string]),
  conversions: t.union([t.undefined, t.string]),
  costs: t.union([t.undefined, t.string]),
  dir: t.union([t.undefined, t.string]),
  strict: t.boolean,
});
type Args = t.TypeOf<typeof Args>;

function filesOf(args: Args): TE.TaskEither<AppError, LoadFile[]> {
  const files: LoadFile[] = [];
  if (args.dir !== undefined) {
    for (const k of KINDS) files.push({ kind: k, path: path.join(args.dir, k.fileName) });
  }
  for (const name of ['sessions', 'conversions', 'costs'] as const) {
    const p = args[name];
    if (p !== undefined) files.push({ kind: kindByName(name), path: p });
  }
  return files.length === 0
    ? TE.left(usageError('nothing to load: give --dir, or one or more of --sessions, --conversions, --costs'))
    : TE.right(files);
}

function program(args: Args, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  return pipe(
    filesOf(args),
    TE.chain((files) => loadProgram(files, args.strict, caps)),
  );
}

const spec: TaskSpec<Args> = {
  name: 'load',
  description:
    'Load sessions, conversions and costs from CSV files (header required, column order free). Valid rows are upserted; invalid rows go to table ingest_quarantine with file, line, field and reason. All files load in one transaction.',
  options: (y) =>
    y
      .option('dir', { type: 'string', describe: 'folder holding session_sources.csv, conversions.csv and session_costs.csv' })
      .option('sessions', { type: 'string', describe: 'CSV of sessions (session_sources columns)' })
      .option('conversions', { type: 'string', describe: 'CSV of conversions' })
      .option('costs', { type: 'string', describe: 'CSV of session costs' })
      .option('strict', { type: 'boolean', default: false, describe: 'load nothing if any row is invalid (exit 4)' }),
  args: Args,
  examples: [
    ['$0 --dir data/demo', 'load the three CSVs of a folder'],
    ['$0 --costs costs-2023-09.csv --strict', 'load one file, refusing it whole if any row is invalid'],
  ],
  program,
};

runMain(spec);
