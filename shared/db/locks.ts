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
  /** send-to-api: api_batches, api_results, api_failures (one batch per transaction; see lockKeysForWrite) */
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

/** Most keys one transaction locks one by one; PostgreSQL's lock table is shared by every session (64 per connection). */
export const MAX_KEY_LOCKS = 256;

/**
 * For writers whose rows are keyed (send-to-api replaces the staging rows of a batch's conversions): instead of
 * the group's one lock, a transaction takes the group lock in shared mode and then an exclusive lock per key.
 * Transactions on disjoint keys (a run's concurrent batches always are) go in parallel; two that share a key
 * (overlapping windows, shards re-packed, --force) queue for each other as with lockForWrite, so each sees what
 * the previous holder of its keys committed. Keys are locked in ascending order of their hash, so two
 * transactions cannot wait for each other; a hash collision only makes two unrelated keys wait. More keys than
 * MAX_KEY_LOCKS take the group lock exclusively, which also excludes every keyed holder.
 *
 * `keys`: 32-bit hashes of the row keys (the caller's hash: shared/db knows no domain module).
 */
export async function lockKeysForWrite(trx: Knex.Transaction, what: WriteLock, keys: readonly number[]): Promise<void> {
  if (dialectOf(trx) !== 'pg') return;
  await trx.raw(keyLockSql(what, keys));
}

/**
 * lockKeysForWrite's statement, its values written out (they are integers), for a script of statements sent in
 * one round trip (shared/db/pg-script.ts). PostgreSQL only.
 */
export function keyLockSql(what: WriteLock, keys: readonly number[]): string {
  const hashes = [...new Set(keys.map((k) => k | 0))].sort((a, b) => a - b);
  if (hashes.length > MAX_KEY_LOCKS) return `SELECT pg_advisory_xact_lock(${LOCK_NAMESPACE}, ${WRITE_LOCKS[what]})`;
  // one statement (UNION ALL runs its branches in order): the group lock first, then the keys in order
  // first key of a key lock: the namespace's last byte replaced by the group, so that two groups' keys never meet
  return `SELECT count(*) AS n FROM (SELECT pg_advisory_xact_lock_shared(${LOCK_NAMESPACE}, ${WRITE_LOCKS[what]}) AS l
       UNION ALL SELECT pg_advisory_xact_lock(${KEY_NAMESPACE | WRITE_LOCKS[what]}, k) FROM unnest('{${hashes.join(',')}}'::int4[]) AS k) s`;
}

/** 'ATT' and the group number: first key of the per-key locks. */
const KEY_NAMESPACE = 0x41545400;
