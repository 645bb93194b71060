import type { ExecutionContext } from 'ava';
import knex, { type Knex } from 'knex';
import { makeDb } from '../../shared/db/connect.js';
import { tempDir, testConfig } from './env.js';

/**
 * The pipeline's PostgreSQL handle on a schema of its own, made empty for the test and dropped after it: every
 * pooled connection works in it (search_path), so suites sharing one server never see each other's tables.
 */
export async function pgSchemaDb(t: ExecutionContext, url: string, schema: string): Promise<Knex> {
  const admin = knex({ client: 'pg', connection: url });
  await admin.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.raw(`CREATE SCHEMA ${schema}`);
  await admin.destroy();
  const db = makeDb(testConfig(`${url}${url.includes('?') ? '&' : '?'}options=-c%20search_path%3D${schema}`, tempDir()).database);
  t.teardown(async () => {
    await db.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await db.destroy();
  });
  return db;
}
