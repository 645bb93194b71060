import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';
import { createAs, isWithoutRowid, quote, replaceTable, tableObjects } from '../rebuild.js';

/**
 * Storage for process-attribution's speed at scale.
 *
 * journey_insights: the window's journey insights as build-journeys computed them (JSON), so that
 * process-attribution reuses them instead of computing them again. Every build deletes all stored insights in its
 * transaction (a build can change journeys outside its window: a conversion whose date moved), and build-journeys
 * stores the window's insights under the same write lock as it computes them: a stored row therefore always
 * describes the journey tables as they are.
 *
 * model_credits is keyed (conv_id, session_id, model) instead of (model, conv_id, session_id) (CREDIT_KEY below).
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
 * session_costs is copied into a new table created from its own stored definition (declared types unchanged, so an
 * adopted challenge table keeps its shape), with its secondary indexes and triggers re-created. One without a
 * primary key, or with a NULL in it (a rowid table allows that, a WITHOUT ROWID one does not), is left as it is:
 * the queries work on both forms. model_credits, this tool's own table, is created anew with its new key and
 * copied. PostgreSQL keeps its heap tables (no such form there) and only re-keys model_credits.
 */
export const name = '009_reporting_storage';


/** A challenge table (its definition is the user's) as a WITHOUT ROWID table with the same key, or back. */
async function rebuild(db: Knex, table: string, withoutRowid: boolean): Promise<void> {
  const def = (await tableObjects(db, table)).find((o) => o.type === 'table');
  if (def?.sql == null) return;
  if (isWithoutRowid(def.sql) === withoutRowid) return;
  const cols = (await db.raw(`PRAGMA table_info(${quote(table)})`)) as Array<{ name: string; pk: number }>;
  const key = cols.filter((c) => Number(c.pk) > 0).sort((a, b) => a.pk - b.pk).map((c) => quote(c.name));
  if (key.length === 0) return;
  if (withoutRowid) {
    // WITHOUT ROWID makes the key NOT NULL; such a row would be refused by the copy: keep the table as it is
    const nulls = (await db.raw(`SELECT COUNT(*) AS n FROM ${quote(table)} WHERE ${key.map((k) => `${k} IS NULL`).join(' OR ')}`)) as Array<{ n: number }>;
    if (Number(nulls[0]?.n ?? 0) > 0) return;
  }
  const create = createAs(def.sql, `${table}_009`, withoutRowid);
  // sorted, not read through the key index (a random row fetch each: 0.65 against 0.17 system s at scale 10)
  if (create !== undefined) await replaceTable(db, table, create, `${table}_009`, key.map((k) => `+${k}`));
}

/**
 * model_credits' key, conversion first: the comparison's per-channel sums read the window's conversions, each
 * session's nine model rows side by side (one range instead of nine probes: 1.6 -> 1.25 CPU s at scale 10), and
 * the DELETE of the window's conversions finds them by key instead of scanning the table.
 */
const CREDIT_KEY = ['conv_id', 'session_id', 'model'];
const OLD_CREDIT_KEY = ['model', 'conv_id', 'session_id'];

async function rekeyCredits(db: Knex, key: readonly string[], withoutRowid: boolean): Promise<void> {
  if (dialectOf(db) === 'pg') {
    const pk = (await db.raw(
      `SELECT conname FROM pg_constraint WHERE conrelid = to_regclass('model_credits') AND contype = 'p'`,
    )) as { rows: Array<{ conname: string }> };
    const drop = pk.rows[0] !== undefined ? `DROP CONSTRAINT ${quote(pk.rows[0].conname)}, ` : '';
    await db.raw(`ALTER TABLE model_credits ${drop}ADD PRIMARY KEY (${key.join(', ')})`);
    return;
  }
  await replaceTable(
    db,
    'model_credits',
    `CREATE TABLE model_credits_009 (model TEXT NOT NULL, conv_id TEXT NOT NULL, session_id TEXT NOT NULL, credit FLOAT NOT NULL,
       PRIMARY KEY (${key.join(', ')}))${withoutRowid ? ' WITHOUT ROWID' : ''}`,
    'model_credits_009',
    key,
  );
}

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('journey_insights', (t) => {
    t.date('window_start').notNullable();
    t.date('window_end').notNullable();
    t.text('insights').notNullable();
    t.primary(['window_start', 'window_end']);
  });
  await rekeyCredits(db, CREDIT_KEY, true);
  if (dialectOf(db) === 'sqlite') await rebuild(db, 'session_costs', true);
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('journey_insights');
  await rekeyCredits(db, OLD_CREDIT_KEY, false);
  if (dialectOf(db) === 'sqlite') await rebuild(db, 'session_costs', false);
}
