import type { Knex } from 'knex';

/**
 * Hand-built databases for the reporting tests and examples: sessions, conversions, costs, and the journeys
 * and provider answers the earlier steps would have stored, written directly so that each test states exactly
 * the situation it pins down.
 */

export interface SeedSession {
  readonly id: string;
  readonly user: string;
  readonly date: string;
  readonly time?: string;
  readonly channel: string;
  /** undefined: no session_costs row; null: a row with cost NULL */
  readonly cost?: number | null;
  readonly holder?: 0 | 1;
  readonly closer?: 0 | 1;
}

export interface SeedConversion {
  readonly id: string;
  readonly user: string;
  readonly date: string;
  readonly time?: string;
  readonly revenue: number;
}

export interface SeedJourney {
  readonly conv: string;
  /** session ids in journey order; [] for a conversion without sessions (status no_sessions) */
  readonly sessions: readonly string[];
  /** provider answers per session id; undefined = no answer stored; 'equal' = an equal split */
  readonly answers?: Readonly<Record<string, number>> | 'equal';
  readonly failure?: string;
  readonly status?: string;
}

export async function seedSessions(db: Knex, sessions: readonly SeedSession[]): Promise<void> {
  const rows = sessions.map((s) => ({
    session_id: s.id,
    user_id: s.user,
    event_date: s.date,
    event_time: s.time ?? '12:00:00',
    channel_name: s.channel,
    holder_engagement: s.holder ?? 0,
    closer_engagement: s.closer ?? 0,
    impression_interaction: 0,
  }));
  if (rows.length > 0) await db.batchInsert('session_sources', rows, 100);
  const costs = sessions.filter((s) => s.cost !== undefined).map((s) => ({ session_id: s.id, cost: s.cost ?? null }));
  if (costs.length > 0) await db.batchInsert('session_costs', costs, 200);
}

export async function seedConversions(db: Knex, conversions: readonly SeedConversion[]): Promise<void> {
  const rows = conversions.map((c) => ({ conv_id: c.id, user_id: c.user, conv_date: c.date, conv_time: c.time ?? '18:00:00', revenue: c.revenue }));
  if (rows.length > 0) await db.batchInsert('conversions', rows, 100);
}

/** journeys, journey_sessions, api_results and api_failures as build-journeys and send-to-api leave them. */
export async function seedJourneys(db: Knex, journeys: readonly SeedJourney[]): Promise<void> {
  await seedRun(db);
  for (const j of journeys) {
    const conv = await db('conversions').where({ conv_id: j.conv }).first();
    if (conv === undefined) throw new Error(`seed: conversion ${j.conv} is not seeded`);
    await db('journeys').insert({
      conv_id: j.conv,
      user_id: conv.user_id,
      conv_date: conv.conv_date,
      conv_time: conv.conv_time,
      revenue: conv.revenue,
      session_count: j.sessions.length,
      status: j.status ?? (j.sessions.length === 0 ? 'no_sessions' : 'ok'),
    });
    const sessions = await db('session_sources').whereIn('session_id', [...j.sessions]);
    const byId = new Map(sessions.map((s: Record<string, unknown>) => [String(s['session_id']), s]));
    const js = j.sessions.map((id, position) => {
      const s = byId.get(id);
      if (s === undefined) throw new Error(`seed: session ${id} is not seeded`);
      return {
        conv_id: j.conv,
        session_id: id,
        position,
        conv_date: conv.conv_date,
        event_date: s['event_date'],
        event_time: s['event_time'],
        channel_name: s['channel_name'],
        holder_engagement: s['holder_engagement'],
        closer_engagement: s['closer_engagement'],
        impression_interaction: s['impression_interaction'],
        conversion: position === j.sessions.length - 1 ? 1 : 0,
      };
    });
    if (js.length > 0) await db.batchInsert('journey_sessions', js, 50);
    if (j.answers !== undefined) {
      const answers = j.answers === 'equal' ? Object.fromEntries(j.sessions.map((id) => [id, 1 / j.sessions.length])) : j.answers;
      const rows = Object.entries(answers).map(([session_id, ihc]) => ({
        conv_id: j.conv,
        session_id,
        batch_id: 'seed',
        initializer: 0,
        holder: 0,
        closer: 0,
        ihc,
      }));
      if (rows.length > 0) await db.batchInsert('api_results', rows, 50);
    }
    if (j.failure !== undefined) {
      await db('api_failures').insert({ conv_id: j.conv, batch_id: 'seed', reason: j.failure, created_at: '2026-01-01T00:00:00Z' });
    }
  }
}

/** The 'seed' batch and a complete attribution run of the local provider covering every window, as send-to-api leaves them. */
export async function seedRun(db: Knex, provider = 'local', convTypeId = 'default'): Promise<void> {
  if ((await db('api_batches').where('batch_id', 'seed').first()) !== undefined) return;
  const now = '2026-01-01T00:00:00Z';
  const window = { window_start: '1900-01-01', window_end: '2100-12-31' };
  await db('api_batches').insert({
    batch_id: 'seed', provider, conv_type_id: convTypeId, ...window, journeys: 0, sessions: 0, status: 'partial',
    http_status: 200, attempts: 1, error: null, response: null, created_at: now, updated_at: now,
  });
  await db('attribution_runs').insert({
    run_id: 'seed', provider, conv_type_id: convTypeId, ...window, status: 'complete', journeys: 0, failed: 0, started_at: now, finished_at: now,
  });
}

/** Every row of a table in a stable order, for before/after comparisons. */
export async function dumpTable(db: Knex, table: string, orderBy: readonly string[]): Promise<Record<string, unknown>[]> {
  return db(table).select('*').orderBy([...orderBy]);
}
