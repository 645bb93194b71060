import * as t from 'io-ts';
import { generateProgram } from '../../shared/generate/program.js';
import { SCENARIO_NAMES } from '../../shared/generate/truth.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.intersection([
  t.type({ output: t.string, scale: t.number, seed: t.number, load: t.boolean, truth: t.boolean }),
  t.partial({ scenario: t.string }),
]);

const spec: TaskSpec<t.TypeOf<typeof Args>> = {
  name: 'generate-data',
  description:
    'Write realistic demo CSVs (sessions, conversions, costs) shaped like the public challenge data, deterministic for a seed; scale N multiplies users, sessions, conversions and spend. With --load they go through the real `load` path into the database.',
  windowed: true,
  options: (y) =>
    y
      .option('output', { type: 'string', default: 'data/demo', describe: 'folder for the three CSV files' })
      .option('scale', { type: 'number', default: 1, describe: 'size multiplier (1 = about 2,000 conversions over 10 days)' })
      .option('seed', { type: 'number', default: 42, describe: 'random seed; the same seed gives byte-identical files' })
      .option('load', { type: 'boolean', default: false, describe: 'load the files into the database afterwards' })
      .option('truth', {
        type: 'boolean',
        default: false,
        describe: 'planted-truth data: every scenario, each in <output>/<scenario>/ with truth.csv (see --scenario)',
      })
      .option('scenario', {
        type: 'string',
        choices: SCENARIO_NAMES,
        describe: 'one planted-truth scenario into <output> with truth.csv (implies --truth)',
      }),
  // --output is the name every task uses for where results go; --out was this task's own name for it
  renamed: { out: 'output' },
  args: Args,
  examples: [
    ['$0 --scale 1 --load', 'demo data for 2023-08-29..2023-09-07, loaded into data/attribution.db'],
    ['$0 --scale 10 --seed 7 --output /tmp/big', 'ten times larger files, not loaded'],
    ['$0 --scenario retargeting --output data/retargeting --load', 'a planted-truth scenario, truth.csv beside the CSVs'],
  ],
  program: generateProgram,
};

runMain(spec);
