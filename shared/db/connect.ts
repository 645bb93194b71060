import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Knex } from 'knex';
import type { Config, SqliteClient } from '../config.js';

export type Dialect = 'sqlite' | 'pg';

/*
 * knex and pg are required when a database is opened, not when this module is: every task imports it, and at
 * start-up knex cost about 0.19 CPU s and pg 0.11 (pg also makes Node load its fetch implementation, to ask
 * whether it runs on Cloudflare). --help needs neither, and a SQLite run never needs pg. Both are CommonJS, so
 * require keeps makeDb synchronous.
 */
// in the task bundles this line is dropped and the requires below are bundled (scripts/bundle.mjs)
const require = createRequire(import.meta.url);
type KnexModule = typeof import('knex').knex;
let knexModule: KnexModule | undefined;
const loadKnex = (): KnexModule => (knexModule ??= require('knex') as KnexModule);

export type Target =
  | { readonly dialect: 'sqlite'; readonly client: SqliteClient; readonly file: string }
  | { readonly dialect: 'pg'; readonly url: string };

/** `database.url` is a SQLite file path (relative to the working folder) or a postgres:// URL. */
export function targetOf(db: Config['database']): Target {
  if (/^postgres(ql)?:\/\//.test(db.url)) return { dialect: 'pg', url: db.url };
  const file = db.url.startsWith('sqlite://') ? db.url.slice('sqlite://'.length) : db.url;
  return { dialect: 'sqlite', client: db.sqlite_client, file: file === ':memory:' ? file : path.resolve(file) };
}

/** Where the data lives, for logs: never the password. */
export function describeTarget(t: Target): string {
  if (t.dialect === 'sqlite') return `SQLite file ${t.file} (${t.client})`;
  const u = new URL(t.url);
  return `PostgreSQL ${u.hostname}:${u.port || '5432'}${u.pathname}`;
}

let pgTypesSet = false;
/** Dates and times stay the strings the challenge schema holds; counts and numerics come back as numbers. */
function setPgTypes(): void {
  if (pgTypesSet) return;
  pgTypesSet = true;
  const pg = require('pg') as typeof import('pg');
  pg.types.setTypeParser(1082, (v: string) => v); // date
  pg.types.setTypeParser(1083, (v: string) => v); // time
  pg.types.setTypeParser(20, (v: string) => Number(v)); // int8 (count(*))
  pg.types.setTypeParser(1700, (v: string) => Number(v)); // numeric (sum of ints)
}

export interface DbOptions {
  /** where knex's own warnings go (pool errors that the caller also gets as a rejected query); default: dropped */
  readonly log?: (message: string) => void;
}

/** work_mem of the pipeline's PostgreSQL sessions (see makeDb). */
const PG_WORK_MEM = '64MB';

/**
 * SQLite's page cache of every connection, KiB: SQLite's own default (node-sqlite3 keeps it), where better-sqlite3
 * sets 16 MB. It also bounds each sort run the sorter holds in memory (it spills past it). At 16 MB the cache and the
 * sorts filled further at every scale, so a step's peak RSS grew with the window; at 2 MB they are full at scale 10
 * already. Peak RSS scale 10 -> 30, medians of 3 interleaved runs (process-attribution 7): build-journeys 138 -> 159
 * MB at 16 MB, 118 -> 120 at 2; send-to-api (local) 133 -> 136, 116 -> 121; process-attribution 142 -> 169, 122 ->
 * 138 (what still grows there is the fit's distinct paths). CPU s the same within the noise: build-journeys 2.61 /
 * 7.22 -> 2.47 / 6.91, send-to-api 0.90 / 1.94 -> 0.79 / 1.88, process-attribution 2.86 / 8.16 -> 2.89 / 8.40.
 * The load and the migrations set their own (withSqlitePragmas).
 */
export const SQLITE_CACHE_KIB = 2000;

export function makeDb(dbConfig: Config['database'], target: Target = targetOf(dbConfig), opts: DbOptions = {}): Knex {
  const knex = loadKnex();
  const sink = opts.log ?? (() => undefined);
  // knex prints "Acquire connection error" with a stack for every failed open, and the same error reaches the
  // task, which reports it once: its copy goes to the caller's sink (the task's debug log) instead of stderr
  const log = { warn: sink, error: sink, deprecate: sink, debug: sink };
  if (target.dialect === 'pg') {
    setPgTypes();
    // JIT compiles a query whose estimated cost is high, and the window queries' correlated subqueries make every
    // estimate high: it spent 1.8-2.6 s compiling queries that run in 1 s (build-journeys, process-attribution at
    // scale 1). A server without JIT (before PostgreSQL 11) refuses the setting and loses nothing.
    // work_mem: the server's default (4 MB) sends the window queries' sorts to disk (the path queries of
    // process-attribution sorted 90 MB there in three workers, build-journeys' journeys insert 160 MB at scale 10).
    // PG_WORK_MEM per sort or hash of one of our sessions, not the server's setting: other users keep theirs.
    const settings = (conn: { query: (sql: string, cb: () => void) => void }, done: (err: Error | null, conn: unknown) => void): void =>
      conn.query('SET jit = off', () => conn.query(`SET work_mem = '${PG_WORK_MEM}'`, () => done(null, conn)));
    return knex({ client: clientFor(target), connection: target.url, pool: { min: 0, max: dbConfig.pool_max, afterCreate: settings }, log });
  }
  if (target.file !== ':memory:') fs.mkdirSync(path.dirname(target.file), { recursive: true });
  const busy = dbConfig.busy_timeout_ms;
  // WAL lets readers work while a task writes; busy_timeout makes a second writer wait instead of failing;
  // foreign keys are off by default in SQLite. synchronous = NORMAL under WAL: a killed process loses no commit,
  // a power cut may lose the last ones; the steps are reruns of their window, so an fsync per commit buys nothing.
  const pragmas = ['journal_mode = WAL', `busy_timeout = ${busy}`, 'foreign_keys = ON', 'synchronous = NORMAL', `cache_size = -${SQLITE_CACHE_KIB}`];
  if (target.client === 'better-sqlite3') {
    return knex({
      client: clientFor(target),
      connection: { filename: target.file },
      useNullAsDefault: true,
      log,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: { pragma: (s: string) => unknown }, done: (err: Error | null, conn: unknown) => void) => {
          try {
            for (const p of pragmas) conn.pragma(p);
            done(null, conn);
          } catch (e) {
            done(e as Error, conn);
          }
        },
      },
    });
  }
  return knex({
    client: clientFor(target),
    connection: { filename: target.file },
    useNullAsDefault: true,
    log,
    pool: {
      min: 1,
      max: 1,
      afterCreate: (
        conn: { run: (sql: string, cb: (err: Error | null) => void) => void },
        done: (err: Error | null, conn: unknown) => void,
      ) => {
        const next = (i: number): void => {
          if (i === pragmas.length) return done(null, conn);
          conn.run(`PRAGMA ${pragmas[i]}`, (err) => (err !== null ? done(err, conn) : next(i + 1)));
        };
        next(0);
      },
    },
  });
}

export function dialectOf(db: Knex): Dialect {
  // the SQLite clients are our own subclasses (below), so the configured name is not a string: ask the dialect
  return (db.client as { dialect?: string }).dialect === 'postgresql' ? 'pg' : 'sqlite';
}

/**
 * SQLite's driver, by the client's name ('better-sqlite3' or 'sqlite3'; undefined on PostgreSQL), not by duck
 * typing: node-sqlite3's Database has a `prepare` too, but an asynchronous one.
 */
export function sqliteDriverOf(db: Knex): string | undefined {
  return dialectOf(db) === 'sqlite' ? (db.client as { driverName?: string }).driverName : undefined;
}

/**
 * Every write goes through here. On SQLite the transaction begins IMMEDIATE (see immediateClient), so a
 * second writer waits up to busy_timeout_ms for the first one instead of failing at once with "database is
 * locked"; on PostgreSQL it is an ordinary transaction.
 */
export function writeTransaction<T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(work);
}

// knex's own types describe its Client class loosely; what it accepts as `client` is a constructor of one
type KnexClass = KnexModule['Client'];
type RawClient = new (...args: unknown[]) => { acquireRawConnection(): Promise<unknown> };
type RawTransaction = new (...args: unknown[]) => { query: (conn: unknown, sql: string) => Promise<unknown> };

/**
 * The dialect's knex client, adjusted in two ways knex has no option for:
 * - a failure to open the database names it ("cannot open SQLite file /x/y.db: ..."), because the driver's
 *   own words ("unable to open database file", "connect ECONNREFUSED") do not say which;
 * - on SQLite, transactions begin IMMEDIATE. knex begins them DEFERRED: as readers that upgrade to writers at
 *   the first write. In WAL mode SQLite does not wait (busy_timeout) for an upgrade when another connection
 *   wrote meanwhile, so the second of two writers failed at once with "database is locked". `BEGIN IMMEDIATE`
 *   takes the write lock first, and waiting for that lock honours busy_timeout. Savepoints are unchanged.
 */
function clientFor(target: Target): KnexClass {
  const where = describeTarget(target);
  // named one by one, not by a template: a bundler can only follow a require it can read (scripts/bundle.mjs)
  const Base = (
    target.dialect === 'pg'
      ? require('knex/lib/dialects/postgres/index.js')
      : target.client === 'sqlite3'
        ? require('knex/lib/dialects/sqlite3/index.js')
        : require('knex/lib/dialects/better-sqlite3/index.js')
  ) as RawClient;
  class NamedClient extends Base {
    override async acquireRawConnection(): Promise<unknown> {
      try {
        return await super.acquireRawConnection();
      } catch (e) {
        if (e instanceof Error) e.message = `cannot open the ${where}: ${e.message}`;
        throw e;
      }
    }
  }
  if (target.dialect === 'pg') return NamedClient as unknown as KnexClass;
  const SqliteTransaction = require('knex/lib/dialects/sqlite3/execution/sqlite-transaction.js') as RawTransaction;
  class ImmediateTransaction extends SqliteTransaction {
    begin(conn: unknown): Promise<unknown> {
      return this.query(conn, 'BEGIN IMMEDIATE;');
    }
  }
  class ImmediateClient extends NamedClient {
    transaction(...args: unknown[]): ImmediateTransaction {
      return new ImmediateTransaction(this, ...args);
    }
  }
  return ImmediateClient as unknown as KnexClass;
}
