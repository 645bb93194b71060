import * as t from 'io-ts';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { usageError } from '../../shared/errors.js';
import { writeDemoCsvs } from '../../shared/generate/demo.js';
import { kindByName } from '../../shared/ingest/kinds.js';
import { loadProgram } from '../../shared/ingest/program.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.type({ output: t.string, scale: t.number, seed: t.number, load: t.boolean });

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
      .option('load', { type: 'boolean', default: false, describe: 'load the files into the database afterwards' }),
  // --output is the name every task uses for where results go; --out was this task's own name for it
  renamed: { out: 'output' },
  args: Args,
  examples: [
    ['$0 --scale 1 --load', 'demo data for 2023-08-29..2023-09-07, loaded into data/attribution.db'],
    ['$0 --scale 10 --seed 7 --output /tmp/big', 'ten times larger files, not loaded'],
  ],
  program: (args, caps) => {
    const progress = caps.progress({ label: 'generating demo users', unit: 'users' });
    let last = 0;
    return pipe(
      TE.tryCatch(
        () =>
          writeDemoCsvs(args.output, {
            scale: args.scale,
            seed: args.seed,
            startDate: args.window.start,
            endDate: args.window.end,
            onProgress: (done, total) => {
              progress.setTotal(total);
              progress.tick(done - last);
              last = done;
            },
          }),
        (e) => usageError(e instanceof Error ? e.message : String(e)),
      ),
      TE.chain((r) => {
        const { seconds } = progress.done();
        const written = `wrote ${r.sessions.toLocaleString('en-US')} sessions, ${r.conversions.toLocaleString('en-US')} conversions and ${r.costs.toLocaleString('en-US')} costs of ${r.users.toLocaleString('en-US')} users to ${args.output} in ${seconds.toFixed(1)}s`;
        if (!args.load) return TE.right({ summary: written });
        caps.logger.info(written);
        const files = [
          { kind: kindByName('sessions'), path: r.files.sessions },
          { kind: kindByName('conversions'), path: r.files.conversions },
          { kind: kindByName('costs'), path: r.files.costs },
        ];
        return pipe(
          loadProgram(files, true, caps),
          TE.map((l) => ({ summary: `${written}; loaded: ${l.summary}` })),
        );
      }),
    );
  },
};

runMain(spec);
