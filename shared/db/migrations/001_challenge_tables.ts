import type { Knex } from 'knex';

/**
 * The five tables of the original challenge schema, created only when absent: a database made by the
 * challenge script (tables present, no migration history) is adopted as it is, data untouched, and
 * `setup-db` then checks its shape. No foreign keys: costs may arrive before their sessions, and
 * build-journeys reports such orphans instead of the loader refusing them.
 */
export const name = '001_challenge_tables';

export async function up(db: Knex): Promise<void> {
  if (!(await db.schema.hasTable('session_sources'))) {
    await db.schema.createTable('session_sources', (t) => {
      t.text('session_id').primary();
      t.text('user_id').notNullable();
      t.date('event_date').notNullable();
      t.time('event_time').notNullable();
      t.text('channel_name').notNullable();
      t.integer('holder_engagement').notNullable();
      t.integer('closer_engagement').notNullable();
      t.integer('impression_interaction').notNullable();
    });
  }
  if (!(await db.schema.hasTable('conversions'))) {
    await db.schema.createTable('conversions', (t) => {
      t.text('conv_id').primary();
      t.text('user_id').notNullable();
      t.date('conv_date').notNullable();
      t.time('conv_time').notNullable();
      t.double('revenue').notNullable();
    });
  }
  if (!(await db.schema.hasTable('session_costs'))) {
    await db.schema.createTable('session_costs', (t) => {
      t.text('session_id').primary();
      t.double('cost').nullable();
    });
  }
  if (!(await db.schema.hasTable('attribution_customer_journey'))) {
    await db.schema.createTable('attribution_customer_journey', (t) => {
      t.text('conv_id').notNullable();
      t.text('session_id').notNullable();
      t.double('ihc').notNullable();
      t.primary(['conv_id', 'session_id']);
    });
  }
  if (!(await db.schema.hasTable('channel_reporting'))) {
    await db.schema.createTable('channel_reporting', (t) => {
      t.text('channel_name').notNullable();
      t.date('date').notNullable();
      t.double('cost').notNullable();
      t.double('ihc').notNullable();
      t.double('ihc_revenue').notNullable();
      t.primary(['channel_name', 'date']);
    });
  }
  // Indexes for the journey join and the window filters; adding one to an adopted database changes no data.
  await db.raw('CREATE INDEX IF NOT EXISTS idx_session_sources_user_ts ON session_sources (user_id, event_date, event_time)');
  await db.raw('CREATE INDEX IF NOT EXISTS idx_session_sources_date_channel ON session_sources (event_date, channel_name)');
  await db.raw('CREATE INDEX IF NOT EXISTS idx_conversions_date ON conversions (conv_date)');
  await db.raw('CREATE INDEX IF NOT EXISTS idx_acj_session ON attribution_customer_journey (session_id)');
}

/** Never drops challenge tables: they hold the user's data, which predates this tool. */
export async function down(db: Knex): Promise<void> {
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_user_ts');
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_date_channel');
  await db.raw('DROP INDEX IF EXISTS idx_conversions_date');
  await db.raw('DROP INDEX IF EXISTS idx_acj_session');
}
