import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';

/**
 * The non-converting paths' days: nonconverting_path_days holds, for each day that ends stored paths, the
 * smallest and the largest path_id among them. One build numbers its paths from one run of new keys and
 * replaces whole days (the paths whose last session falls in its window), so every path of a day lies between
 * that day's two keys. Readers take the window's paths as that key range of the table with the day tested on
 * each row (windowPaths), which is what the date index on last_date was kept for: on SQLite writing that index
 * was about a fifth of writing the paths (0.8-1.3 of 3.0-4.5 CPU s at scale 10, 388,469 paths), and these rows
 * are one per day. SQLite drops the index; PostgreSQL keeps it (its readers select by last_date).
 * up() fills the days from the stored paths; down() puts the index back.
 */
export const name = '013_path_days';

export async function up(db: Knex): Promise<void> {
  const id = dialectOf(db) === 'pg' ? 'BIGINT' : 'INTEGER';
  await db.raw(`CREATE TABLE nonconverting_path_days (
      last_date DATE PRIMARY KEY, first_path ${id} NOT NULL, last_path ${id} NOT NULL)`);
  await db.raw(`INSERT INTO nonconverting_path_days (last_date, first_path, last_path)
                SELECT last_date, MIN(path_id), MAX(path_id) FROM nonconverting_paths GROUP BY last_date`);
  if (dialectOf(db) !== 'pg') await db.raw('DROP INDEX idx_nonconverting_paths_date');
}

export async function down(db: Knex): Promise<void> {
  if (dialectOf(db) !== 'pg') await db.raw('CREATE INDEX idx_nonconverting_paths_date ON nonconverting_paths (last_date)');
  await db.raw('DROP TABLE nonconverting_path_days');
}
