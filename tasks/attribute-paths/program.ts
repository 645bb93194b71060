import * as fs from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { describeAttributionError } from '../../shared/attribution/errors.js';
import { resultsToJson, resultsToTable, type ModelResults } from '../../shared/attribution/format.js';
import { attributePaths, parseModelName, type ChannelCredit } from '../../shared/attribution/models.js';
import { decodePathRow, REQUIRED_PATH_COLUMNS, type PathCount } from '../../shared/attribution/paths.js';
import type { ModelName } from '../../shared/attribution/types.js';
import { MODEL_NAMES } from '../../shared/attribution/types.js';
import { inputError, messageOf, usageError, type AppError } from '../../shared/errors.js';
import { readCsv } from '../../shared/ingest/csv.js';
import type { Capabilities, TaskResult } from '../../shared/task.js';
import { asOutputError, writeFileAtomic } from '../../shared/files.js';

export interface AttributePathsArgs {
  readonly input: string;
  readonly models: readonly string[];
  readonly format: 'table' | 'json';
  readonly output?: string | undefined;
  readonly timeDecaySteps: number;
}

/** Every model that works without timestamps: the default of --models. */
export const PATH_MODELS: readonly ModelName[] = MODEL_NAMES.filter((m) => m !== 'ihc');

export function parseModels(names: readonly string[]): E.Either<AppError, ModelName[]> {
  const list = names.length === 0 ? [...PATH_MODELS] : [];
  for (const n of names) {
    const m = parseModelName(n);
    if (E.isLeft(m)) return E.left(usageError(`unknown model "${n}"; known: ${MODEL_NAMES.join(', ')}`));
    if (m.right === 'ihc') {
      return E.left(usageError(`${describeAttributionError({ _tag: 'NeedsTimestamps', model: 'ihc' })}; path models: ${PATH_MODELS.join(', ')}`));
    }
    if (!list.includes(m.right)) list.push(m.right);
  }
  return E.right(list);
}

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

export function attributePathsProgram(args: AttributePathsArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  return async () => {
    const models = parseModels(args.models);
    if (E.isLeft(models)) return models;
    const paths = await readPaths(args.input);
    if (E.isLeft(paths)) return paths;
    const cfg = caps.config.models;
    const results: [ModelName, ReadonlyMap<string, ChannelCredit>][] = [];
    for (const m of models.right) {
      const started = Date.now();
      const r = attributePaths(m, cfg, paths.right, { timeDecayHalfLifeSteps: args.timeDecaySteps });
      if (E.isLeft(r)) return E.left(inputError(describeAttributionError(r.left), { file: args.input }));
      caps.logger.debug(`${m}: ${r.right.size} channels in ${Date.now() - started} ms`);
      results.push([m, r.right]);
    }
    const text = render(results, args.format);
    if (args.output !== undefined) {
      try {
        await writeFileAtomic(args.output, text + '\n');
      } catch (e) {
        return E.left(asOutputError((x) => inputError(`cannot write: ${messageOf(x)}`, { file: args.output }))(e));
      }
    } else caps.stdout(text);
    const conversions = paths.right.reduce((a, p) => a + p.conversions, 0);
    const where = args.output !== undefined ? `, written to ${args.output}` : '';
    return E.right({
      summary: `${models.right.length} model(s) over ${paths.right.length} paths (${round(conversions)} conversions)${where}`,
      // JSON on stdout must stay pure JSON for jq and friends
      ...(args.format === 'json' && args.output === undefined ? { summaryStream: 'stderr' as const } : {}),
    });
  };
}

const round = (x: number): string => (Number.isInteger(x) ? String(x) : x.toFixed(2));

function render(results: ModelResults, format: 'table' | 'json'): string {
  return format === 'json' ? JSON.stringify(resultsToJson(results), null, 2) : resultsToTable(results);
}
