import type { Knex } from 'knex';

/**
 * The date index of 004 also carries user_id. build-journeys' non-converting paths read the whole history of the
 * window's users, and listing those users (`user_id IN (SELECT user_id ... WHERE event_date BETWEEN ...)`) fetched
 * every session row of the window in random order for its user_id: 5.3 s CPU of the 25 s query at scale 10 on
 * SQLite (580,721 sessions), 2.9 s read from the index alone. It replaces 004's index (same leading columns), so
 * the load maintains no more indexes than before. Changes no data: safe on an adopted database.
 */
export const name = '007_session_date_user_index';

export async function up(db: Knex): Promise<void> {
  await db.raw('CREATE INDEX IF NOT EXISTS idx_session_sources_date_channel_id_user ON session_sources (event_date, channel_name, session_id, user_id)');
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_date_channel_id');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('CREATE INDEX IF NOT EXISTS idx_session_sources_date_channel_id ON session_sources (event_date, channel_name, session_id)');
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_date_channel_id_user');
}
