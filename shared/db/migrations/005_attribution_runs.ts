import type { Knex } from 'knex';

/**
 * One row per send-to-api run: which provider and conversion type attributed which window. process-attribution
 * takes the window's latest run and uses only that provider's answers, so two providers are never mixed.
 * Existing staging is backfilled as one run per (window, provider, conversion type) in order of first use.
 */
export const name = '005_attribution_runs';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('attribution_runs', (t) => {
    t.increments('id').primary(); // the order of runs: clocks can tie or go backwards, ids cannot
    t.text('run_id').notNullable();
    t.date('window_start').notNullable();
    t.date('window_end').notNullable();
    t.text('provider').notNullable();
    t.text('conv_type_id').notNullable();
    t.text('status').notNullable(); // running | complete | incomplete (a killed run stays 'running')
    t.integer('journeys').nullable();
    t.integer('failed').nullable();
    t.text('started_at').notNullable();
    t.text('finished_at').nullable();
    t.index(['window_start', 'window_end']);
  });
  const groups = (await db('api_batches')
    .select('window_start', 'window_end', 'provider', 'conv_type_id')
    .min({ started_at: 'created_at' })
    .max({ finished_at: 'updated_at' })
    .sum({ journeys: 'journeys' })
    .select(db.raw(`SUM(CASE WHEN status = 'failed' THEN journeys ELSE 0 END) AS failed`))
    .groupBy('window_start', 'window_end', 'provider', 'conv_type_id')
    .orderBy('started_at')) as Array<Record<string, unknown>>;
  for (const g of groups) {
    await db('attribution_runs').insert({
      run_id: 'backfilled-by-005',
      window_start: g['window_start'],
      window_end: g['window_end'],
      provider: g['provider'],
      conv_type_id: g['conv_type_id'],
      status: Number(g['failed'] ?? 0) > 0 ? 'incomplete' : 'complete',
      journeys: Number(g['journeys'] ?? 0),
      failed: Number(g['failed'] ?? 0),
      started_at: g['started_at'],
      finished_at: g['finished_at'],
    });
  }
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('attribution_runs');
}
