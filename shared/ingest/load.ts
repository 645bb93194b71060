import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Knex } from 'knex';
import * as TE from 'fp-ts/lib/TaskEither.js';
import * as t from 'io-ts';
import { dialectOf, writeTransaction } from '../db/connect.js';
import { withSqlitePragmas } from '../db/pragmas.js';
import { CountRow, dbOver, DbFailure, DbNumber, DbText, orThrow } from '../db/db.js';
import { databaseError, inputError, type AppError } from '../errors.js';
import type { Progress } from '../progress.js';
import { countDataLines, CsvSyntaxError, readHeader } from './csv.js';
import type { Problem } from './decode.js';
import { MAX_FIELD_BYTES, type Reason } from './fields.js';
import { headerProblems, type Kind } from './kinds.js';
import { decodedBatches } from './packed.js';
import { makeStager, type Stager } from './stage.js';
import { enforced } from '../db/guarantees.js';

const DuplicateKey = t.type({ line: DbNumber, k: DbText, first_line: DbNumber });
const IndexRow = t.type({ name: DbText, sql: DbText });

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
  /** a line when the set work after staging starts, which takes a while on big files and shows no progress */
  readonly note?: (message: string) => void;
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
    const loadAll = async (trx: Knex.Transaction): Promise<FileStats[]> => {
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
    };
    try {
      const stats = await writeTransaction(db, async (trx) => {
        // PostgreSQL: the staging index, duplicate grouping and upsert sort in memory instead of on disk, and the
        // key and index builds after a COPY into an empty table too (PG_INDEX_BUILD_MEMORY)
        if (dialectOf(trx) === 'pg') await trx.raw(`SET LOCAL work_mem = '${LOAD_CACHE_KIB}kB'; SET LOCAL maintenance_work_mem = '${PG_INDEX_BUILD_MEMORY}'`);
        // SQLite, for the load only: a bigger page cache (the upsert and index builds touch pages all over the
        // tables) and the sorter's helper threads (LOAD_SORT_THREADS)
        return withSqlitePragmas(trx, { cache_size: -LOAD_CACHE_KIB, threads: LOAD_SORT_THREADS }, () => loadAll(trx));
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
      // already mapped by the Db capability (its tag and exit code stay); the words say that nothing was kept
      if (e instanceof DbFailure) return { _tag: 'Left', left: { ...e.error, message: `loading failed and nothing was changed: ${e.error.message}` } };
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

/**
 * Page cache of a SQLite load, KiB. Measured at scale 10 and dropped: 128 MB (the index builds' sorts then fit in
 * memory) gave no CPU back and peak RSS 253 -> 410 MB.
 */
const LOAD_CACHE_KIB = 32768;

/**
 * Helper threads of SQLite's sorter during a load (PRAGMA threads). While the file is read the reader thread keeps
 * the second core busy, but the sorted copy into the table and the index builds after it ran on one thread: the
 * helpers sort each filled run and merge runs beside the loading thread. The loading thread's own CPU time for the
 * sorted copy of the 580,721 sessions at scale 10 plus the two index builds: 4.1-4.6 s without helpers, 3.1-3.4 with
 * one, 2.6-2.8 with two (two runs each, alternating); the process's CPU time, helpers included, stays about the
 * same (+0.1-0.4 s). On a quiet two-core machine the loading thread is what the wall clock waits for. Each helper
 * holds a sort run of its own, bounded by the page cache size whatever the file: the load's peak RSS 190 MB without
 * helpers, about 220 with one, 255 with two.
 */
const LOAD_SORT_THREADS = 2;

/**
 * maintenance_work_mem of a PostgreSQL load: what its key and index builds sort in (a parallel build shares it
 * among its workers). At 32 MB, session_sources' key and two indexes and session_costs' key at scale 10 each
 * sorted on disk: 11.5-16.2 s wall for the four builds against 7.2-11.6 at 256 MB (same CPU, 5.7-7.5 s; a shared
 * two-core machine, alternate runs). Held by the server during a build only.
 */
const PG_INDEX_BUILD_MEMORY = '256MB';

/** Bytes and fields kept per record: enough for any valid row, bounded whatever the file holds. */
const LIMITS = { maxFieldBytes: MAX_FIELD_BYTES, maxFields: 64 };

/** Where a file's invalid rows go: counted by reason, the first ones kept for --strict, written in chunks. */
interface Quarantine {
  readonly add: (p: Problem) => void;
  readonly flush: (force: boolean) => Promise<void>;
  readonly count: () => number;
  readonly byReason: Partial<Record<Reason, number>>;
  readonly firstProblems: Problem[];
}

function makeQuarantine(trx: Knex.Transaction, f: LoadFile, opts: LoadOptions): Quarantine {
  const byReason: Partial<Record<Reason, number>> = {};
  const firstProblems: Problem[] = [];
  let pending: Record<string, unknown>[] = [];
  let quarantined = 0;
  const createdAt = opts.now().toISOString();
  const chunk = Math.max(1, Math.floor(opts.chunkRows / 2));
  return {
    byReason,
    firstProblems,
    count: () => quarantined,
    add: (p) => {
      quarantined++;
      byReason[p.reason] = (byReason[p.reason] ?? 0) + 1;
      if (firstProblems.length < 10) firstProblems.push(p);
      pending.push({
        run_id: opts.runId,
        source_file: f.path,
        line: p.line,
        table_name: f.kind.table,
        record_key: p.key,
        field: p.field,
        reason: p.reason,
        detail: p.detail,
        raw: p.raw,
        created_at: createdAt,
      });
    },
    flush: async (force) => {
      if (pending.length >= chunk || (force && pending.length > 0)) {
        for (let i = 0; i < pending.length; i += chunk) await trx('ingest_quarantine').insert(pending.slice(i, i + chunk));
        pending = [];
      }
    },
  };
}

/**
 * Reads, decodes and checks the whole file: each valid row goes to `stager`, each invalid one to the
 * quarantine. Returns the data records read and the rows staged.
 */
async function readFile(f: LoadFile, stager: Stager, quarantine: Quarantine, progress: Progress): Promise<{ read: number; staged: number }> {
  let read = 0;
  let staged = 0;
  try {
    for await (const d of decodedBatches(f.path, f.kind, LIMITS)) {
      for (const p of d.problems) quarantine.add(p);
      for (const row of d.rows) if (stager.add(row)) await stager.flush();
      staged += d.rows.length;
      read += d.read;
      progress.tick(d.read);
      await quarantine.flush(false);
    }
    await stager.close();
  } catch (e) {
    if (e instanceof CsvSyntaxError) throw new CsvError(f.path, `the CSV cannot be parsed: ${e.message}`);
    throw e;
  }
  await quarantine.flush(true);
  return { read, staged };
}

async function loadOne(trx: Knex.Transaction, f: LoadFile, opts: LoadOptions): Promise<{ stats: FileStats; firstProblems: Problem[] }> {
  const total = await countDataLines(f.path);
  // PostgreSQL: other writers of the table wait until this load commits (readers do not), so an empty table stays
  // empty until the direct path's insert, and the staging path's counts stay true and its plain INSERT of new keys
  // cannot meet a key that another load inserted meanwhile
  if (dialectOf(trx) === 'pg') await trx.raw(`LOCK TABLE ${f.kind.table} IN SHARE ROW EXCLUSIVE MODE`);
  const empty = (await orThrow(dbOver(trx).select(`looking into ${f.kind.table}`, CountRow, `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${f.kind.table} LIMIT 1) x`)))[0]?.n === 0;
  // the direct path relies on the key to find a repeat: an adopted table without its primary key would keep both
  if (empty && (await enforced(trx, { kind: 'unique', table: f.kind.table, column: f.kind.key }))) {
    const direct = await loadIntoEmptyTable(trx, f, opts, total);
    if (direct !== undefined) return direct;
  }
  return loadThroughStage(trx, f, opts, total);
}

const DIRECT = 'ingest_direct';
/** PostgreSQL's SQLSTATE for a repeated key */
const UNIQUE_VIOLATION = '23505';

/**
 * A file into an empty table: the rows are written to a temporary table as they come (no index, no
 * key check), then into the table with one INSERT ... SELECT sorted by key, without the staging path's index,
 * duplicate grouping and change count (half of the load's time at scale 10). Sorted, so that the table's rows
 * and its key index are written front to back and the rows end up stored in key order: every later lookup of a
 * session by session_id that reads its date or channel (the cost checks of build-journeys and
 * process-attribution, the credit's dates) then walks the table in order. In file order each such lookup
 * fetched a random page (at scale 10: build-journeys' session_without_cost count 0.8 -> 2.5 CPU s, the
 * reconciliation's cost pass 0.7 -> 2.8), while the sort costs the load about what the random inserts into the
 * key index did. SQLite's sorter spills to temporary files past the page cache, so memory stays flat.
 * Nothing can be updated or unchanged, so the one thing the staging table would find is a key repeated in the
 * file; the primary key finds it instead (ON CONFLICT DO NOTHING stores one occurrence only, and the insert
 * then changes fewer rows than were staged). Such a file is rolled back to the savepoint and loaded again
 * through the staging table, which names the line of each first occurrence. Returns undefined then.
 * PostgreSQL (pgKeyConstraint) sets the key's constraint aside with the secondary indexes and COPYs the rows
 * straight into the table, in file order, then adds the constraint back: one sorted build of the key index,
 * instead of a temporary copy of the file, its sort and an index insert per row. Row order does not matter there:
 * its later steps read these tables by hash joins over sequential scans (at scale 10, build-journeys, send-to-api
 * and process-attribution fetched no row through session_sources' key). A repeated key makes adding the
 * constraint fail with a unique violation; the file then goes through the staging table the same way.
 * The COPY stores its rows frozen (StageOptions.freeze; the table is TRUNCATEd first, which dropping the constraint's
 * lock already allows): at scale 10, session_sources' COPY and its first scan took 0.3 CPU s less, and the
 * autovacuum that followed the load found nothing to do (0.12 CPU s). As PostgreSQL documents for FREEZE, a
 * repeatable-read transaction older than the load's commit then sees the rows where it saw an empty table.
 */
async function loadIntoEmptyTable(
  trx: Knex.Transaction,
  f: LoadFile,
  opts: LoadOptions,
  total: number,
): Promise<{ stats: FileStats; firstProblems: Problem[] } | undefined> {
  const { kind } = f;
  const file = path.basename(f.path);
  const cols = Object.keys(kind.columns);
  await trx.raw(`SAVEPOINT ${DIRECT}`);
  const key = dialectOf(trx) === 'pg' ? await pgKeyConstraint(trx, kind.table, kind.key) : undefined;
  let rebuilt: string[] = [];
  if (key !== undefined) {
    // the table is empty: anything added at least quarter-fills it
    rebuilt = await dropIndexesForBulkInsert(trx, kind.table, 1);
    await trx.raw(`ALTER TABLE ${kind.table} DROP CONSTRAINT ${quoteIdent(key.name)}`);
    // empty already: TRUNCATE only lets the COPY below store its rows frozen (StageOptions.freeze)
    await trx.raw(`TRUNCATE ${kind.table}`);
  } else {
    await trx.raw(`DROP TABLE IF EXISTS ${STAGE}`);
    await trx.raw(`CREATE TEMPORARY TABLE ${STAGE} AS SELECT ${cols.join(', ')} FROM ${kind.table} WHERE 1 = 0`);
  }
  const stager = await makeStager(trx, key !== undefined ? kind.table : STAGE, cols, opts.stageChunkRows, { skip: 1, freeze: key !== undefined });
  const quarantine = makeQuarantine(trx, f, opts);
  const progress = opts.progress(`loading ${file}`, total);
  const { read, staged } = await readFile(f, stager, quarantine, progress);
  let stored: number;
  if (key !== undefined) {
    opts.note?.(`${file}: ${read.toLocaleString('en-US')} rows read; building ${kind.table}'s key and indexes`);
    try {
      await trx.raw(`ALTER TABLE ${kind.table} ADD CONSTRAINT ${quoteIdent(key.name)} ${key.sql}`);
      stored = staged;
    } catch (e) {
      if ((e as { code?: unknown }).code !== UNIQUE_VIOLATION) throw e;
      stored = -1;
    }
  } else {
    opts.note?.(`${file}: ${read.toLocaleString('en-US')} rows read; writing them into ${kind.table} in ${kind.key} order and building its indexes`);
    rebuilt = await dropIndexesForBulkInsert(trx, kind.table, staged);
    if (dialectOf(trx) === 'sqlite') {
      await trx.raw(`INSERT INTO ${kind.table} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM ${STAGE} WHERE 1 = 1 ORDER BY ${kind.key} ON CONFLICT DO NOTHING`);
      stored = (await orThrow(dbOver(trx).select(`counting the rows written to ${kind.table}`, CountRow, `SELECT changes() AS n`)))[0]?.n ?? 0;
    } else {
      try {
        // sorted bytewise, as loadThroughStage explains
        const r = (await trx.raw(`INSERT INTO ${kind.table} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM ${STAGE} ORDER BY ${kind.key} COLLATE "C"`)) as { rowCount: number };
        stored = r.rowCount;
      } catch (e) {
        if ((e as { code?: unknown }).code !== UNIQUE_VIOLATION) throw e;
        stored = -1;
      }
    }
    // (after a unique violation PostgreSQL accepts nothing but the rollback)
    if (stored >= 0) await trx.raw(`DROP TABLE ${STAGE}`);
  }
  if (stored !== staged) {
    progress.done();
    await trx.raw(`ROLLBACK TO ${DIRECT}`);
    await trx.raw(`RELEASE ${DIRECT}`);
    opts.note?.(`${file}: some keys repeat in the file; loading it again through the staging table to name their first lines`);
    return undefined;
  }
  for (const sql of rebuilt) await trx.raw(sql);
  await trx.raw(`RELEASE ${DIRECT}`);
  if (dialectOf(trx) === 'pg') await trx.raw(`ANALYZE ${kind.table}`);
  progress.done();
  return {
    stats: { file: f.path, kind: kind.name, read, inserted: staged, updated: 0, unchanged: 0, quarantined: quarantine.count(), byReason: quarantine.byReason },
    firstProblems: quarantine.firstProblems,
  };
}

const KeyConstraint = t.type({ name: DbText, sql: DbText });

/**
 * PostgreSQL: the primary key or unique constraint on exactly the table's key column, as its name and definition
 * (`PRIMARY KEY (session_id)`), when the load may drop it and add it back and TRUNCATE the table: no foreign key
 * refers to the table. Undefined otherwise (an adopted table whose key is a bare unique index, or one that other
 * tables reference).
 */
async function pgKeyConstraint(trx: Knex.Transaction, table: string, column: string): Promise<{ name: string; sql: string } | undefined> {
  const rows = await orThrow(
    dbOver(trx).select(
      `reading ${table}'s key constraint`,
      KeyConstraint,
      `SELECT k.conname AS name, pg_get_constraintdef(k.oid) AS sql
         FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
        WHERE k.conrelid = to_regclass(?) AND k.contype IN ('p', 'u') AND cardinality(k.conkey) = 1 AND a.attname = ?
          AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' AND r.confrelid = k.conrelid)`,
      [table, column],
    ),
  );
  return rows.length === 1 ? rows[0] : undefined;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

async function loadThroughStage(trx: Knex.Transaction, f: LoadFile, opts: LoadOptions, totalLines: number): Promise<{ stats: FileStats; firstProblems: Problem[] }> {
  const { kind } = f;
  const cols = Object.keys(kind.columns);
  const file = path.basename(f.path);
  const sqlite = dialectOf(trx) === 'sqlite';
  await trx.raw(`DROP TABLE IF EXISTS ${STAGE}`);
  // Same column types as the target (dates stay dates in PostgreSQL), so comparisons need no casts.
  await trx.raw(`CREATE TEMPORARY TABLE ${STAGE} AS SELECT CAST(0 AS INTEGER) AS line, ${cols.join(', ')} FROM ${kind.table} WHERE 1 = 0`);

  const progress = opts.progress(`loading ${file}`, totalLines);
  const quarantine = makeQuarantine(trx, f, opts);
  const stager = await makeStager(trx, STAGE, ['line', ...cols], opts.stageChunkRows);
  const { read, staged } = await readFile(f, stager, quarantine, progress);
  opts.note?.(`${file}: ${read.toLocaleString('en-US')} rows read; checking duplicates and merging into ${kind.table}`);

  // Duplicate keys inside the file: the first occurrence wins, later ones are quarantined with a pointer to it.
  // SQLite: the index makes the grouping one ordered pass, and gives the upsert its rows in key order.
  // PostgreSQL groups and joins by hashing (after ANALYZE gives it the staged row count), faster than building
  // the index first.
  if (sqlite) await trx.raw(`CREATE INDEX ${STAGE}_key ON ${STAGE} (${kind.key}, line)`);
  else await trx.raw(`ANALYZE ${STAGE}`);
  const laterCopies = `SELECT s.line AS line, s.${kind.key} AS k, f.first_line AS first_line
         FROM (SELECT ${kind.key} AS k, MIN(line) AS first_line FROM ${STAGE} GROUP BY ${kind.key} HAVING COUNT(*) > 1) f
         JOIN ${STAGE} s ON s.${kind.key} = f.k AND s.line > f.first_line`;
  const dupeRows = await orThrow(dbOver(trx).select(`finding keys that repeat in ${kind.table}'s file`, DuplicateKey, `${laterCopies} ORDER BY s.line`));
  for (const d of dupeRows) {
    quarantine.add({ line: d.line, field: kind.key, reason: 'duplicate_key', detail: `${kind.key} ${d.k} already appears on line ${d.first_line} of this file`, key: d.k, raw: null });
    await quarantine.flush(false);
  }
  await quarantine.flush(true);
  if (dupeRows.length > 0) await trx.raw(`DELETE FROM ${STAGE} WHERE line IN (SELECT line FROM (${laterCopies}) d)`);
  // (PostgreSQL: loadOne holds the table lock that keeps the counts below true)

  const distinct = sqlite ? 'IS NOT' : 'IS DISTINCT FROM';
  const nonKey = cols.filter((c) => c !== kind.key);
  const changed = nonKey.map((c) => `t.${c} ${distinct} s.${c}`).join(' OR ');
  const first = async (sql: string): Promise<Record<string, number | string | null>> => {
    const r = await trx.raw(sql);
    return ((Array.isArray(r) ? r : r.rows) as Record<string, number | string | null>[])[0] ?? {};
  };
  const total = staged - dupeRows.length;
  const counts = await first(
    `SELECT COUNT(*) AS existing, SUM(CASE WHEN ${changed} THEN 1 ELSE 0 END) AS updated FROM ${STAGE} s JOIN ${kind.table} t ON t.${kind.key} = s.${kind.key}`,
  );
  const existing = Number(counts['existing'] ?? 0);
  const updated = Number(counts['updated'] ?? 0);
  const adding = total - existing;
  const rebuilt = adding > 0 ? await dropIndexesForBulkInsert(trx, kind.table, adding) : [];
  // Only new or changed rows are written; a re-load of the same file changes nothing. In key order, so the
  // primary key index grows at its end instead of at random pages.
  if (sqlite) {
    const excludedChanged = nonKey.map((c) => `${kind.table}.${c} IS NOT excluded.${c}`).join(' OR ');
    await trx.raw(
      `INSERT INTO ${kind.table} (${cols.join(', ')}) SELECT ${cols.join(', ')} FROM ${STAGE} WHERE 1 = 1 ORDER BY ${kind.key}
       ON CONFLICT (${kind.key}) DO UPDATE SET ${nonKey.map((c) => `${c} = excluded.${c}`).join(', ')} WHERE ${excludedChanged}`,
    );
  } else {
    // PostgreSQL: an UPDATE of the changed rows and a plain INSERT of the new ones. INSERT ... ON CONFLICT checks
    // and inserts row by row speculatively, 2.3 times the time of a plain INSERT (580,721 costs rows, scale 10);
    // the table lock above is what makes the plain INSERT safe.
    if (updated > 0) {
      await trx.raw(
        `UPDATE ${kind.table} t SET ${nonKey.map((c) => `${c} = s.${c}`).join(', ')} FROM ${STAGE} s WHERE t.${kind.key} = s.${kind.key} AND (${changed})`,
      );
    }
    if (adding > 0) {
      const onlyNew = existing > 0 ? `WHERE NOT EXISTS (SELECT 1 FROM ${kind.table} t WHERE t.${kind.key} = s.${kind.key})` : '';
      // sorted bytewise: a sort under the database's collation (C.UTF-8, en_US.UTF-8) compares with strcoll and
      // took 7.8 s against 3.0 s for the 580,721 sessions; for ids of digits and letters the two orders agree, so
      // the primary key still grows at its right edge (and any other order would only cost speed)
      await trx.raw(
        `INSERT INTO ${kind.table} (${cols.join(', ')}) SELECT ${cols.map((c) => `s.${c}`).join(', ')} FROM ${STAGE} s ${onlyNew} ORDER BY s.${kind.key} COLLATE "C"`,
      );
    }
  }
  for (const sql of rebuilt) await trx.raw(sql);
  await trx.raw(`DROP TABLE ${STAGE}`);
  if (!sqlite) await trx.raw(`ANALYZE ${kind.table}`);
  progress.done();
  return {
    stats: { file: f.path, kind: kind.name, read, inserted: total - existing, updated, unchanged: existing - updated, quarantined: quarantine.count(), byReason: quarantine.byReason },
    firstProblems: quarantine.firstProblems,
  };
}

/**
 * When a load adds many rows next to what the table holds, its secondary indexes are dropped and built again
 * after the insert: one sort instead of a random page write per row and index. Inside the load's transaction,
 * so a failed or killed load leaves them as they were. Returns the statements that re-create them, read from
 * the catalog, so indexes added by later migrations are kept too. The primary key stays: the upsert needs it.
 * On PostgreSQL dropping an index locks the table against readers too, until the load commits; it happens only
 * when the load at least a quarter-fills the table (a first load, or one much bigger than what is stored).
 */
async function dropIndexesForBulkInsert(trx: Knex.Transaction, table: string, adding: number): Promise<string[]> {
  const db = dbOver(trx);
  const sqlite = dialectOf(trx) === 'sqlite';
  // SQLite: counted only up to the threshold (session_costs has no rowid since migration 009, so MAX(rowid) is gone)
  const sizeSql = sqlite ? `SELECT COUNT(*) AS n FROM (SELECT 1 FROM ${table} LIMIT ?) x` : `SELECT COUNT(*) AS n FROM ${table}`;
  const size = await orThrow(db.select(`measuring ${table}`, CountRow, sizeSql, sqlite ? [adding * 4 + 1] : []));
  if (adding * 4 < (size[0]?.n ?? 0)) return [];
  const indexes = await orThrow(
    sqlite
      ? db.select(`reading ${table}'s indexes`, IndexRow, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`, [table])
      : db.select(
          `reading ${table}'s indexes`,
          IndexRow,
          // not the indexes behind a constraint (the primary key): those are part of the table's definition
          `SELECT c.relname AS name, pg_get_indexdef(x.indexrelid) AS sql
             FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
            WHERE x.indrelid = to_regclass(?) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)`,
          [table],
        ),
  );
  for (const ix of indexes) await trx.raw(`DROP INDEX ${quoteIdent(ix.name)}`);
  return indexes.map((ix) => ix.sql);
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
