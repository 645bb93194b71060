import path from 'node:path';
import * as t from 'io-ts';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { usageError } from '../../shared/errors.js';
import { writeDemoCsvs } from '../../shared/generate/demo.js';
import { SCENARIOS, SCENARIO_NAMES, scenarioByName, writeScenarioCsvs } from '../../shared/generate/truth.js';
import { kindByName } from '../../shared/ingest/kinds.js';
import { loadProgram } from '../../shared/ingest/program.js';
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
  program: (args, caps) => {
    if (args.truth || args.scenario !== undefined) return truthProgram(args, caps);
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
        return loadWritten(r.files, written, caps);
      }),
    );
  },
};

type Caps = Parameters<TaskSpec<t.TypeOf<typeof Args>>['program']>[1];

/** The written files through the real `load` path. */
function loadWritten(files: { sessions: string; conversions: string; costs: string }, written: string, caps: Caps) {
  caps.logger.info(written);
  const list = [
    { kind: kindByName('sessions'), path: files.sessions },
    { kind: kindByName('conversions'), path: files.conversions },
    { kind: kindByName('costs'), path: files.costs },
  ];
  return pipe(
    loadProgram(list, true, caps),
    TE.map((l) => ({ summary: `${written}; loaded: ${l.summary}` })),
  );
}

function truthProgram(args: t.TypeOf<typeof Args> & { window: { start: string; end: string } }, caps: Caps) {
  const one = args.scenario === undefined ? undefined : scenarioByName(args.scenario);
  if (args.load && one === undefined) {
    return TE.left(usageError('--load needs one scenario (--scenario NAME): every scenario is a separate dataset'));
  }
  const list = one === undefined ? SCENARIOS.filter((s) => s.name !== 'tiny') : [one];
  const opts = { scale: args.scale, seed: args.seed, startDate: args.window.start, endDate: args.window.end };
  return pipe(
    TE.tryCatch(
      async () => {
        const lines: string[] = [];
        let last: Awaited<ReturnType<typeof writeScenarioCsvs>> | undefined;
        for (const s of list) {
          const dir = one === undefined ? path.join(args.output, s.name) : args.output;
          last = await writeScenarioCsvs(dir, s, opts);
          lines.push(`${s.name}: ${last.users} users, ${last.sessions} sessions, ${last.conversions} orders (${last.truth.baselineOrders} would happen anyway) in ${dir}`);
        }
        return { lines, last };
      },
      (e) => usageError(e instanceof Error ? e.message : String(e)),
    ),
    TE.chain(({ lines, last }) => {
      const written = lines.join('; ');
      if (!args.load || last === undefined) return TE.right({ summary: written });
      return loadWritten(last.files, written, caps);
    }),
  );
}

runMain(spec);
