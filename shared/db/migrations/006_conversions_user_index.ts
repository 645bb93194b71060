import type { Knex } from 'knex';

/**
 * Conversions by user and time: build-journeys asks, for every session of the window's users, whether an order
 * of the same user follows it (a session that leads to an order is never part of a non-converting path).
 * Without this index that is a scan of all conversions per session (4 minutes for 90,000 sessions against
 * 3,000 orders on SQLite; well under a second with it).
 */
export const name = '006_conversions_user_index';

export async function up(db: Knex): Promise<void> {
  await db.raw('CREATE INDEX IF NOT EXISTS idx_conversions_user_ts ON conversions (user_id, conv_date, conv_time)');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX IF EXISTS idx_conversions_user_ts');
}
