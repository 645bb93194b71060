import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';

/**
 * Storage for process-attribution's speed at scale.
 *
 * journey_insights: the window's journey insights as build-journeys computed them (JSON), so that
 * process-attribution reuses them instead of computing them again. Every build deletes all stored insights in its
 * transaction (a build can change journeys outside its window: a conversion whose date moved), and build-journeys
 * stores the window's insights under the same write lock as it computes them: a stored row therefore always
 * describes the journey tables as they are.
 *
 * SQLite only: session_costs and model_credits become WITHOUT ROWID tables, so that the primary key is the table.
 *
 * As rowid tables each held two B-trees, the rows and a separate index on the text key, and every probe by
 * session_id (channel_reporting's cost side, the reconciliation's cost sum, build-journeys' session_without_cost
 * check, three passes over the window's sessions) descended both, each into a random page: at scale 10 (580,721
 * sessions) the reconciliation's cost sum took 2.7 s of CPU, 1.4 s on the one B-tree. model_credits (the model
 * comparison's per-session credit, rewritten by every process-attribution) likewise writes, deletes and reads one
 * B-tree instead of two. Rows stay small (a 64-character id and a number; model, two ids and a number), where
 * SQLite recommends WITHOUT ROWID. A load writes one B-tree per cost row instead of two.
 *
 * Each table is copied into a new one created from its own stored definition (declared types unchanged, so an
 * adopted challenge table keeps its shape), with its secondary indexes and triggers re-created. A table that has
 * no primary key, or a NULL in it (a rowid table allows that, a WITHOUT ROWID one does not), is left as it is: the
 * queries work on both forms. PostgreSQL keeps its heap tables (no such form there): nothing to do.
 */
export const name = '009_reporting_storage';

const TABLES = ['session_costs', 'model_credits'];

interface MasterRow {
  readonly type: string;
  readonly name: string;
  readonly sql: string | null;
}

const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;

async function master(db: Knex, table: string): Promise<MasterRow[]> {
  return (await db.raw(`SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL`, [table])) as MasterRow[];
}

/** The table's CREATE statement as a rowid (or WITHOUT ROWID) table, under another name; undefined when it cannot be rewritten. */
function createAs(sql: string, newName: string, withoutRowid: boolean): string | undefined {
  const head = /^\s*CREATE\s+TABLE\s+(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)\s*\(/i;
  if (!head.test(sql)) return undefined;
  const body = sql.replace(head, `CREATE TABLE ${quote(newName)} (`).replace(/\)\s*WITHOUT\s+ROWID\s*$/i, ')');
  return withoutRowid ? `${body} WITHOUT ROWID` : body;
}

async function rebuild(db: Knex, table: string, withoutRowid: boolean): Promise<void> {
  const objects = await master(db, table);
  const def = objects.find((o) => o.type === 'table');
  if (def?.sql == null) return;
  const isWithoutRowid = /\)\s*WITHOUT\s+ROWID\s*$/i.test(def.sql);
  if (isWithoutRowid === withoutRowid) return;
  const cols = (await db.raw(`PRAGMA table_info(${quote(table)})`)) as Array<{ name: string; pk: number }>;
  const key = cols.filter((c) => Number(c.pk) > 0).sort((a, b) => a.pk - b.pk).map((c) => quote(c.name));
  if (key.length === 0) return;
  if (withoutRowid) {
    // WITHOUT ROWID makes the key NOT NULL; such a row would be refused by the copy: keep the table as it is
    const nulls = (await db.raw(`SELECT COUNT(*) AS n FROM ${quote(table)} WHERE ${key.map((k) => `${k} IS NULL`).join(' OR ')}`)) as Array<{ n: number }>;
    if (Number(nulls[0]?.n ?? 0) > 0) return;
  }
  const tmp = `${table}_009`;
  const create = createAs(def.sql, tmp, withoutRowid);
  if (create === undefined) return;
  const names = cols.map((c) => quote(c.name)).join(', ');
  await db.raw(create);
  // in key order: the new B-tree is written front to back instead of at random places
  await db.raw(`INSERT INTO ${quote(tmp)} (${names}) SELECT ${names} FROM ${quote(table)} ORDER BY ${key.join(', ')}`);
  await db.raw(`DROP TABLE ${quote(table)}`);
  await db.raw(`ALTER TABLE ${quote(tmp)} RENAME TO ${quote(table)}`);
  for (const o of objects) if (o.type === 'index' || o.type === 'trigger') await db.raw(o.sql!);
}

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('journey_insights', (t) => {
    t.date('window_start').notNullable();
    t.date('window_end').notNullable();
    t.text('insights').notNullable();
    t.primary(['window_start', 'window_end']);
  });
  if (dialectOf(db) !== 'sqlite') return;
  for (const t of TABLES) if (await db.schema.hasTable(t)) await rebuild(db, t, true);
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('journey_insights');
  if (dialectOf(db) !== 'sqlite') return;
  for (const t of TABLES) if (await db.schema.hasTable(t)) await rebuild(db, t, false);
}
