import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Knex } from 'knex';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { isLeft } from 'fp-ts/lib/Either.js';
import { dialectOf } from '../db/connect.js';
import { databaseError, inputError, type AppError } from '../errors.js';
import type { Progress } from '../progress.js';
import { countDataLines, readCsv, readHeader } from './csv.js';
import { reasonOf, type Reason } from './fields.js';
import { headerProblems, type Kind } from './kinds.js';

export interface LoadFile {
  readonly kind: Kind;
  readonly path: string;
}

export interface FileStats {
  readonly file: string;
  readonly kind: Kind['name'];
  readonly read: number;
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly quarantined: number;
  readonly byReason: Partial<Record<Reason, number>>;
}

export interface LoadOptions {
  /** any invalid row aborts the whole load: nothing is written, not even quarantine rows */
  readonly strict: boolean;
  readonly runId: string;
  /** rows per INSERT of quarantine rows (SQLite: at most 500) */
  readonly chunkRows: number;
  /** rows per staging statement */
  readonly stageChunkRows: number;
  readonly now: () => Date;
  readonly progress: (label: string, total: number) => Progress;
}

interface Problem {
  readonly line: number;
  readonly field: string | null;
  readonly reason: Reason;
  readonly detail: string;
  readonly key: string | null;
  readonly raw: string | null;
}

class StrictAbort extends Error {
  constructor(readonly problems: readonly { file: string; problem: Problem }[], readonly total: number) {
    super('strict');
  }
}

const STAGE = 'ingest_stage';

/**
 * Loads the files in one transaction: either every valid row of every file is upserted and every invalid
 * row quarantined, or (on a database error, a malformed CSV, or --strict with invalid rows) nothing changes.
 * Rows are staged in a temporary table so duplicate detection, change counting and the upsert are set
 * operations in the database and memory does not grow with the file.
 */
export function loadFiles(db: Knex, files: readonly LoadFile[], opts: LoadOptions): TE.TaskEither<AppError, FileStats[]> {
  return async () => {
    for (const f of files) {
      const checked = await checkFile(f);
      if (checked !== undefined) return { _tag: 'Left', left: checked };
    }
    try {
      const stats = await db.transaction(async (trx) => {
        const out: FileStats[] = [];
        const strictProblems: { file: string; problem: Problem }[] = [];
        let strictTotal = 0;
        for (const f of files) {
          const r = await loadOne(trx, f, opts);
          out.push(r.stats);
          strictTotal += r.stats.quarantined;
          for (const p of r.firstProblems) if (strictProblems.length < 10) strictProblems.push({ file: f.path, problem: p });
        }
        if (opts.strict && strictTotal > 0) throw new StrictAbort(strictProblems, strictTotal);
        return out;
      });
      return { _tag: 'Right', right: stats };
    } catch (e) {
      if (e instanceof StrictAbort) {
        return {
          _tag: 'Left',
          left: inputError(
            `--strict: ${e.total} invalid row(s), so nothing was loaded. First problems:\n` +
              e.problems
                .map(({ file, problem: p }) => `  ${file}, line ${p.line}${p.field !== null ? `, field "${p.field}"` : ''}: ${p.reason}: ${p.detail}`)
                .join('\n'),
          ),
        };
      }
      if (e instanceof CsvError) return { _tag: 'Left', left: inputError(e.message, { file: e.file }) };
      return { _tag: 'Left', left: databaseError('loading failed and nothing was changed', e) };
    }
  };
}

async function checkFile(f: LoadFile): Promise<AppError | undefined> {
  try {
    const st = fs.statSync(f.path);
    if (!st.isFile()) return inputError(`not a file`, { file: f.path });
  } catch {
    return inputError(`file not found`, { file: f.path });
  }
  let header: string[] | undefined;
  try {
    header = await readHeader(f.path);
  } catch (e) {
    return inputError(`not a readable CSV: ${(e as Error).message}`, { file: f.path, line: 1 });
  }
  if (header === undefined) return inputError(`the file is empty; a header line is required`, { file: f.path, line: 1 });
  const problems = headerProblems(f.kind, header);
  if (problems.length > 0) {
    return inputError(
      `this is not a ${f.kind.name} CSV (expected columns ${Object.keys(f.kind.columns).join(', ')}): ${problems.join('; ')}`,
      { file: f.path, line: 1 },
    );
  }
  return undefined;
}

class CsvError extends Error {
  constructor(readonly file: string, message: string) {
    super(message);
  }
}

async function loadOne(trx: Knex.Transaction, f: LoadFile, opts: LoadOptions): Promise<{ stats: FileStats; firstProblems: Problem[] }> {
  const { kind } = f;
  const cols = Object.keys(kind.columns);
  const file = path.basename(f.path);
  await trx.raw(`DROP TABLE IF EXISTS ${STAGE}`);
  // Same column types as the target (dates stay dates in PostgreSQL), so comparisons need no casts.
  await trx.raw(`CREATE TEMPORARY TABLE ${STAGE} AS SELECT CAST(0 AS INTEGER) AS line, ${cols.join(', ')} FROM ${kind.table} WHERE 1 = 0`);

  const progress = opts.progress(`loading ${file}`, await countDataLines(f.path));
  const byReason: Partial<Record<Reason, number>> = {};
  const firstProblems: Problem[] = [];
  let staged: Record<string, unknown>[] = [];
  let quarantine: Record<string, unknown>[] = [];
  let read = 0;
  let quarantined = 0;
  const createdAt = opts.now().toISOString();

  const addProblem = (p: Problem): void => {
    quarantined++;
    byReason[p.reason] = (byReason[p.reason] ?? 0) + 1;
    if (firstProblems.length < 10) firstProblems.push(p);
    quarantine.push({
      run_id: opts.runId,
      source_file: f.path,
      line: p.line,
      table_name: kind.table,
      record_key: p.key,
      field: p.field,
      reason: p.reason,
      detail: p.detail,
      raw: p.raw,
      created_at: createdAt,
    });
  };
  const flush = async (force: boolean): Promise<void> => {
    if (staged.length >= opts.stageChunkRows || (force && staged.length > 0)) {
      await stageRows(trx, cols, staged);
      staged = [];
    }
    if (quarantine.length >= Math.floor(opts.chunkRows / 2) || (force && quarantine.length > 0)) {
      for (let i = 0; i < quarantine.length; i += Math.floor(opts.chunkRows / 2)) {
        await trx('ingest_quarantine').insert(quarantine.slice(i, i + Math.floor(opts.chunkRows / 2)));
      }
      quarantine = [];
    }
  };

  let header: string[] | undefined;
  try {
    for await (const rec of readCsv(f.path)) {
      if (header === undefined) {
        header = rec.fields.map((h) => h.trim());
        continue;
      }
      read++;
      progress.tick();
      const rawObj: Record<string, string> = {};
      header.forEach((h, i) => (rawObj[h] = rec.fields[i] ?? ''));
      const keyValue = (rawObj[kind.key] ?? '').trim() || null;
      if (rec.fields.length !== header.length) {
        addProblem({ line: rec.line, field: null, reason: 'wrong_field_count', detail: `${rec.fields.length} fields, the header has ${header.length}`, key: keyValue, raw: JSON.stringify(rec.fields) });
      } else {
        const row: Record<string, unknown> = { line: rec.line };
        const errors: { field: string; message: string }[] = [];
        for (const c of cols) {
          const v = kind.columns[c]!.decode(rawObj[c]);
          if (isLeft(v)) errors.push({ field: c, message: v.left[0]?.message ?? 'invalid value' });
          else row[c] = v.right;
        }
        if (errors.length === 0) staged.push(row);
        else {
          const first = errors[0]!;
          addProblem({
            line: rec.line,
            field: first.field,
            reason: reasonOf(first.message),
            detail: errors.map((e) => `${e.field}: ${e.message.replace(/^[a-z_]+: /, '')}`).join('; '),
            key: keyValue,
            raw: JSON.stringify(rawObj),
          });
        }
      }
      await flush(false);
    }
  } catch (e) {
    throw new CsvError(f.path, `the CSV cannot be parsed: ${(e as Error).message}`);
  }
  await flush(true);

  // Duplicate keys inside the file: the first occurrence wins, later ones are quarantined with a pointer to it.
  // The index turns the per-row MIN(line) lookups from a scan each (quadratic) into a seek.
  await trx.raw(`CREATE INDEX ${STAGE}_key ON ${STAGE} (${kind.key}, line)`);
  const dupes = await trx.raw(
    `SELECT s.line AS line, s.${kind.key} AS k, (SELECT MIN(d.line) FROM ${STAGE} d WHERE d.${kind.key} = s.${kind.key}) AS first_line
       FROM ${STAGE} s
      WHERE s.line > (SELECT MIN(d.line) FROM ${STAGE} d WHERE d.${kind.key} = s.${kind.key})`,
  );
  const dupeRows = (Array.isArray(dupes) ? dupes : dupes.rows) as Array<{ line: number; k: string; first_line: number }>;
  for (const d of dupeRows) {
    addProblem({ line: Number(d.line), field: kind.key, reason: 'duplicate_key', detail: `${kind.key} ${d.k} already appears on line ${d.first_line} of this file`, key: d.k, raw: null });
    await flush(false);
  }
  await flush(true);
  if (dupeRows.length > 0) {
    await trx.raw(`DELETE FROM ${STAGE} WHERE line > (SELECT MIN(d.line) FROM ${STAGE} d WHERE d.${kind.key} = ${STAGE}.${kind.key})`);
  }

  const distinct = dialectOf(trx) === 'pg' ? 'IS DISTINCT FROM' : 'IS NOT';
  const nonKey = cols.filter((c) => c !== kind.key);
  const changed = nonKey.map((c) => `t.${c} ${distinct} s.${c}`).join(' OR ');
  const count = async (sql: string): Promise<number> => {
    const r = await trx.raw(sql);
    const rows = (Array.isArray(r) ? r : r.rows) as Array<{ n: number | string }>;
    return Number(rows[0]?.n ?? 0);
  };
  const total = await count(`SELECT COUNT(*) AS n FROM ${STAGE}`);
  const updated = await count(`SELECT COUNT(*) AS n FROM ${STAGE} s JOIN ${kind.table} t ON t.${kind.key} = s.${kind.key} WHERE ${changed}`);
  const existing = await count(`SELECT COUNT(*) AS n FROM ${STAGE} s JOIN ${kind.table} t ON t.${kind.key} = s.${kind.key}`);
  // Only new or changed rows are written; a re-load of the same file changes nothing.
  const excludedChanged = nonKey.map((c) => `${kind.table}.${c} ${distinct} excluded.${c}`).join(' OR ');
  await trx.raw(
    `INSERT INTO ${kind.table} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM ${STAGE} WHERE 1 = 1
     ON CONFLICT (${kind.key}) DO UPDATE SET ${nonKey.map((c) => `${c} = excluded.${c}`).join(', ')} WHERE ${excludedChanged}`,
  );
  await trx.raw(`DROP TABLE ${STAGE}`);
  progress.done();
  return {
    stats: { file: f.path, kind: kind.name, read, inserted: total - existing, updated, unchanged: existing - updated, quarantined, byReason },
    firstProblems,
  };
}

/**
 * Rows travel as one JSON parameter per statement: preparing a multi-row VALUES statement with thousands
 * of placeholders cost more than executing it, and SQLite caps such statements at 500 rows.
 */
async function stageRows(trx: Knex.Transaction, cols: readonly string[], rows: readonly Record<string, unknown>[]): Promise<void> {
  const json = JSON.stringify(rows);
  const names = ['line', ...cols];
  if (dialectOf(trx) === 'pg') {
    // the temporary table's own row type converts each field (dates, times, numbers)
    await trx.raw(`INSERT INTO ${STAGE} (${names.join(', ')}) SELECT ${names.join(', ')} FROM json_populate_recordset(NULL::${STAGE}, ?::json)`, [json]);
  } else {
    await trx.raw(
      `INSERT INTO ${STAGE} (${names.join(', ')}) SELECT ${names.map((c) => `json_extract(value, '$.${c}')`).join(', ')} FROM json_each(?)`,
      [json],
    );
  }
}

export function describeLoad(stats: readonly FileStats[]): string {
  const sum = (k: 'read' | 'inserted' | 'updated' | 'unchanged' | 'quarantined') => stats.reduce((a, s) => a + s[k], 0);
  const reasons: Record<string, number> = {};
  for (const s of stats) for (const [r, n] of Object.entries(s.byReason)) reasons[r] = (reasons[r] ?? 0) + (n ?? 0);
  const fmt = (n: number) => n.toLocaleString('en-US');
  const by = Object.entries(reasons)
    .sort((a, b) => b[1] - a[1])
    .map(([r, n]) => `${r} ${fmt(n)}`)
    .join(', ');
  return (
    `${stats.length} file(s): ${fmt(sum('read'))} rows read, ${fmt(sum('inserted'))} inserted, ${fmt(sum('updated'))} updated, ` +
    `${fmt(sum('unchanged'))} unchanged, ${fmt(sum('quarantined'))} quarantined${by !== '' ? ` (${by})` : ''}`
  );
}
