import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';

/**
 * The non-converting paths get their own lean tables. Stored as journeys (status non_converting) they were 95 % of
 * journeys and journey_sessions at scale 10, each session row repeating a 145-character id, so every reader of
 * the orders' journeys scanned them and build-journeys spent most of its time writing three B-trees of long keys.
 *
 *   nonconverting_paths          one row per path: a short integer key, the user, the path's first session, the
 *                                day and time of its last session (the window it belongs to), its session count
 *                                and its channel sequence (channel names joined by U+001F, so that the models read
 *                                paths without a join)
 *   nonconverting_path_sessions  (path_id, position, session_id): the path's sessions in time order; their times
 *                                and flags stay in session_sources
 *
 * The only secondary index is the paths' last_date: the window's build (replace) and every reader select by it.
 * up() moves the stored non-converting journeys into the new tables (and out of the old ones); down() moves them
 * back, rebuilding their ids and session rows from session_sources.
 */
export const name = '008_nonconverting_tables';

export const PATH_CHANNEL_SEPARATOR = '\u001f';
const STATUS = 'non_converting';

export async function up(db: Knex): Promise<void> {
  const pg = dialectOf(db) === 'pg';
  const id = pg ? 'BIGINT' : 'INTEGER';
  await db.raw(`CREATE TABLE nonconverting_paths (
      path_id ${id} PRIMARY KEY, user_id TEXT NOT NULL, first_session TEXT NOT NULL, last_date DATE NOT NULL,
      last_time TIME NOT NULL, session_count INTEGER NOT NULL, channels TEXT NOT NULL)`);
  await db.raw('CREATE INDEX idx_nonconverting_paths_date ON nonconverting_paths (last_date)');
  // one B-tree on SQLite: the primary key is the table
  await db.raw(`CREATE TABLE nonconverting_path_sessions (
      path_id ${id} NOT NULL, position INTEGER NOT NULL, session_id TEXT NOT NULL,
      PRIMARY KEY (path_id, position))${pg ? '' : ' WITHOUT ROWID'}`);

  // every stored path gets its integer key once, in conv_id order
  await db.raw(`CREATE TEMPORARY TABLE nc_move (conv_id TEXT PRIMARY KEY, path_id ${id} NOT NULL)`);
  await db.raw(`INSERT INTO nc_move (conv_id, path_id)
                SELECT conv_id, ROW_NUMBER() OVER (ORDER BY conv_id) FROM journeys WHERE status = ?`, [STATUS]);
  const concat = pg
    ? `string_agg(js.channel_name, '${PATH_CHANNEL_SEPARATOR}' ORDER BY js.position)`
    : `group_concat(js.channel_name, '${PATH_CHANNEL_SEPARATOR}' ORDER BY js.position)`;
  await db.raw(
    `INSERT INTO nonconverting_paths (path_id, user_id, first_session, last_date, last_time, session_count, channels)
     SELECT m.path_id, MIN(j.user_id), MIN(CASE WHEN js.position = 0 THEN js.session_id END), MIN(j.conv_date), MIN(j.conv_time),
            COUNT(*), ${concat}
       FROM nc_move m JOIN journeys j ON j.conv_id = m.conv_id JOIN journey_sessions js ON js.conv_id = m.conv_id
      GROUP BY m.path_id`,
  );
  await db.raw(
    `INSERT INTO nonconverting_path_sessions (path_id, position, session_id)
     SELECT m.path_id, js.position, js.session_id FROM nc_move m JOIN journey_sessions js ON js.conv_id = m.conv_id`,
  );
  await db.raw('DELETE FROM journey_sessions WHERE conv_id IN (SELECT conv_id FROM nc_move)');
  await db.raw('DELETE FROM journeys WHERE status = ?', [STATUS]);
  await db.raw('DROP TABLE nc_move');
}

export async function down(db: Knex): Promise<void> {
  const convId = `'nc:' || p.user_id || ':' || p.first_session || ':' || p.last_date`;
  await db.raw(
    `INSERT INTO journey_sessions (conv_id, session_id, position, conv_date, event_date, event_time, channel_name,
                                   holder_engagement, closer_engagement, impression_interaction, conversion)
     SELECT ${convId}, ps.session_id, ps.position, p.last_date, s.event_date, s.event_time, s.channel_name,
            s.holder_engagement, s.closer_engagement, s.impression_interaction, 0
       FROM nonconverting_paths p
       JOIN nonconverting_path_sessions ps ON ps.path_id = p.path_id
       JOIN session_sources s ON s.session_id = ps.session_id`,
  );
  await db.raw(
    `INSERT INTO journeys (conv_id, user_id, conv_date, conv_time, revenue, session_count, status)
     SELECT ${convId}, p.user_id, p.last_date, p.last_time, 0, p.session_count, ? FROM nonconverting_paths p`,
    [STATUS],
  );
  await db.raw('DROP TABLE nonconverting_path_sessions');
  await db.raw('DROP TABLE nonconverting_paths');
}
