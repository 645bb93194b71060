import type { Knex } from 'knex';
import { from as copyFrom } from 'pg-copy-streams';
import { dialectOf, sqliteDriverOf } from '../db/connect.js';

/**
 * How checked rows reach the staging table, fastest first for each driver. A row is an array: the line
 * number, then the columns in the order given. All three write through the load's own transaction.
 */
export interface Stager {
  /** stages one row; true when enough is buffered that `flush` should be awaited */
  readonly add: (row: readonly unknown[]) => boolean;
  readonly flush: () => Promise<void>;
  /** flushes and ends the stream; after it every added row is in the table */
  readonly close: () => Promise<void>;
}

interface BetterSqliteConnection {
  prepare: (sql: string) => { run: (...params: unknown[]) => unknown };
}
interface PgConnection {
  query: (q: ReturnType<typeof copyFrom>) => ReturnType<typeof copyFrom>;
}

/** The transaction's own connection (knex hands the same one back inside a transaction). */
async function connectionOf<C>(trx: Knex.Transaction): Promise<C> {
  return (await (trx.client as { acquireConnection: () => Promise<C> }).acquireConnection()) as C;
}

/** How rows meet the table. */
export interface StageOptions {
  /** leading values of each row that are not stored (the load's line number, when the direct path needs none) */
  readonly skip?: number;
}

export async function makeStager(trx: Knex.Transaction, table: string, names: readonly string[], chunkRows: number, options: StageOptions = {}): Promise<Stager> {
  const skip = options.skip ?? 0;
  if (dialectOf(trx) === 'pg') return pgCopyStager(await connectionOf<PgConnection>(trx), table, names, skip);
  // node-sqlite3's prepare is asynchronous: its errors would arrive as events after the row was counted as staged
  if (sqliteDriverOf(trx) !== 'better-sqlite3') return jsonStager(trx, table, names, chunkRows, skip);
  return preparedStager(await connectionOf<BetterSqliteConnection>(trx), table, names, skip);
}

/**
 * Writes rows already in memory (a page of them) through the stager of the transaction's driver. Outside the
 * load the same bulk paths serve the other steps' derived rows (non-converting paths, model credits): knex's
 * batchInsert compiles and prepares a new multi-row statement every few hundred rows.
 */
export async function writeRows(
  trx: Knex.Transaction,
  table: string,
  names: readonly string[],
  rows: ReadonlyArray<readonly unknown[]>,
  chunkRows: number,
): Promise<void> {
  if (rows.length === 0) return;
  const stager = await makeStager(trx, table, names, chunkRows);
  for (const r of rows) if (stager.add(r)) await stager.flush();
  await stager.close();
}

/**
 * better-sqlite3 only: one prepared statement run with the given values each call, synchronously (undefined on the
 * other drivers, which take rows through makeStager). For a writer whose one call inserts several rows that share
 * values, bound once instead of once per row.
 */
export async function preparedRun(trx: Knex.Transaction, sql: string): Promise<((values: readonly unknown[]) => void) | undefined> {
  if (sqliteDriverOf(trx) !== 'better-sqlite3') return undefined;
  const stmt = (await connectionOf<BetterSqliteConnection>(trx)).prepare(sql);
  return (values) => void stmt.run(values);
}

interface BetterSqliteReader {
  prepare: (sql: string) => { raw: (on: boolean) => { all: (...params: unknown[]) => unknown[][] } };
}

/**
 * A SELECT run page after page, its rows as arrays of values in column order: the read counterpart of writeRows,
 * for reads that bring a whole window into the program. better-sqlite3 prepares it once and returns arrays (its
 * raw mode): building an object per row cost about 2 us, 1.2 of the 3.0 CPU s that the 580,721 sessions of the
 * non-converting paths took at scale 10. Other drivers go through knex, each row's values in column order.
 */
export async function rowReader(trx: Knex.Transaction, sql: string): Promise<(bindings: readonly unknown[]) => Promise<unknown[][]>> {
  if (sqliteDriverOf(trx) === 'better-sqlite3') {
    const stmt = (await connectionOf<BetterSqliteReader>(trx)).prepare(sql).raw(true);
    return async (bindings) => stmt.all(...bindings);
  }
  return async (bindings) => {
    const r = (await trx.raw(sql, bindings as Knex.RawBinding[])) as unknown;
    const rows = Array.isArray(r) ? r : (r as { rows: unknown[] }).rows;
    return rows.map((row) => Object.values(row as object) as unknown[]);
  };
}

/** better-sqlite3: one prepared INSERT reused for the whole file, each row a synchronous step, no parsing of SQL or JSON. */
function preparedStager(conn: BetterSqliteConnection, table: string, names: readonly string[], skip: number): Stager {
  const stmt = conn.prepare(`INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`);
  return {
    add: (row) => {
      stmt.run(skip === 0 ? row : row.slice(skip));
      return false;
    },
    flush: async () => {},
    close: async () => {},
  };
}

/**
 * node-sqlite3 (asynchronous, a round trip per statement): rows travel as one JSON parameter per statement,
 * since preparing a multi-row VALUES statement cost more than executing it and SQLite caps those at 500 rows.
 */
function jsonStager(trx: Knex.Transaction, table: string, names: readonly string[], chunkRows: number, skip: number): Stager {
  let rows: (readonly unknown[])[] = [];
  const sql = `INSERT INTO ${table} (${names.join(', ')}) SELECT ${names.map((_, i) => `json_extract(value, '$[${i + skip}]')`).join(', ')} FROM json_each(?)`;
  const flush = async (): Promise<void> => {
    if (rows.length === 0) return;
    const json = JSON.stringify(rows);
    rows = [];
    await trx.raw(sql, [json]);
  };
  return {
    add: (row) => {
      rows.push(row);
      return rows.length >= chunkRows;
    },
    flush,
    close: flush,
  };
}

/** PostgreSQL: COPY in CSV form, the server's bulk path; strings are always quoted so that only NULL is unquoted-empty. */
function pgCopyStager(conn: PgConnection, table: string, names: readonly string[], skip: number): Stager {
  const stream = conn.query(copyFrom(`COPY ${table} (${names.join(', ')}) FROM STDIN (FORMAT csv)`));
  let failed: Error | undefined;
  stream.on('error', (e: Error) => (failed = e));
  let buffered = '';
  const cell = (v: unknown): string =>
    v === null || v === undefined ? '' : typeof v === 'string' ? `"${v.includes('"') ? v.replace(/"/g, '""') : v}"` : String(v);
  const flush = async (): Promise<void> => {
    if (failed !== undefined) throw failed;
    if (buffered === '') return;
    const ok = stream.write(buffered);
    buffered = '';
    if (!ok) await new Promise<void>((resolve, reject) => {
      stream.once('drain', resolve);
      stream.once('error', reject);
    });
  };
  return {
    add: (row) => {
      let line = cell(row[skip]);
      for (let i = skip + 1; i < row.length; i++) line += ',' + cell(row[i]);
      buffered += line + '\n';
      return buffered.length >= 1 << 20;
    },
    flush,
    close: async () => {
      await flush();
      await new Promise<void>((resolve, reject) => {
        if (failed !== undefined) return reject(failed);
        stream.once('finish', resolve);
        stream.once('error', reject);
        stream.end();
      });
    },
  };
}
