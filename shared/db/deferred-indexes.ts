import type { Knex } from 'knex';
import type { Migration } from './migrations/index.js';

/**
 * Migrations whose index builds wait for the end of their batch.
 *
 * A database without migration history (a new one, or a challenge database being adopted) runs every migration
 * in one batch, and the schema's history builds indexes that later migrations drop (004 replaces two of 001's,
 * 007 one of 004's, 010 one of 001's) or build again (011 copies session_sources in key order with its indexes).
 * On a new database that costs nothing; on an adopted one each build sorts the user's whole table: at scale 10
 * (580,721 sessions) setup-db adopting a challenge database took 15.4 CPU s, seven session index builds of which
 * two survive. Deferred, each surviving index is built once, on the table as the batch leaves it.
 *
 * Only `CREATE INDEX` statements sent through `raw` wait; a `DROP INDEX` of one still waiting cancels it. Tables,
 * columns and data statements run in place, in order. The batch is one transaction, so a failure anywhere,
 * the deferred builds included, leaves the database as it was. A table a later migration dropped takes its
 * waiting indexes with it, as it would have taken the built ones.
 */

const CREATE = /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?("[^"]+"|`[^`]+`|[\w$]+)\s+ON\s+("[^"]+"|`[^`]+`|[\w$]+)/i;
const DROP = /^\s*DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?("[^"]+"|`[^`]+`|[\w$]+)\s*$/i;
const bare = (name: string): string => name.replace(/^["`]|["`]$/g, '');

interface Waiting {
  readonly table: string;
  readonly sql: string;
}

/** The migrations of one batch, the last of which builds the indexes the others left waiting. */
export function deferIndexes(migrations: readonly Migration[]): Migration[] {
  const waiting = new Map<string, Waiting>();
  const proxied = (db: Knex): Knex =>
    new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== 'raw') return Reflect.get(target, prop, receiver) as unknown;
        return (sql: unknown, ...rest: unknown[]) => {
          if (typeof sql === 'string' && rest.length === 0) {
            const created = CREATE.exec(sql);
            if (created !== null) {
              waiting.set(bare(created[1]!), { table: bare(created[2]!), sql });
              return Promise.resolve([]);
            }
            // a drop without IF EXISTS of an index that only waits would fail; one with it may still find an
            // index of that name the database had before the batch, which it drops as it always did
            const dropped = DROP.exec(sql);
            if (dropped !== null && waiting.delete(bare(dropped[1]!)) && !/\bIF\s+EXISTS\b/i.test(sql)) return Promise.resolve([]);
          }
          return (target.raw as (...a: unknown[]) => unknown)(sql, ...rest);
        };
      },
    });
  const build = async (db: Knex): Promise<void> => {
    for (const [, w] of waiting) if (await db.schema.hasTable(w.table)) await db.raw(w.sql);
    waiting.clear();
  };
  return migrations.map((m, i) => ({
    name: m.name,
    down: m.down,
    up: async (db: Knex) => {
      await m.up(proxied(db));
      if (i === migrations.length - 1) await build(db);
    },
  }));
}
