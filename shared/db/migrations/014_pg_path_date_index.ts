import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';

/**
 * PostgreSQL drops the date index of nonconverting_paths, as 013 did on SQLite: its readers, too, now take the
 * window's paths as the key range of nonconverting_path_days with the day tested on each row (windowPaths), and
 * build-journeys records the days from the rows it inserts. Maintaining that index was the dearest part of
 * inserting the paths after the heap itself (388,469 entries at scale 10, one per path, on ten values).
 * SQLite has nothing to do; down() puts PostgreSQL's index back.
 */
export const name = '014_pg_path_date_index';

export async function up(db: Knex): Promise<void> {
  if (dialectOf(db) === 'pg') await db.raw('DROP INDEX IF EXISTS idx_nonconverting_paths_date');
}

export async function down(db: Knex): Promise<void> {
  if (dialectOf(db) === 'pg') await db.raw('CREATE INDEX IF NOT EXISTS idx_nonconverting_paths_date ON nonconverting_paths (last_date)');
}
