import type { Knex } from 'knex';

/** The pipeline's own tables: ingest quarantine, run log, data issues, and the journeys staging tables. */
export const name = '002_pipeline_tables';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('ingest_quarantine', (t) => {
    t.increments('id').primary();
    t.text('run_id').notNullable();
    t.text('source_file').notNullable();
    t.integer('line').notNullable();
    t.text('table_name').notNullable();
    t.text('record_key').nullable();
    t.text('field').nullable();
    t.text('reason').notNullable();
    t.text('detail').nullable();
    t.text('raw').nullable();
    t.text('created_at').notNullable();
    t.index(['run_id']);
  });
  await db.schema.createTable('pipeline_runs', (t) => {
    t.text('run_id').primary();
    t.text('task').notNullable();
    t.date('window_start').nullable();
    t.date('window_end').nullable();
    t.text('started_at').notNullable();
    t.text('finished_at').nullable();
    t.text('status').notNullable();
    t.text('summary').nullable();
  });
  await db.schema.createTable('data_issues', (t) => {
    t.increments('id').primary();
    t.date('window_start').notNullable();
    t.date('window_end').notNullable();
    t.text('table_name').notNullable();
    t.text('record_key').nullable();
    t.text('reason').notNullable();
    t.text('severity').notNullable();
    t.text('detail').nullable();
    t.index(['window_start', 'window_end']);
  });
  await db.schema.createTable('journeys', (t) => {
    t.text('conv_id').primary();
    t.text('user_id').notNullable();
    t.date('conv_date').notNullable();
    t.time('conv_time').notNullable();
    t.double('revenue').notNullable();
    t.integer('session_count').notNullable();
    t.text('status').notNullable();
    t.index(['conv_date']);
  });
  await db.schema.createTable('journey_sessions', (t) => {
    t.text('conv_id').notNullable();
    t.text('session_id').notNullable();
    t.integer('position').notNullable();
    t.date('conv_date').notNullable();
    t.date('event_date').notNullable();
    t.time('event_time').notNullable();
    t.text('channel_name').notNullable();
    t.integer('holder_engagement').notNullable();
    t.integer('closer_engagement').notNullable();
    t.integer('impression_interaction').notNullable();
    t.integer('conversion').notNullable();
    t.primary(['conv_id', 'session_id']);
    t.index(['conv_date', 'conv_id', 'position']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const t of ['journey_sessions', 'journeys', 'data_issues', 'pipeline_runs', 'ingest_quarantine']) {
    await db.schema.dropTableIfExists(t);
  }
}
