import * as fs from 'node:fs';
import * as path from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import type { Config, SqliteClient } from '../config.js';

export type Dialect = 'sqlite' | 'pg';

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
  pg.types.setTypeParser(1082, (v: string) => v); // date
  pg.types.setTypeParser(1083, (v: string) => v); // time
  pg.types.setTypeParser(20, (v: string) => Number(v)); // int8 (count(*))
  pg.types.setTypeParser(1700, (v: string) => Number(v)); // numeric (sum of ints)
}

export function makeDb(dbConfig: Config['database'], target: Target = targetOf(dbConfig)): Knex {
  if (target.dialect === 'pg') {
    setPgTypes();
    return knex({ client: 'pg', connection: target.url, pool: { min: 0, max: dbConfig.pool_max } });
  }
  if (target.file !== ':memory:') fs.mkdirSync(path.dirname(target.file), { recursive: true });
  const busy = dbConfig.busy_timeout_ms;
  // WAL lets readers work while a task writes; busy_timeout makes a second writer wait instead of failing;
  // foreign keys are off by default in SQLite.
  const pragmas = ['journal_mode = WAL', `busy_timeout = ${busy}`, 'foreign_keys = ON', 'synchronous = NORMAL'];
  if (target.client === 'better-sqlite3') {
    return knex({
      client: 'better-sqlite3',
      connection: { filename: target.file },
      useNullAsDefault: true,
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
    client: 'sqlite3',
    connection: { filename: target.file },
    useNullAsDefault: true,
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
  const client = String(db.client.config.client);
  return client === 'pg' || client === 'postgres' || client === 'postgresql' ? 'pg' : 'sqlite';
}
