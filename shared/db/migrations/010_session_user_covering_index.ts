import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';

/**
 * On SQLite the (user, time) index of 001 also carries session_id and channel_name. build-journeys' non-converting
 * paths read the whole history of the window's users in (user, time) order, and each index entry cost a fetch of
 * its session row from a random page of the table: 6.7 s of the step's 25 CPU s at scale 10 (580,721 sessions),
 * about 1 s read from the index alone. The wider index costs the load about 0.4 CPU s more to build at that scale
 * (1.7 s against 1.3 s) and 45 MB of disk. It replaces 001's index (same leading columns, which the converting
 * journeys' join keeps using), so the load maintains no more indexes than before. PostgreSQL is left as it is: it
 * reads those sessions with one hash join (see shared/journeys/nonconverting.ts). Changes no data: safe on an
 * adopted database.
 */
export const name = '010_session_user_covering_index';

export async function up(db: Knex): Promise<void> {
  if (dialectOf(db) !== 'sqlite') return;
  await db.raw(
    'CREATE INDEX IF NOT EXISTS idx_session_sources_user_ts_id_channel ON session_sources (user_id, event_date, event_time, session_id, channel_name)',
  );
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_user_ts');
}

export async function down(db: Knex): Promise<void> {
  if (dialectOf(db) !== 'sqlite') return;
  await db.raw('CREATE INDEX IF NOT EXISTS idx_session_sources_user_ts ON session_sources (user_id, event_date, event_time)');
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_user_ts_id_channel');
}
