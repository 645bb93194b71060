import type { Knex } from 'knex';
import * as t from 'io-ts';
import { dialectOf } from './connect.js';
import { DbNumber, dbOver, orThrow } from './db.js';

/**
 * `work` with some of the SQLite connection's numeric settings changed (`PRAGMA name = value`: cache_size, threads),
 * each put back as it was found when `work` ends, whether it succeeds or fails: they belong to the connection,
 * which the pool hands to the next user. PostgreSQL runs `work` as it is (its settings go by SET LOCAL).
 */
export async function withSqlitePragmas<T>(db: Knex, settings: Readonly<Record<string, number>>, work: () => Promise<T>): Promise<T> {
  if (dialectOf(db) !== 'sqlite') return work();
  const found: Array<readonly [string, number]> = [];
  try {
    for (const [name, value] of Object.entries(settings)) {
      const [row] = await orThrow(dbOver(db).select(`reading the connection's ${name}`, t.type({ [name]: DbNumber }), `PRAGMA ${name}`, []));
      if (row !== undefined) found.push([name, row[name]!]);
      await db.raw(`PRAGMA ${name} = ${Number(value)}`);
    }
    return await work();
  } finally {
    for (const [name, value] of found) await db.raw(`PRAGMA ${name} = ${Number(value)}`);
  }
}
