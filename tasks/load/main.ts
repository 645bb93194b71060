import * as t from 'io-ts';
import { loadArgsProgram } from '../../shared/ingest/program.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.type({
  sessions: t.union([t.undefined, t.string]),
  conversions: t.union([t.undefined, t.string]),
  costs: t.union([t.undefined, t.string]),
  dir: t.union([t.undefined, t.string]),
  strict: t.boolean,
});
type Args = t.TypeOf<typeof Args>;

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
  program: loadArgsProgram,
};

runMain(spec);
