import * as t from 'io-ts';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { MODEL_NAMES } from '../../shared/attribution/types.js';
import { parseModels } from '../../shared/model-list.js';
import { processProgram } from '../../shared/reporting/process.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.type({ models: t.string, allowPartial: t.boolean });

export const spec: TaskSpec<t.TypeOf<typeof Args>> = {
  name: 'process-attribution',
  description:
    "Validate the provider's answers for the window, replace its rows of attribution_customer_journey, recompute " +
    'channel_reporting for every date the window touches (one checked transaction), and write channel_reporting.csv, ' +
    'channel_summary.csv, model_comparison.csv and report.html under <output.dir>/<start>_<end>/.',
  windowed: true,
  options: (y) =>
    y.option('models', {
      type: 'string',
      default: 'all',
      describe: `models of the comparison: all, none, or a comma list of ${MODEL_NAMES.join(', ')}`,
    }).option('allow-partial', {
      type: 'boolean',
      default: false,
      describe: "use the latest attribution run although some journeys have no answer from it (failed batches, not sent); they count as not attributed",
    }),
  args: Args,
  examples: [
    ['$0 --start-date 2023-08-29 --end-date 2023-09-07', 'process the demo window'],
    ['$0 --start-date 2023-09-01 --end-date 2023-09-01 --models ihc,linear,markov', 'one day, three models in the comparison'],
  ],
  program: (args, caps) =>
    pipe(
      TE.fromEither(parseModels(args.models, { available: MODEL_NAMES, whenEmpty: [] })),
      TE.chain((models) => processProgram(args.window, caps, { models, allowPartial: args.allowPartial })),
    ),
};

runMain(spec);
