import type { Knex } from 'knex';

/**
 * Staging of provider answers (so a crash resumes batch by batch and a re-run sends nothing twice),
 * per-model credit for the model comparison, and fitted IHC parameter sets.
 */
export const name = '003_attribution_tables';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('api_batches', (t) => {
    t.text('batch_id').primary(); // fingerprint of provider, conversion type and the exact request body
    t.text('provider').notNullable();
    t.text('conv_type_id').notNullable();
    t.date('window_start').notNullable();
    t.date('window_end').notNullable();
    t.integer('journeys').notNullable();
    t.integer('sessions').notNullable();
    t.text('status').notNullable(); // succeeded | partial | failed
    t.integer('http_status').nullable();
    t.integer('attempts').notNullable();
    t.text('error').nullable();
    t.text('response').nullable(); // the raw answer as received
    t.text('created_at').notNullable();
    t.text('updated_at').notNullable();
    t.index(['window_start', 'window_end']);
  });
  await db.schema.createTable('api_results', (t) => {
    t.text('conv_id').notNullable();
    t.text('session_id').notNullable();
    t.text('batch_id').notNullable();
    t.double('initializer').notNullable();
    t.double('holder').notNullable();
    t.double('closer').notNullable();
    t.double('ihc').notNullable();
    t.primary(['conv_id', 'session_id']);
    t.index(['batch_id']);
  });
  await db.schema.createTable('api_failures', (t) => {
    t.text('conv_id').primary();
    t.text('batch_id').nullable();
    t.text('reason').notNullable();
    t.text('created_at').notNullable();
  });
  await db.schema.createTable('model_credits', (t) => {
    t.text('model').notNullable();
    t.text('conv_id').notNullable();
    t.text('session_id').notNullable();
    t.double('credit').notNullable();
    t.primary(['model', 'conv_id', 'session_id']);
  });
  await db.schema.createTable('conversion_types', (t) => {
    t.text('name').primary();
    t.text('params').notNullable(); // JSON of IhcParams
    t.text('source').notNullable(); // how it was made (fit window, journeys used)
    t.text('created_at').notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  for (const t of ['conversion_types', 'model_credits', 'api_failures', 'api_results', 'api_batches']) {
    await db.schema.dropTableIfExists(t);
  }
}
