import type { Knex } from 'knex';
import { dialectOf } from './connect.js';

/**
 * Writers that replace a set of rows (delete the window's rows, insert the new ones) collide when two windows
 * overlap and run at once on PostgreSQL: under READ COMMITTED the second DELETE cannot see the first's
 * uncommitted INSERT, so its own INSERT then hits the primary key. Each such transaction first takes a
 * transaction-scoped advisory lock for the tables it replaces: overlapping windows queue for that short
 * transaction instead of failing, and since every statement after the lock sees what the previous holder
 * committed, the result is the one a serial run gives. One lock per transaction (never two), so no deadlock.
 *
 * One lock per table group rather than per date: a run's dates are only known inside its transaction
 * (journeys reach back before the window), and per-date locks taken in two steps could deadlock. The locked
 * transactions are the short set-based writes; the long part of a run (send-to-api's requests) runs unlocked.
 *
 * SQLite needs nothing here: it has one writer, and write transactions start as writers.
 */
export const WRITE_LOCKS = {
  /** build-journeys: data_issues, journeys, journey_sessions */
  journeys: 1,
  /** send-to-api: api_batches, api_results, api_failures (one batch per transaction) */
  staging: 2,
  /** process-attribution: attribution_customer_journey, channel_reporting */
  reporting: 3,
  /** process-attribution's model comparison: model_credits */
  modelCredits: 4,
} as const;

export type WriteLock = keyof typeof WRITE_LOCKS;

/** First key of the two-key advisory lock, so that our locks do not meet another application's ('ATTR'). */
export const LOCK_NAMESPACE = 0x41545452;

/** Call first thing inside a transaction; released when it commits or rolls back. */
export async function lockForWrite(trx: Knex.Transaction, what: WriteLock): Promise<void> {
  if (dialectOf(trx) !== 'pg') return;
  await trx.raw('SELECT pg_advisory_xact_lock(?, ?)', [LOCK_NAMESPACE, WRITE_LOCKS[what]]);
}
