import * as t from 'io-ts';
import { runMain, type TaskSpec } from '../../shared/task.js';
import { fitIhcProgram, type FitIhcArgs } from '../../shared/fit/program.js';

const Name = t.refinement(t.string, (s) => /^[A-Za-z0-9_.-]{1,64}$/.test(s), 'name of letters, digits, _ . - (at most 64)');

const Args = t.type({
  name: Name,
  base: t.union([t.undefined, t.string]),
  replace: t.boolean,
  minSamples: t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1, 'integer >= 1'),
});

const spec: TaskSpec<Omit<FitIhcArgs, 'window'>> = {
  name: 'fit-ihc',
  description:
    "Estimate an IHC-style parameter set from the window's stored journeys (initializer ramp from the gaps between sessions, closer ramp from the time to conversion, phase weights from converting vs non-converting journeys; see docs/attribution-engine.md) and save it as a conversion type in table conversion_types.",
  windowed: true,
  options: (y) =>
    y
      .option('name', { type: 'string', demandOption: true, describe: 'conversion type name to save the parameter set under' })
      .option('base', { type: 'string', describe: 'conversion type (config) whose phase weights, channel weights and redistribution are kept (default: models.default_conversion_type)' })
      .option('replace', { type: 'boolean', default: false, describe: 'overwrite a stored conversion type of the same name' })
      .option('min-samples', { type: 'number', default: 30, describe: 'fewer usable values than this keep the base ramp' }),
  args: Args,
  examples: [['$0 --start-date 2023-08-29 --end-date 2023-09-07 --name shop_2023', 'fit on ten days of journeys']],
  program: (args, caps) => fitIhcProgram(args, caps),
};

runMain(spec);
