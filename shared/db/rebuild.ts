import type { Knex } from 'knex';

/**
 * SQLite: a table copied into a new one (another storage form, or its rows in another order) and swapped in,
 * with its secondary indexes and triggers re-created from their stored definitions. Used by migrations that
 * change how a table is stored without touching its rows or declared types, which an adopted challenge
 * table must keep.
 */

interface MasterRow {
  readonly type: string;
  readonly name: string;
  readonly sql: string | null;
}

export const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** The table's own definition, indexes and triggers, as stored in sqlite_master. */
export async function tableObjects(db: Knex, table: string): Promise<MasterRow[]> {
  return (await db.raw(`SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL`, [table])) as MasterRow[];
}

export const isWithoutRowid = (sql: string): boolean => /\)\s*WITHOUT\s+ROWID\s*$/i.test(sql);

/** The table's CREATE statement as a rowid (or WITHOUT ROWID) table, under another name; undefined when it cannot be rewritten. */
export function createAs(sql: string, newName: string, withoutRowid: boolean): string | undefined {
  const head = /^\s*CREATE\s+TABLE\s+(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)\s*\(/i;
  if (!head.test(sql)) return undefined;
  const body = sql.replace(head, `CREATE TABLE ${quote(newName)} (`).replace(/\)\s*WITHOUT\s+ROWID\s*$/i, ')');
  return withoutRowid ? `${body} WITHOUT ROWID` : body;
}

/** Replaces `table` by a copy made with `create` (which names the table `tmp`), rows in `orderBy` order, indexes and triggers re-created. */
export async function replaceTable(db: Knex, table: string, create: string, tmp: string, orderBy: readonly string[]): Promise<void> {
  const objects = await tableObjects(db, table);
  const cols = (await db.raw(`PRAGMA table_info(${quote(table)})`)) as Array<{ name: string }>;
  const names = cols.map((c) => quote(c.name)).join(', ');
  await db.raw(create);
  // in key order: the new B-tree is written front to back instead of at random places
  await db.raw(`INSERT INTO ${quote(tmp)} (${names}) SELECT ${names} FROM ${quote(table)} ORDER BY ${orderBy.join(', ')}`);
  await db.raw(`DROP TABLE ${quote(table)}`);
  await db.raw(`ALTER TABLE ${quote(tmp)} RENAME TO ${quote(table)}`);
  for (const o of objects) if (o.type === 'index' || o.type === 'trigger') await db.raw(o.sql!);
}
