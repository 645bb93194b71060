import * as t from 'io-ts';
import { PositiveInt } from '../../shared/codecs/strict.js';
import { buildJourneysProgram } from '../../shared/journeys/program.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.intersection([
  t.type({ strict: t.boolean }),
  t.partial({
    lookbackDays: t.union([t.undefined, PositiveInt]),
    maxSessions: t.union([t.undefined, PositiveInt]),
    includeSameSecond: t.union([t.undefined, t.boolean]),
    nonConverting: t.union([t.undefined, t.boolean]),
  }),
]);

export const spec: TaskSpec<t.TypeOf<typeof Args>> = {
  name: 'build-journeys',
  description:
    "Turn the window's conversions into customer journeys (the user's sessions strictly before each conversion), " +
    'after validating the data; stores them in journeys / journey_sessions, the findings in data_issues, and writes ' +
    'journey insights (JSON + CSV) under <output.dir>/<start>_<end>/.',
  windowed: true,
  options: (y) =>
    y
      .option('lookback-days', { type: 'number', describe: 'only sessions at most N days before the conversion (default: config journeys.lookback_days)' })
      .option('max-sessions', { type: 'number', describe: 'keep the latest N sessions of a journey (default: config journeys.max_sessions)' })
      .option('include-same-second', { type: 'boolean', describe: "count a session starting in the conversion's second (default: config journeys.include_same_second)" })
      .option('non-converting', { type: 'boolean', describe: 'also build the paths that led to no order (default: config journeys.non_converting.build)' })
      .option('strict', { type: 'boolean', default: false, describe: 'exit 8 when validation excluded sessions or conversions' }),
  args: Args,
  examples: [
    ['$0 --start-date 2023-08-29 --end-date 2023-09-07', 'build the demo window'],
    ['$0 --start-date 2023-09-01 --end-date 2023-09-01 --lookback-days 30 --max-sessions 50', 'one day, 30-day lookback, at most 50 sessions'],
  ],
  program: (args, caps) => buildJourneysProgram(args, caps),
};

runMain(spec);
