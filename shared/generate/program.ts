import path from 'node:path';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { messageOf, usageError, type AppError } from '../errors.js';
import { describeOutputFailure, OutputFailure } from '../files.js';
import { kindByName } from '../ingest/kinds.js';
import { loadProgram } from '../ingest/program.js';
import type { Window } from '../window.js';
import { writeDemoCsvs } from './demo.js';
import { SCENARIOS, scenarioByName, writeScenarioCsvs } from './truth.js';

export interface GenerateArgs {
  readonly output: string;
  readonly scale: number;
  readonly seed: number;
  readonly load: boolean;
  readonly truth: boolean;
  readonly scenario?: string | undefined;
  readonly window: Window;
}

/** generate-data: demo (or planted-truth) CSVs into args.output, then, with --load, through the real `load` path. */
export function generateProgram(args: GenerateArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  if (args.truth || args.scenario !== undefined) return truthProgram(args, caps);
  const progress = caps.progress({ label: 'generating demo users', unit: 'users' });
  let last = 0;
  const opts = {
    scale: args.scale,
    seed: args.seed,
    startDate: args.window.start,
    endDate: args.window.end,
    onProgress: (done: number, total: number) => {
      progress.setTotal(total);
      progress.tick(done - last);
      last = done;
    },
  };
  return pipe(
    writeDemoCsvs(args.output, opts, caps.files),
    TE.chain((r) => {
      const { seconds } = progress.done();
      const written = `wrote ${r.sessions.toLocaleString('en-US')} sessions, ${r.conversions.toLocaleString('en-US')} conversions and ${r.costs.toLocaleString('en-US')} costs of ${r.users.toLocaleString('en-US')} users to ${args.output} in ${seconds.toFixed(1)}s`;
      if (!args.load) return TE.right({ summary: written });
      return loadWritten(r.files, written, caps);
    }),
  );
}

/** The written files through the real `load` path. */
function loadWritten(files: { sessions: string; conversions: string; costs: string }, written: string, caps: Capabilities) {
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

function truthProgram(args: GenerateArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  const one = args.scenario === undefined ? undefined : scenarioByName(args.scenario);
  if (args.load && one === undefined) {
    return TE.left(usageError('--load needs one scenario (--scenario NAME): every scenario is a separate dataset'));
  }
  const list = one === undefined ? SCENARIOS.filter((s) => s.name !== 'tiny') : [one];
  const opts = { scale: args.scale, seed: args.seed, startDate: args.window.start, endDate: args.window.end };
  let dir = args.output;
  return pipe(
    TE.tryCatch(
      async () => {
        const lines: string[] = [];
        let last: Awaited<ReturnType<typeof writeScenarioCsvs>> | undefined;
        for (const s of list) {
          dir = one === undefined ? path.join(args.output, s.name) : args.output;
          last = await writeScenarioCsvs(dir, s, opts);
          lines.push(`${s.name}: ${last.users} users, ${last.sessions} sessions, ${last.conversions} orders (${last.truth.baselineOrders} would happen anyway) in ${dir}`);
        }
        return { lines, last };
      },
      // the scenario writer throws OutputFailure for its files, the file system's own errors (errno code) for the folder, plain ones for options
      (e) =>
        e instanceof OutputFailure
          ? e.error
          : typeof e === 'object' && e !== null && 'code' in e
            ? describeOutputFailure(dir, e)
            : usageError(messageOf(e)),
    ),
    TE.chain(({ lines, last }) => {
      const written = lines.join('; ');
      if (!args.load || last === undefined) return TE.right({ summary: written });
      return loadWritten(last.files, written, caps);
    }),
  );
}
