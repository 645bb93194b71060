import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { ModelsConfig } from './attribution/params.js';
import { strict, NonNegativeInt, PositiveInt, PositiveNumber, NonNegativeNumber } from './codecs/strict.js';
import { describeErrors } from './codecs/report.js';
import { configError, type AppError } from './errors.js';
import { IsoDate } from './window.js';
import { projectFile } from './project.js';

/** yaml is required by the first loadConfig: --help reads no configuration (CommonJS: loadConfig stays synchronous) */
// in the task bundles this line is dropped and the requires below are bundled (scripts/bundle.mjs)
const require = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (require('yaml') as typeof import('yaml')).parse(text) as unknown;

const Nullable = <C extends t.Mixed>(c: C) => t.union([t.null, c]);

export const SqliteClient = t.keyof({ 'better-sqlite3': null, sqlite3: null });
export type SqliteClient = t.TypeOf<typeof SqliteClient>;

export const Config = strict(
  {
    database: strict({
      /** driver for SQLite files; a postgres:// URL always uses pg */
      sqlite_client: SqliteClient,
      /** the SQLite file, or a postgres:// URL (without password: use PGPASSWORD) */
      url: t.string,
      busy_timeout_ms: NonNegativeInt,
      /** rows per INSERT statement; SQLite accepts at most 500 */
      insert_chunk_rows: t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1 && n <= 500, 'a whole number from 1 to 500'),
      /** rows per staging statement when loading CSVs (sent as one JSON parameter, so not bound by the 500) */
      stage_chunk_rows: PositiveInt,
      pool_max: PositiveInt,
    }),
    window: strict({ start_date: IsoDate, end_date: IsoDate }),
    journeys: strict({
      lookback_days: Nullable(PositiveInt),
      max_sessions: Nullable(PositiveInt),
      include_same_second: t.boolean,
      /** the paths that led to no order, for the data-driven models */
      non_converting: strict({ build: t.boolean, close_after_days: PositiveInt }),
    }),
    provider: strict({
      /** `local`, `ihc`, or the base URL of any server that speaks the IHC contract */
      name: t.string,
      ihc_base_url: t.string,
      conv_type_id: t.string,
      max_journeys_per_request: PositiveInt,
      max_sessions_per_request: PositiveInt,
      /** what to do with a journey longer than max_sessions_per_request */
      oversize_journey: t.keyof({ keep_latest: null, skip: null }),
      concurrency: PositiveInt,
      attempt_timeout_ms: PositiveInt,
      deadline_ms: PositiveInt,
      max_retries: NonNegativeInt,
      backoff_initial_ms: NonNegativeInt,
      backoff_max_ms: NonNegativeInt,
      opaque_ids: t.boolean,
      sum_tolerance: PositiveNumber,
    }),
    models: ModelsConfig,
    output: strict({
      dir: t.string,
      /** decimals of money columns in CSVs; ratios and credit use `ratio_decimals` */
      money_decimals: NonNegativeInt,
      ratio_decimals: NonNegativeInt,
      /** ROAS under which the report marks a channel; null: break-even (1 / margin, or 1 without a margin) */
      target_roas: t.union([t.null, PositiveNumber]),
      /** gross margin on revenue, (0, 1]: profit = revenue x margin - cost; null: profit = revenue - cost */
      margin: t.union([t.null, t.refinement(t.number, (n) => n > 0 && n <= 1, 'a number above 0 and at most 1')]),
    }),
    server: strict({
      host: t.string,
      port: NonNegativeInt,
      max_body_bytes: PositiveInt,
      /** open connections at most; idle ones are closed first when more arrive */
      max_connections: PositiveInt,
      /** a request body not received within this gets 408 */
      body_timeout_ms: PositiveInt,
      max_journeys_per_request: PositiveInt,
      max_sessions_per_request: PositiveInt,
    }),
    logging: strict({
      level: t.keyof({ debug: null, info: null, warn: null, error: null }),
      format: t.keyof({ text: null, json: null }),
      progress_interval_seconds: NonNegativeNumber,
    }),
  },
  'Config',
);
export type Config = t.TypeOf<typeof Config>;

/**
 * Environment variables a container or CI needs to change without editing the file. Secrets are not here:
 * they are read where they are used (IHC_API_KEY, ATTRIBUTION_API_KEYS, PGPASSWORD) and never stored in Config.
 */
export const ENV_OVERRIDES: ReadonlyArray<readonly [string, readonly string[], 'string' | 'int']> = [
  ['DATABASE_URL', ['database', 'url'], 'string'],
  ['DATABASE_SQLITE_CLIENT', ['database', 'sqlite_client'], 'string'],
  ['OUTPUT_DIR', ['output', 'dir'], 'string'],
  ['ATTRIBUTION_PROVIDER', ['provider', 'name'], 'string'],
  ['IHC_BASE_URL', ['provider', 'ihc_base_url'], 'string'],
  ['PORT', ['server', 'port'], 'int'],
  ['LOG_LEVEL', ['logging', 'level'], 'string'],
  ['LOG_FORMAT', ['logging', 'format'], 'string'],
];

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['ATTRIBUTION_CONFIG'] !== undefined && env['ATTRIBUTION_CONFIG'] !== '') return env['ATTRIBUTION_CONFIG'];
  const local = path.resolve('config/config.yaml');
  if (fs.existsSync(local)) return local;
  // the project's own, so that a task run from another folder still finds it
  return projectFile('config', 'config.yaml');
}

export function decodeConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): E.Either<AppError, Config> {
  const withEnv = applyEnv(raw, env);
  if (E.isLeft(withEnv)) return withEnv;
  return E.mapLeft((errors: t.Errors) =>
    configError(`${source} is not a valid configuration:`, describeErrors(errors)),
  )(Config.decode(withEnv.right));
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): E.Either<AppError, Config> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return E.left(configError(`cannot read the configuration file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`));
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    return E.left(configError(`${file} is not valid YAML: ${(e as Error).message}`));
  }
  return decodeConfig(raw, file, env);
}

function applyEnv(raw: unknown, env: NodeJS.ProcessEnv): E.Either<AppError, unknown> {
  if (typeof raw !== 'object' || raw === null) return E.right(raw);
  const copy = structuredClone(raw) as Record<string, unknown>;
  for (const [name, keys, kind] of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let parsed: string | number = value;
    if (kind === 'int') {
      if (!/^\d+$/.test(value)) return E.left(configError(`environment variable ${name} must be a whole number, got "${value}"`));
      parsed = Number(value);
    }
    let node = copy;
    for (const k of keys.slice(0, -1)) {
      const next = node[k];
      if (typeof next !== 'object' || next === null) break;
      node = next as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = parsed;
  }
  return E.right(copy);
}
