import * as t from 'io-ts';
import { attributePathsProgram, PATH_MODELS, type AttributePathsArgs } from '../../shared/attribution-paths/program.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.type({
  input: t.string,
  models: t.string,
  format: t.keyof({ table: null, json: null }),
  output: t.union([t.undefined, t.string]),
  timeDecaySteps: t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'number > 0'),
});

const spec: TaskSpec<AttributePathsArgs> = {
  name: 'attribute-paths',
  description:
    'Run attribution models over aggregated paths (CSV columns path with channels joined by ">", total_conversions, and optionally total_conversion_value, total_null) and print per-channel attributed conversions and value for each model. Models: ' +
    PATH_MODELS.join(', ') +
    ' (ihc needs timestamps: run it over stored journeys).',
  options: (y) =>
    y
      .option('input', { type: 'string', demandOption: true, describe: 'paths CSV file' })
      .option('models', { type: 'string', default: PATH_MODELS.join(','), describe: 'comma-separated model names, or all' })
      .option('format', { choices: ['table', 'json'] as const, default: 'table' as const, describe: 'table for people, json for programs' })
      .option('output', { type: 'string', describe: 'write the table/JSON to this file instead of stdout (stdout then carries only the summary line)' })
      .option('time-decay-steps', { type: 'number', default: 1, describe: 'time decay half-life in path steps (paths carry no timestamps)' }),
  args: Args,
  examples: [
    ['$0 --input paths.csv --models markov,linear', 'compare two models as a table'],
    ['$0 --input paths.csv --format json --output credit.json', 'every path model, as JSON in a file'],
  ],
  program: attributePathsProgram,
};

runMain(spec);
