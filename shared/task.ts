import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import dotenv from 'dotenv';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import type { Knex } from 'knex';
import yargs, { type Argv, type Options } from 'yargs';
import type { Capabilities, TaskResult } from './capabilities.js';
import { describeErrors } from './codecs/report.js';
import { defaultConfigPath, loadConfig, type Config } from './config.js';
import { describeTarget, makeDb, targetOf } from './db/connect.js';
import { makeDbCapability, MissingDatabase } from './db/db.js';
import { localFiles } from './files.js';
import { EXIT_CODES, formatError, messageOf, redact, usageError, type AppError } from './errors.js';
import { helpWidth, renderHelp, type HelpOption } from './help.js';
import { makeLogger } from './log.js';
import { makePace, makeProgress } from './progress.js';
import { projectFile } from './project.js';
import { decodeWindow, type Window } from './window.js';

export type { Capabilities, TaskResult } from './capabilities.js';

export interface TaskSpec<A> {
  readonly name: string;
  readonly description: string;
  /** only setup-db: may create the SQLite file; every other task refuses a missing one (exit 5) untouched */
  readonly createsDatabase?: boolean;
  /** adds --start-date/--end-date (defaults: config window) and passes the decoded window as args.window */
  readonly windowed?: boolean;
  readonly options: (y: Argv) => Argv;
  /** decodes the parsed flags (yargs' camelCase keys) into the program's arguments */
  readonly args: t.Decoder<unknown, A>;
  readonly examples?: ReadonlyArray<readonly [string, string]>;
  /** old flag name -> its name now: the old one keeps working (hidden from --help, with a warning) */
  readonly renamed?: Readonly<Record<string, string>>;
  readonly program: (args: A & { readonly window: Window }, caps: Capabilities) => TE.TaskEither<AppError, TaskResult>;
}

export interface RunOptions {
  readonly argv: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly stdout?: (text: string) => void;
  readonly stderr?: (text: string) => void;
}

/** When a non-terminal log gets its first progress line after the task started. */
export const FIRST_PROGRESS_MS = 1500;

/** The edge of every task: argv -> decoded args -> capabilities -> program -> exit code + summary. */
export async function runTask<A>(spec: TaskSpec<A>, opts: RunOptions): Promise<number> {
  const env = opts.env ?? process.env;
  const out = opts.stdout ?? ((s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n'));
  const err = opts.stderr ?? ((s: string) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'));
  dotenv.config({ quiet: true } as dotenv.DotenvConfigOptions);

  const parsed = parseArgv(spec, opts.argv, out, err);
  if (parsed._tag === 'exit') return parsed.code;
  if (parsed._tag === 'error') {
    err(`${spec.name}: ${formatError(parsed.error)}`);
    err(`Run with --help to see the options.`);
    return EXIT_CODES.UsageError;
  }
  const flags = parsed.flags;

  const configPath = typeof flags['config'] === 'string' ? flags['config'] : defaultConfigPath(env);
  const config = loadConfig(configPath, env);
  if (E.isLeft(config)) {
    err(`${spec.name}: ${formatError(config.left)}`);
    return EXIT_CODES[config.left._tag];
  }
  const cfg = config.right;
  const logger = makeLogger({ task: spec.name, level: cfg.logging.level, format: cfg.logging.format, write: err });

  const decoded = decodeArgs(spec, flags, cfg, opts.argv);
  if (E.isLeft(decoded)) {
    err(`${spec.name}: ${formatError(decoded.left)}`);
    return EXIT_CODES[decoded.left._tag];
  }

  let db: Knex | undefined;
  let missing: MissingDatabase | undefined;
  let opened: Promise<boolean> | undefined;
  const runId = randomUUID();
  const startedAt = new Date();
  const run = { runId, task: spec.name, window: (decoded.right as { window?: Window }).window, startedAt };
  // one schedule for the whole run: the first line early (a log that stays silent for a minute looks hung),
  // then at the configured interval, however many files or steps the work is split into
  const intervalMs = process.stderr.isTTY ? 200 : cfg.logging.progress_interval_seconds * 1000;
  const pace = makePace(startedAt.getTime(), Math.min(FIRST_PROGRESS_MS, intervalMs), intervalMs);
  const caps: Capabilities = {
    config: cfg,
    logger,
    clock: () => new Date(),
    env,
    db: makeDbCapability(() => {
      if (db === undefined) {
        const target = targetOf(cfg.database);
        logger.debug(`database: ${describeTarget(target)}`);
        // opening a SQLite file creates it (and makeDb its folder): a mistyped DATABASE_URL would leave an
        // empty database behind and fail later with a list of missing tables
        if (spec.createsDatabase !== true && target.dialect === 'sqlite' && target.file !== ':memory:' && !fs.existsSync(target.file)) {
          missing = new MissingDatabase(target.file);
          throw missing;
        }
        db = makeDb(cfg.database, target, { log: (m) => logger.debug(redact(m)) });
        // queued before the program's first query, so a killed run still leaves its 'running' row
        opened = openRunRow(db, run);
      }
      return db;
    }, targetOf(cfg.database).dialect),
    files: localFiles,
    progress: (p) => makeProgress({ ...p, logger, pace }),
    stdout: out,
    runId,
  };

  let code: number;
  let summary: string;
  let stream: 'stdout' | 'stderr' = 'stderr';
  try {
    const result = await spec.program(decoded.right, caps)();
    if (E.isLeft(result)) {
      code = EXIT_CODES[result.left._tag];
      summary = `failed (exit ${code}): ${formatError(result.left)}`;
    } else {
      code = result.right.exitCode ?? 0;
      summary = result.right.summary;
      stream = result.right.summaryStream ?? 'stdout';
    }
  } catch (e) {
    // a thrown error is a bug, not a user mistake; say so and keep the stack out of the user's face unless asked
    code = EXIT_CODES.Internal;
    summary = `failed (exit ${code}): unexpected error: ${redact(messageOf(e))}`;
    if (missing === undefined && e instanceof Error && e.stack !== undefined) logger.debug(redact(e.stack));
  }
  if (missing !== undefined) {
    // the Db capability turns it into exit 5 itself; raw knex code may pass the throw on however it likes
    // (uncaught, or wrapped into its own error): the cause is still the file
    code = EXIT_CODES.SchemaError;
    summary = `failed (exit ${code}): ${missing.message}`;
    stream = 'stderr';
  }
  (stream === 'stderr' ? err : out)(`${spec.name}: ${summary}`);
  if (db !== undefined) {
    await closeRunRow(db, { ...run, summary, code }, (await opened) === true);
    await db.destroy();
  }
  return code;
}

/** The entrypoint of a task's main.ts: this process's argv in, the exit code out. */
export function runMain<A>(spec: TaskSpec<A>): void {
  void runTask(spec, { argv: process.argv.slice(2) }).then((code) => {
    process.exitCode = code;
  });
}

type Parsed =
  | { readonly _tag: 'flags'; readonly flags: Record<string, unknown> }
  | { readonly _tag: 'exit'; readonly code: number }
  | { readonly _tag: 'error'; readonly error: AppError };

/** The package's version, for --version. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(projectFile('package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The Argv handed to a spec's `options`, noting every `.option()` so that --help can be laid out from the same
 * definitions (see help.ts). Every call that returns the instance returns the recorder, so chains keep recording.
 */
function recording(y: Argv, seen: HelpOption[]): Argv {
  const proxy: Argv = new Proxy(y, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...a: unknown[]) => {
        if (prop === 'option' && typeof a[0] === 'string') {
          const o = (a[1] ?? {}) as Options;
          if (o.hidden !== true) {
            seen.push({
              name: a[0],
              ...(typeof o.alias === 'string' ? { alias: o.alias } : {}),
              ...(o.describe !== undefined ? { describe: String(o.describe) } : {}),
              ...(o.type !== undefined ? { type: o.type } : {}),
              ...(o.choices !== undefined ? { choices: o.choices as unknown[] } : {}),
              ...(o.default !== undefined ? { default: o.default } : {}),
              ...(o.demandOption !== undefined && o.demandOption !== false ? { required: true } : {}),
            });
          }
        }
        const r: unknown = (v as (...x: unknown[]) => unknown).apply(target, a);
        return r === target ? proxy : r;
      };
    },
  });
  return proxy;
}

function parseArgv<A>(spec: TaskSpec<A>, argv: readonly string[], out: (s: string) => void, err: (s: string) => void): Parsed {
  let failure: string | undefined;
  const seen: HelpOption[] = [];
  let y: Argv = recording(
    yargs([...argv])
      .scriptName(spec.name)
      .strict()
      .exitProcess(false)
      // help and version are answered below, before yargs' own output (whose layout breaks words)
      .help(false)
      .version(false)
      .fail((msg, e) => {
        failure = msg ?? (e !== undefined ? e.message : 'invalid arguments');
      }),
    seen,
  )
    .option('config', { type: 'string', describe: 'configuration file (default: $ATTRIBUTION_CONFIG or config/config.yaml)' });
  if (spec.windowed === true) {
    y = y
      .option('start-date', { type: 'string', describe: 'first day of the window, YYYY-MM-DD (UTC, inclusive; default: config window)' })
      .option('end-date', { type: 'string', describe: 'last day of the window, YYYY-MM-DD (UTC, inclusive; default: config window)' });
  }
  y = spec.options(y);
  for (const [old, now] of Object.entries(spec.renamed ?? {})) {
    y = y.option(old, { type: 'string', hidden: true, describe: `deprecated name of --${now}` });
  }
  y = y
    .option('help', { alias: 'h', type: 'boolean', describe: 'show this help and exit' })
    .option('version', { type: 'boolean', describe: 'show the version and exit' });
  // asked for help or the version: answer that, whatever else is on the line
  const flagsBeforeValues = argv.slice(0, argv.includes('--') ? argv.indexOf('--') : argv.length);
  if (flagsBeforeValues.includes('--help') || flagsBeforeValues.includes('-h')) {
    out(renderHelp({ name: spec.name, description: spec.description, options: seen, examples: spec.examples ?? [] }, helpWidth(process.stdout)));
    return { _tag: 'exit', code: 0 };
  }
  if (flagsBeforeValues.includes('--version')) {
    out(`${spec.name} ${packageVersion()}`);
    return { _tag: 'exit', code: 0 };
  }
  let flags: Record<string, unknown> = {};
  try {
    flags = y.parseSync([...argv]) as Record<string, unknown>;
  } catch (e) {
    failure = failure ?? messageOf(e);
  }
  if (failure !== undefined) return { _tag: 'error', error: usageError(failure) };
  for (const [old, now] of Object.entries(spec.renamed ?? {})) {
    if (flags[old] === undefined) continue;
    if (argv.some((a) => a === `--${now}` || a.startsWith(`--${now}=`))) {
      return { _tag: 'error', error: usageError(`--${old} and --${now} are the same option; give only --${now}`) };
    }
    err(`${spec.name}: --${old} is deprecated, use --${now} (it works the same)`);
    flags[now] = flags[old];
    flags[camelCase(now)] = flags[old];
  }
  return { _tag: 'flags', flags };
}

const camelCase = (s: string): string => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function decodeArgs<A>(spec: TaskSpec<A>, flags: Record<string, unknown>, cfg: Config, argv: readonly string[]): E.Either<AppError, A & { window: Window }> {
  let window: Window = { start: cfg.window.start_date, end: cfg.window.end_date };
  if (spec.windowed === true) {
    const w = decodeWindow(flags['startDate'] ?? cfg.window.start_date, flags['endDate'] ?? cfg.window.end_date);
    if (E.isLeft(w)) return w;
    window = w.right;
  }
  const args = spec.args.decode(flags);
  if (E.isLeft(args)) {
    const lines = describeErrors(args.left, { rename: flagName, typed: (key) => typedValue(argv, flagName(key)) });
    return E.left(usageError(lines.join('; ')));
  }
  return E.right({ ...args.right, window });
}

/** yargs' camelCase key as the user wrote the flag: lookbackDays -> --lookback-days */
const flagName = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The text after a flag on the command line (`--flag value` or `--flag=value`), last one winning as in yargs. */
export function typedValue(argv: readonly string[], flag: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === flag && i + 1 < argv.length) found = argv[i + 1];
    else if (a.startsWith(`${flag}=`)) found = a.slice(flag.length + 1);
  }
  return found;
}

interface RunRow {
  readonly runId: string;
  readonly task: string;
  readonly window: Window | undefined;
  readonly startedAt: Date;
}

const runRowOf = (r: RunRow) => ({
  run_id: r.runId,
  task: r.task,
  window_start: r.window?.start ?? null,
  window_end: r.window?.end ?? null,
  started_at: r.startedAt.toISOString(),
});

/** The run log is a convenience: a database that refuses it has already failed the task loudly, or will. */
async function openRunRow(db: Knex, r: RunRow): Promise<boolean> {
  try {
    if (!(await db.schema.hasTable('pipeline_runs'))) return false;
    await db('pipeline_runs').insert({ ...runRowOf(r), finished_at: null, status: 'running', summary: null });
    return true;
  } catch {
    return false;
  }
}

/** Closes the row opened at the start, or writes it whole when it could not be opened (setup-db creates the table). */
async function closeRunRow(db: Knex, r: RunRow & { summary: string; code: number }, wasOpened: boolean): Promise<void> {
  const end = { finished_at: new Date().toISOString(), status: r.code === 0 ? 'succeeded' : 'failed', summary: r.summary.slice(0, 2000) };
  try {
    if (wasOpened) {
      await db('pipeline_runs').where('run_id', r.runId).update(end);
      return;
    }
    if (!(await db.schema.hasTable('pipeline_runs'))) return;
    await db('pipeline_runs').insert({ ...runRowOf(r), ...end });
  } catch {
    // see openRunRow
  }
}
