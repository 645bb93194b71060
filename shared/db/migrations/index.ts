import type { Knex } from 'knex';
import * as m001 from './001_challenge_tables.js';
import * as m002 from './002_pipeline_tables.js';
import * as m003 from './003_attribution_tables.js';
import * as m004 from './004_covering_indexes.js';
import * as m005 from './005_attribution_runs.js';
import * as m006 from './006_conversions_user_index.js';
import * as m007 from './007_session_date_user_index.js';
import * as m008 from './008_nonconverting_tables.js';
import * as m009 from './009_reporting_storage.js';
import * as m010 from './010_session_user_covering_index.js';
import * as m011 from './011_sessions_in_key_order.js';
import * as m012 from './012_path_session_ids.js';
import * as m013 from './013_path_days.js';
import * as m014 from './014_pg_path_date_index.js';

export interface Migration {
  readonly name: string;
  readonly up: (db: Knex) => Promise<void>;
  readonly down: (db: Knex) => Promise<void>;
}

/**
 * Every migration, in order. A static list instead of a folder scan: it works the same from ts sources,
 * compiled JS and container images. Append new migrations here; never edit one that has shipped.
 */
export const MIGRATIONS: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010, m011, m012, m013, m014];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
