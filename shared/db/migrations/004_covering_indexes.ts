import type { Knex } from 'knex';

/**
 * Covering indexes for the window queries of process-attribution and build-journeys. channel_reporting's cost
 * and credit sides, the reconciliation and the data-quality count all walk the sessions of a set of dates and
 * join them by session_id: with session_id in the date index that walk never touches the session rows, and the
 * ids come out sorted within each (date, channel), so the probes into session_costs and the credit index hit
 * neighbouring pages instead of random ones. The credit index likewise carries conv_id and ihc so that a probe
 * by session needs no row fetch. journeys' date index carries conv_id, so that the model comparison's pages
 * (the window's journeys in conv_id order) read the index alone. Each replaces an index of 001 that it makes redundant (same leading columns),
 * so the load maintains no more indexes than before. Changes no data: safe on an adopted database.
 */
export const name = '004_covering_indexes';

export async function up(db: Knex): Promise<void> {
  await db.raw('CREATE INDEX IF NOT EXISTS idx_session_sources_date_channel_id ON session_sources (event_date, channel_name, session_id)');
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_date_channel');
  await db.raw('CREATE INDEX IF NOT EXISTS idx_acj_session_credit ON attribution_customer_journey (session_id, conv_id, ihc)');
  await db.raw('DROP INDEX IF EXISTS idx_acj_session');
  await db.raw('CREATE INDEX IF NOT EXISTS idx_journeys_date_conv ON journeys (conv_date, conv_id)');
  await db.raw('DROP INDEX IF EXISTS journeys_conv_date_index');
}

export async function down(db: Knex): Promise<void> {
  await db.raw('CREATE INDEX IF NOT EXISTS idx_session_sources_date_channel ON session_sources (event_date, channel_name)');
  await db.raw('DROP INDEX IF EXISTS idx_session_sources_date_channel_id');
  await db.raw('CREATE INDEX IF NOT EXISTS idx_acj_session ON attribution_customer_journey (session_id)');
  await db.raw('DROP INDEX IF EXISTS idx_acj_session_credit');
  await db.raw('CREATE INDEX IF NOT EXISTS journeys_conv_date_index ON journeys (conv_date)');
  await db.raw('DROP INDEX IF EXISTS idx_journeys_date_conv');
}
