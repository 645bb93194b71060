import type { Knex } from 'knex';
import { dialectOf } from '../connect.js';

/**
 * A non-converting path carries its own session ids: nonconverting_paths.later_sessions holds the ids of the
 * path's sessions after its first (first_session), in time order, as a JSON array of strings (NULL when the path
 * has one session), and nonconverting_path_sessions goes. That table held a row per path session (543,663 at
 * scale 10, 72 % of them the first session again, whose id the path row already holds) in a B-tree of its own:
 * build-journeys spent about a quarter of its CPU time writing it. Only fit-ihc reads the ids (to look the
 * sessions' times and flags up in session_sources), a page of paths at a time; JSON because a session id is any
 * text of the source file, and both databases unpack an array in SQL (json_each, json_array_elements_text).
 * up() moves the stored ids onto their paths, down() moves them back.
 */
export const name = '012_path_session_ids';

export async function up(db: Knex): Promise<void> {
  const pg = dialectOf(db) === 'pg';
  await db.raw('ALTER TABLE nonconverting_paths ADD COLUMN later_sessions TEXT');
  const agg = pg ? 'json_agg(ps.session_id ORDER BY ps.position)::text' : 'json_group_array(ps.session_id ORDER BY ps.position)';
  await db.raw(
    `UPDATE nonconverting_paths SET later_sessions =
            (SELECT ${agg} FROM nonconverting_path_sessions ps WHERE ps.path_id = nonconverting_paths.path_id AND ps.position > 0)
      WHERE session_count > 1`,
  );
  await db.raw('DROP TABLE nonconverting_path_sessions');
}

export async function down(db: Knex): Promise<void> {
  const pg = dialectOf(db) === 'pg';
  const id = pg ? 'BIGINT' : 'INTEGER';
  await db.raw(`CREATE TABLE nonconverting_path_sessions (
      path_id ${id} NOT NULL, position INTEGER NOT NULL, session_id TEXT NOT NULL,
      PRIMARY KEY (path_id, position))${pg ? '' : ' WITHOUT ROWID'}`);
  await db.raw('INSERT INTO nonconverting_path_sessions (path_id, position, session_id) SELECT path_id, 0, first_session FROM nonconverting_paths');
  await db.raw(
    pg
      ? `INSERT INTO nonconverting_path_sessions (path_id, position, session_id)
         SELECT p.path_id, j.n, j.id FROM nonconverting_paths p
          CROSS JOIN LATERAL json_array_elements_text(p.later_sessions::json) WITH ORDINALITY AS j(id, n)`
      : `INSERT INTO nonconverting_path_sessions (path_id, position, session_id)
         SELECT p.path_id, j.key + 1, j.value FROM nonconverting_paths p, json_each(p.later_sessions) j`,
  );
  await db.raw('ALTER TABLE nonconverting_paths DROP COLUMN later_sessions');
}
