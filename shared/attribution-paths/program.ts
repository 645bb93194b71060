import * as fs from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { describeAttributionError } from '../attribution/errors.js';
import { resultsToJson, resultsToTable, type ModelResults } from '../attribution/format.js';
import { attributePaths, type ChannelCredit } from '../attribution/models.js';
import { decodePathRow, REQUIRED_PATH_COLUMNS, type PathCount } from '../attribution/paths.js';
import { MODEL_NAMES, type ModelName } from '../attribution/types.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { inputError, messageOf, type AppError } from '../errors.js';
import { readCsv } from '../ingest/csv.js';
import { parseModels } from '../model-list.js';

export interface AttributePathsArgs {
  readonly input: string;
  /** comma list, `all` or `none`, as typed */
  readonly models: string;
  readonly format: 'table' | 'json';
  readonly output?: string | undefined;
  readonly timeDecaySteps: number;
}

/** Every model that works without timestamps: the default of --models. */
export const PATH_MODELS: readonly ModelName[] = MODEL_NAMES.filter((m) => m !== 'ihc');

/** --models of attribute-paths: ihc needs the timestamps that aggregated paths do not carry. */
const pathModels = (text: string): E.Either<AppError, ModelName[]> =>
  parseModels(text, {
    available: PATH_MODELS,
    whenEmpty: PATH_MODELS,
    unavailable: (m) => `${describeAttributionError({ _tag: 'NeedsTimestamps', model: m })}; path models: ${PATH_MODELS.join(', ')}`,
  });

/** Reads the paths CSV (streamed; stops at the first bad row, naming file, line and field). */
export async function readPaths(file: string): Promise<E.Either<AppError, PathCount[]>> {
  if (!fs.existsSync(file)) return E.left(inputError('file not found', { file }));
  const paths: PathCount[] = [];
  let header: string[] | undefined;
  try {
    for await (const rec of readCsv(file)) {
      if (header === undefined) {
        header = rec.fields.map((f) => f.trim());
        const missing = REQUIRED_PATH_COLUMNS.filter((c) => !header!.includes(c));
        if (missing.length > 0) {
          return E.left(inputError(`missing column(s) ${missing.join(', ')}; expected path,total_conversions[,total_conversion_value,total_null]`, { file, line: rec.line }));
        }
        continue;
      }
      const record: Record<string, string> = {};
      header.forEach((h, i) => {
        const v = rec.fields[i];
        if (v !== undefined) record[h] = v;
      });
      const row = decodePathRow(record, file, rec.line);
      if (E.isLeft(row)) return E.left(inputError(row.left.message, { file, line: row.left.line, field: row.left.field }));
      paths.push(row.right);
    }
  } catch (e) {
    return E.left(inputError(`cannot read CSV: ${messageOf(e)}`, { file }));
  }
  if (header === undefined) return E.left(inputError('the file is empty (a header line is required)', { file }));
  return E.right(paths);
}

/** attribute-paths: every chosen model over a paths CSV, printed or written to args.output. */
export function attributePathsProgram(args: AttributePathsArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  return pipe(
    TE.Do,
    TE.apS('models', TE.fromEither(pathModels(args.models))),
    TE.apS('paths', () => readPaths(args.input)),
    TE.bind('results', ({ models, paths }) => TE.fromEither(runModels(models, paths, args, caps))),
    TE.chainFirst(({ results }) => {
      const text = render(results, args.format);
      if (args.output === undefined) {
        caps.stdout(text);
        return TE.right(undefined);
      }
      return caps.files.writeText(args.output, text + '\n');
    }),
    TE.map(({ models, paths }) => {
      const conversions = paths.reduce((a, p) => a + p.conversions, 0);
      const where = args.output !== undefined ? `, written to ${args.output}` : '';
      return {
        summary: `${models.length} model(s) over ${paths.length} paths (${round(conversions)} conversions)${where}`,
        // JSON on stdout must stay pure JSON for jq and friends
        ...(args.format === 'json' && args.output === undefined ? { summaryStream: 'stderr' as const } : {}),
      };
    }),
  );
}

function runModels(
  models: readonly ModelName[],
  paths: readonly PathCount[],
  args: AttributePathsArgs,
  caps: Capabilities,
): E.Either<AppError, [ModelName, ReadonlyMap<string, ChannelCredit>][]> {
  const results: [ModelName, ReadonlyMap<string, ChannelCredit>][] = [];
  for (const m of models) {
    const started = Date.now();
    const r = attributePaths(m, caps.config.models, paths, { timeDecayHalfLifeSteps: args.timeDecaySteps });
    if (E.isLeft(r)) return E.left(inputError(describeAttributionError(r.left), { file: args.input }));
    caps.logger.debug(`${m}: ${r.right.size} channels in ${Date.now() - started} ms`);
    results.push([m, r.right]);
  }
  return E.right(results);
}

const round = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));

function render(results: ModelResults, format: 'table' | 'json'): string {
  return format === 'json' ? JSON.stringify(resultsToJson(results), null, 2) : resultsToTable(results);
}
