import type { Knex } from 'knex';
import type { from as CopyFrom } from 'pg-copy-streams';
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
  query: (q: ReturnType<typeof CopyFrom>) => ReturnType<typeof CopyFrom>;
}

/** The transaction's own connection (knex hands the same one back inside a transaction). */
async function connectionOf<C>(trx: Knex.Transaction): Promise<C> {
  return (await (trx.client as { acquireConnection: () => Promise<C> }).acquireConnection()) as C;
}

/** How rows meet the table. */
export interface StageOptions {
  /** leading values of each row that are not stored (the load's line number, when the direct path needs none) */
  readonly skip?: number;
  /**
   * The rows hold values of the columns' own types, as the pipeline computes them: numbers for numeric columns
   * (integers for integer ones), ISO strings for dates and times, strings for text. PostgreSQL then gets them in
   * COPY's binary format, which it stores without parsing text (388,469 non-converting paths at scale 10: 2.5
   * against 5.0 s on a loaded machine). Rows read from a file are not: the load stages them as CSV.
   */
  readonly typed?: boolean;
  /**
   * PostgreSQL: COPY ... FREEZE, for a table emptied by TRUNCATE in the same subtransaction: the rows are stored
   * frozen and their pages all-visible, so the first readers after the commit do not set every row's hint bits
   * and dirty its page again, and autovacuum's pass after a big insert finds nothing to do.
   */
  readonly freeze?: boolean;
}

export async function makeStager(trx: Knex.Transaction, table: string, names: readonly string[], chunkRows: number, options: StageOptions = {}): Promise<Stager> {
  const skip = options.skip ?? 0;
  if (dialectOf(trx) === 'pg') {
    // imported here, not with the module: a SQLite run never needs it, and every task's start-up would pay for it
    const { from: copyFrom } = await import('pg-copy-streams');
    const conn = await connectionOf<PgConnection>(trx);
    const encoders = options.typed === true ? await binaryEncoders(trx, table, names) : undefined;
    return encoders !== undefined
      ? pgBinaryStager(conn, copyFrom, table, names, encoders, skip)
      : pgCopyStager(conn, copyFrom, table, names, skip, options.freeze === true);
  }
  // node-sqlite3's prepare is asynchronous: its errors would arrive as events after the row was counted as staged
  if (sqliteDriverOf(trx) !== 'better-sqlite3') return jsonStager(trx, table, names, chunkRows, skip);
  return preparedStager(await connectionOf<BetterSqliteConnection>(trx), table, names, skip);
}

/**
 * Writes rows already in memory (a page of them) through the stager of the transaction's driver, or on
 * better-sqlite3 by prepared INSERTs of several rows (preparedRows). Outside the load the same bulk paths serve the
 * other steps' derived rows (non-converting paths, model credits): knex's batchInsert compiles and prepares a new
 * multi-row statement every few hundred rows.
 */
export async function writeRows(
  trx: Knex.Transaction,
  table: string,
  names: readonly string[],
  rows: ReadonlyArray<readonly unknown[]>,
  chunkRows: number,
): Promise<void> {
  if (rows.length === 0) return;
  if (sqliteDriverOf(trx) === 'better-sqlite3') {
    preparedRows(await connectionOf<BetterSqliteConnection>(trx), table, names, rows);
    return;
  }
  const stager = await makeStager(trx, table, names, chunkRows, { typed: true });
  for (const r of rows) if (stager.add(r)) await stager.flush();
  await stager.close();
}

/**
 * Values bound per statement by preparedWriter. A statement of several rows pays the driver's call, the statement's
 * reset and its result once for all of them: 388,469 non-converting paths (8 columns) at scale 10, in memory, min
 * of 7 runs, 1.06 CPU s a row at a time against 0.79-0.84 at 8 to 32 rows a statement (0.86 at 64).
 */
const VALUES_PER_STATEMENT = 200;

interface RowWriter {
  readonly add: (row: readonly unknown[]) => void;
  /** writes the rows that did not fill a statement */
  readonly end: () => void;
}

/**
 * better-sqlite3: rows written as they come by a prepared INSERT of several rows, the last few by one of a row at
 * end(); the first `skip` values of each row are not stored.
 */
function preparedWriter(conn: BetterSqliteConnection, table: string, names: readonly string[], skip = 0): RowWriter {
  const head = `INSERT INTO ${table} (${names.join(', ')}) VALUES `;
  const one = `(${names.map(() => '?').join(', ')})`;
  const width = names.length;
  const per = Math.max(1, Math.floor(VALUES_PER_STATEMENT / width));
  const values: unknown[] = new Array<unknown>(per * width);
  let many: ReturnType<BetterSqliteConnection['prepare']> | undefined;
  let held = 0;
  return {
    add: (row) => {
      const at = held * width;
      for (let c = 0; c < width; c++) values[at + c] = row[skip + c];
      if (++held < per) return;
      // the values as arguments, not one array: better-sqlite3 reads an array element by element through V8's API
      // (388,469 non-converting paths at scale 10, in memory: 0.74-1.24 against 0.59-1.06 CPU s, lower in each of
      // 9 alternating pairs)
      (many ??= conn.prepare(head + Array.from({ length: per }, () => one).join(', '))).run(...values);
      held = 0;
    },
    end: () => {
      if (held === 0) return;
      const single = conn.prepare(head + one);
      for (let r = 0; r < held; r++) single.run(...values.slice(r * width, (r + 1) * width));
      held = 0;
    },
  };
}

/** better-sqlite3: rows in memory written by preparedWriter. */
function preparedRows(conn: BetterSqliteConnection, table: string, names: readonly string[], rows: ReadonlyArray<readonly unknown[]>): void {
  const w = preparedWriter(conn, table, names);
  for (const row of rows) w.add(row);
  w.end();
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

/**
 * better-sqlite3: each row written as it comes by preparedWriter, synchronously, without parsing of SQL or JSON,
 * several rows to a statement: staging the scale-10 files into a temporary table took 0.9-1.4 CPU s against
 * 1.7-1.9 for the 580,721 sessions and 0.4-0.5 against 0.7-1.2 for their costs at one row a statement (same rows in
 * memory, three runs each, alternating). Written as they come, not gathered first, so that the reader thread's
 * batches keep flowing while this thread inserts.
 */
function preparedStager(conn: BetterSqliteConnection, table: string, names: readonly string[], skip: number): Stager {
  const w = preparedWriter(conn, table, names, skip);
  return {
    add: (row) => {
      w.add(row);
      return false;
    },
    flush: async () => {},
    close: async () => w.end(),
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

/** hands a chunk to a COPY stream; resolves at once, or when the stream has taken what it buffered */
async function sendCopy(stream: ReturnType<typeof CopyFrom>, chunk: string | Buffer): Promise<void> {
  if (stream.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    stream.once('drain', resolve);
    stream.once('error', reject);
  });
}

/** ends a COPY stream; resolves when the server has stored every row */
function endCopy(stream: ReturnType<typeof CopyFrom>, failed: Error | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (failed !== undefined) return reject(failed);
    stream.once('finish', resolve);
    stream.once('error', reject);
    stream.end();
  });
}

/** PostgreSQL: COPY in CSV form, the server's bulk path; strings are always quoted so that only NULL is unquoted-empty. */
function pgCopyStager(conn: PgConnection, copyFrom: typeof CopyFrom, table: string, names: readonly string[], skip: number, freeze: boolean): Stager {
  const stream = conn.query(copyFrom(`COPY ${table} (${names.join(', ')}) FROM STDIN (FORMAT csv${freeze ? ', FREEZE' : ''})`));
  let failed: Error | undefined;
  stream.on('error', (e: Error) => (failed = e));
  let buffered = '';
  const cell = (v: unknown): string =>
    v === null || v === undefined ? '' : typeof v === 'string' ? `"${v.includes('"') ? v.replace(/"/g, '""') : v}"` : String(v);
  const flush = async (): Promise<void> => {
    if (failed !== undefined) throw failed;
    if (buffered === '') return;
    const chunk = buffered;
    buffered = '';
    await sendCopy(stream, chunk);
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
      await endCopy(stream, failed);
    },
  };
}

/** writes one non-NULL value of a column, with its length, at `out.at` (and moves it on) */
type Encoder = (v: unknown, out: BinaryOut) => void;

interface BinaryOut {
  buf: Buffer;
  at: number;
}

function room(out: BinaryOut, n: number): void {
  if (out.at + n <= out.buf.length) return;
  const next = Buffer.allocUnsafe(Math.max(out.buf.length * 2, out.at + n));
  out.buf.copy(next, 0, 0, out.at);
  out.buf = next;
}

const PG_EPOCH_DAYS = 10957; // 2000-01-01, PostgreSQL's day 0, in days from 1970-01-01
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_TIME = /^(\d{2}):(\d{2}):(\d{2})$/;

function fixed(size: number, write: (out: BinaryOut, v: unknown) => void): Encoder {
  return (v, out) => {
    room(out, 4 + size);
    out.buf.writeInt32BE(size, out.at);
    out.at += 4;
    write(out, v);
    out.at += size;
  };
}

/** a safe integer as a big-endian int64, without a BigInt per value */
function int64(o: BinaryOut, v: number): void {
  const hi = Math.floor(v / 2 ** 32);
  o.buf.writeInt32BE(hi, o.at);
  o.buf.writeUInt32BE(v - hi * 2 ** 32, o.at + 4);
}

const pgDays = new Map<string, number>();
/** PostgreSQL's day number of an ISO date; the dates seen are remembered (a window holds few distinct ones) */
function pgDay(v: unknown): number {
  const known = typeof v === 'string' ? pgDays.get(v) : undefined;
  if (known !== undefined) return known;
  const m = typeof v === 'string' ? ISO_DATE.exec(v) : null;
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999
  const day = new Date(0);
  if (m !== null) day.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  // a date that rolls over (2023-02-30) is not one
  if (m === null || day.toISOString().slice(0, 10) !== v) throw new Error(`binary COPY: ${String(v)} is not a date YYYY-MM-DD`);
  const n = day.getTime() / 86400000 - PG_EPOCH_DAYS;
  if (pgDays.size < 100_000) pgDays.set(v as string, n);
  return n;
}

function integer(v: unknown, bits: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || (bits < 64 && (v < -(2 ** (bits - 1)) || v >= 2 ** (bits - 1)))) throw new Error(`binary COPY: ${String(v)} is not a ${bits}-bit integer`);
  return v;
}

/** the binary form of each PostgreSQL type the pipeline's derived rows use, by type oid */
const ENCODERS: ReadonlyMap<number, Encoder> = new Map<number, Encoder>([
  [21, fixed(2, (o, v) => o.buf.writeInt16BE(integer(v, 16), o.at))],
  [23, fixed(4, (o, v) => o.buf.writeInt32BE(integer(v, 32), o.at))],
  [20, fixed(8, (o, v) => int64(o, integer(v, 64)))],
  [701, fixed(8, (o, v) => {
    if (typeof v !== 'number') throw new Error(`binary COPY: ${String(v)} is not a number`);
    o.buf.writeDoubleBE(v, o.at);
  })],
  [1082, fixed(4, (o, v) => o.buf.writeInt32BE(pgDay(v), o.at))],
  [1083, fixed(8, (o, v) => {
    const m = typeof v === 'string' ? ISO_TIME.exec(v) : null;
    if (m === null || Number(m[1]) > 24 || Number(m[2]) > 59 || Number(m[3]) > 59) throw new Error(`binary COPY: ${String(v)} is not a time HH:MM:SS`);
    int64(o, ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1_000_000);
  })],
  ...[25, 1043].map((oid): [number, Encoder] => [
    oid,
    (v, out) => {
      const str = typeof v === 'string' ? v : String(v);
      const n = Buffer.byteLength(str, 'utf8');
      room(out, 4 + n);
      out.buf.writeInt32BE(n, out.at);
      out.at += 4;
      out.at += out.buf.write(str, out.at, n, 'utf8');
    },
  ]),
]);

/** the encoder of each column, or undefined when a column has a type the binary stager does not write */
async function binaryEncoders(trx: Knex.Transaction, table: string, names: readonly string[]): Promise<Encoder[] | undefined> {
  // asked each time (a millisecond): a migration run in the same process may change a table
  const r = (await trx.raw(
    `SELECT a.attname AS name, CAST(a.atttypid AS integer) AS oid FROM pg_attribute a
      WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped`,
    [table],
  )) as { rows: Array<{ name: string; oid: number }> };
  const byName = new Map(r.rows.map((c) => [c.name, ENCODERS.get(c.oid)]));
  const out: Encoder[] = [];
  for (const n of names) {
    const e = byName.get(n);
    if (e === undefined) return undefined;
    out.push(e);
  }
  return out;
}

const BINARY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);

/** PostgreSQL, typed rows: COPY in binary format, the buffer handed over at about 1 MB */
function pgBinaryStager(conn: PgConnection, copyFrom: typeof CopyFrom, table: string, names: readonly string[], encoders: readonly Encoder[], skip: number): Stager {
  const stream = conn.query(copyFrom(`COPY ${table} (${names.join(', ')}) FROM STDIN (FORMAT binary)`));
  let failed: Error | undefined;
  stream.on('error', (e: Error) => (failed = e));
  const fresh = (): BinaryOut => ({ buf: Buffer.allocUnsafe(1 << 20), at: 0 });
  let out = fresh();
  BINARY_HEADER.copy(out.buf, 0);
  out.at = BINARY_HEADER.length;
  const flush = async (): Promise<void> => {
    if (failed !== undefined) throw failed;
    if (out.at === 0) return;
    const chunk = out.buf.subarray(0, out.at);
    out = fresh();
    await sendCopy(stream, chunk);
  };
  return {
    add: (row) => {
      room(out, 2);
      out.buf.writeInt16BE(encoders.length, out.at);
      out.at += 2;
      for (let i = 0; i < encoders.length; i++) {
        const v = row[skip + i];
        if (v === null || v === undefined) {
          room(out, 4);
          out.buf.writeInt32BE(-1, out.at);
          out.at += 4;
          continue;
        }
        try {
          encoders[i]!(v, out);
        } catch (e) {
          // the server ends the COPY (CopyFail), so that the connection can roll the transaction back
          stream.destroy(e as Error);
          throw e;
        }
      }
      return out.at >= 1 << 20;
    },
    flush,
    close: async () => {
      room(out, 2);
      out.buf.writeInt16BE(-1, out.at);
      out.at += 2;
      await flush();
      await endCopy(stream, failed);
    },
  };
}
