import * as t from 'io-ts';
import { CountRow, dbOver, DbNumber, DbText, orThrow } from '../db/db.js';
import type { Knex } from 'knex';
import { keyLockSql, lockKeysForWrite } from '../db/locks.js';
import { chunks } from '../db/in-lists.js';
import { pgArray, pgLiteral, runPgScript } from '../db/pg-script.js';
import { redact } from '../errors.js';
import type { Window } from '../window.js';
import type { FailedJourney } from './answer.js';
import type { RequestBody, ValueItem } from './contract.js';
import { sha256 } from './provider.js';
import { fnv1a } from './shard.js';
import { dialectOf, sqliteDriverOf, writeTransaction } from '../db/connect.js';
import { writeRows } from '../ingest/stage.js';

/**
 * The staging tables process-attribution reads (migration 003): one api_batches row per request fingerprint,
 * api_results per accepted session, api_failures per journey not attributed. Each batch is written in one
 * transaction, so a kill leaves either the whole batch or none of it, and a re-run resumes with what is missing.
 */

export type BatchStatus = 'succeeded' | 'partial' | 'failed';

/** sha256 of who answers (no secrets), the conversion type and the request body with real ids. */
export function fingerprint(providerIdentity: string, convTypeId: string, body: RequestBody): string {
  return sha256(JSON.stringify({ provider: providerIdentity, conv_type_id: convTypeId, body }));
}

const StagedBatch = t.type({ batch_id: DbText, status: t.keyof({ succeeded: null, partial: null, failed: null }) });
const BatchOwners = t.type({ other_results: DbNumber, other_failures: DbNumber, own: DbNumber });

/** The status of each of these batches that was staged (a batch never completed is absent). */
export async function stagedStatuses(db: Knex, batchIds: readonly string[]): Promise<Map<string, BatchStatus>> {
  const out = new Map<string, BatchStatus>();
  for (const c of chunks(batchIds, IN_CHUNK)) {
    const rows = await orThrow(dbOver(db).select('reading staged batches', StagedBatch, (k) => k('api_batches').select('batch_id', 'status').whereIn('batch_id', c)));
    for (const r of rows) out.set(r.batch_id, r.status);
  }
  return out;
}

/**
 * True when every conversion of the batch still holds this batch's outcome (answers or failures) and no other
 * batch's. An answered batch counts as done only then: after another provider or conversion type answered (or
 * failed) some of its conversions, re-sending is the only way back to this provider's answers.
 */
export async function batchIsCurrent(db: Knex, batchId: string, convIds: readonly string[]): Promise<boolean> {
  let own = 0;
  for (const c of chunks(convIds, IN_CHUNK)) {
    const marks = c.map(() => '?').join(', ');
    const [r] = await orThrow(
      dbOver(db).select(
        "checking that the batch's answers are still its own",
        BatchOwners,
        `SELECT
         (SELECT COUNT(*) FROM api_results WHERE conv_id IN (${marks}) AND batch_id <> ?) AS other_results,
         (SELECT COUNT(*) FROM api_failures WHERE conv_id IN (${marks}) AND (batch_id IS NULL OR batch_id <> ?)) AS other_failures,
         (SELECT COUNT(*) FROM (SELECT conv_id FROM api_results WHERE conv_id IN (${marks}) AND batch_id = ?
                                UNION SELECT conv_id FROM api_failures WHERE conv_id IN (${marks}) AND batch_id = ?) u) AS own`,
        [...c, batchId, ...c, batchId, ...c, batchId, ...c, batchId],
      ),
    );
    if (r === undefined || r.other_results > 0 || r.other_failures > 0) return false;
    own += r.own;
  }
  return own === convIds.length;
}

export async function failuresOfBatch(db: Knex, batchId: string): Promise<number> {
  const [r] = await orThrow(dbOver(db).select("counting a batch's failures", CountRow, (k) => k('api_failures').where('batch_id', batchId).count({ n: '*' })));
  return r?.n ?? 0;
}

export interface BatchRecord {
  readonly batchId: string;
  readonly provider: string;
  readonly convTypeId: string;
  readonly window: Window;
  readonly convIds: readonly string[];
  readonly sessions: number;
  readonly status: BatchStatus;
  readonly httpStatus: number | null;
  readonly attempts: number;
  readonly error: string | null;
  readonly response: string | null;
  /** real ids; empty for a failed batch */
  readonly values: readonly ValueItem[];
  /** journeys not attributed, with the reason (every journey of a failed batch) */
  readonly failed: readonly FailedJourney[];
  readonly now: string;
}

/** Rows per statement: SQLite refuses more than 999 (older builds) bound variables. */
const IN_CHUNK = 400;

const BATCH_COLUMNS = [
  'batch_id',
  'provider',
  'conv_type_id',
  'window_start',
  'window_end',
  'journeys',
  'sessions',
  'status',
  'http_status',
  'attempts',
  'error',
  'response',
  'created_at',
  'updated_at',
] as const;
/** what a re-sent batch replaces in its api_batches row (created_at and the fingerprint's parts stay) */
const BATCH_UPDATED = ['provider', 'window_start', 'window_end', 'status', 'http_status', 'attempts', 'error', 'response', 'updated_at'] as const;

const RESULT_COLUMNS = ['conv_id', 'session_id', 'batch_id', 'initializer', 'holder', 'closer', 'ihc'] as const;
const FAILURE_COLUMNS = ['conv_id', 'batch_id', 'reason', 'created_at'] as const;

/** The longest answer text kept in api_batches.response. */
const RESPONSE_LIMIT = 4_000_000;

function batchRow(r: BatchRecord): Array<string | number | null> {
  const response = r.response === null ? null : redact(r.response.length > RESPONSE_LIMIT ? r.response.slice(0, RESPONSE_LIMIT) : r.response);
  const error = r.error === null ? null : redact(r.error).slice(0, 4000);
  return [r.batchId, r.provider, r.convTypeId, r.window.start, r.window.end, r.convIds.length, r.sessions, r.status, r.httpStatus, r.attempts, error, response, r.now, r.now];
}

/**
 * Upsert of api_batches rows, the same SQL on both databases (SQLite 3.24+ and PostgreSQL know ON CONFLICT): with
 * `literal`, the values are written into the text (a PostgreSQL script, see runPgScript), else bound.
 */
function upsertBatches(rows: ReadonlyArray<Array<string | number | null>>, literal?: (v: string | number | null) => string): { sql: string; bindings: Knex.Value[] } {
  const values = rows.map((r) => `(${r.map((v) => (literal === undefined ? '?' : literal(v))).join(', ')})`).join(', ');
  return {
    sql:
      `INSERT INTO api_batches (${BATCH_COLUMNS.join(', ')}) VALUES ${values}
       ON CONFLICT (batch_id) DO UPDATE SET ${BATCH_UPDATED.map((c) => `${c} = excluded.${c}`).join(', ')}`,
    bindings: literal === undefined ? rows.flat() : [],
  };
}

const Lz4 = t.type({ n: DbNumber });
const lz4Known = new WeakMap<Knex, Promise<boolean>>();

/** Whether the server can compress with lz4 (PostgreSQL 14+ built with it); asked once per connection pool, since
 * reading pg_settings in every group's script cost more than lz4 saved. */
function serverHasLz4(db: Knex): Promise<boolean> {
  let known = lz4Known.get(db);
  if (known === undefined) {
    known = orThrow(
      dbOver(db).select('asking the server for lz4', Lz4, "SELECT count(*) AS n FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"),
    ).then((rows) => (rows[0]?.n ?? 0) > 0);
    lz4Known.set(db, known);
  }
  return known;
}

/**
 * Writes completed batches in one transaction (send-to-api's StagingWriter hands over what its senders finished
 * meanwhile). Each batch is written as a whole: one that succeeded (fully or in part) replaces the api_results
 * of all its conversions and clears their earlier failures; a failed one writes nothing to api_results (earlier
 * answers for its conversions, if any, stay as they were) and records each of its journeys as failed. A kill
 * leaves every batch either written or absent, and a re-run sends the absent ones.
 *
 * The rows go set-wise: one upsert of the batches, one DELETE and one INSERT per staging table for all of them.
 * On PostgreSQL, where every statement waits for a round trip, the whole group is one script in one round trip
 * (the locks, then the deletes, then the inserts of arrays through unnest); on SQLite the statements are chunked
 * under its limits.
 */
export async function recordBatches(db: Knex, rs: readonly BatchRecord[], insertChunk: number): Promise<void> {
  if (rs.length === 0) return;
  // the last record of a fingerprint wins, as when the batches were written one after the other
  const batches = [...new Map(rs.map((r) => [r.batchId, batchRow(r)])).values()];
  const answered = rs.filter((r) => r.status !== 'failed');
  const resultIds = answered.flatMap((r) => r.convIds);
  const allIds = rs.flatMap((r) => r.convIds);
  const failures = rs.flatMap((r) => r.failed.map((f) => ({ conv_id: f.conversionId, batch_id: r.batchId, reason: redact(f.reason).slice(0, 2000), created_at: r.now })));
  if (dialectOf(db) === 'pg') {
    const results = answered.flatMap((r) => r.values.map((v) => ({ ...v, batch_id: r.batchId })));
    // one round trip for the whole group (runPgScript): the lock, then the deletes and the batches' upsert, then
    // the inserts. The deletes and the inserts are separate statements: a statement's CTEs run in no set order.
    const script = [
      keyLockSql('staging', allIds.map(fnv1a)),
      // the deletes find the group's conversions by key: a first send fills the staging tables as it goes, with no
      // statistics yet, and the planner then scanned the whole growing api_results for every group (for this
      // transaction only; the inserts read no table)
      `SELECT set_config('enable_seqscan', 'off', true)`,
      // api_batches.response holds each answer's text (~46 kB a batch at scale 10): pglz compressing it was about a
      // quarter of this script's server CPU, lz4 does it in a fraction
      ...((await serverHasLz4(db)) ? [`SELECT set_config('default_toast_compression', 'lz4', true)`] : []),
      // IN (SELECT unnest(...)) rather than = ANY(...): the planner estimates = ANY over a constant array element by
      // element, ~0.7 ms per delete for a group's 256 ids (planning was 0.45 of the statement's 1.1 s at scale 10);
      // the semi-join walks the same key index
      `WITH b AS (${upsertBatches(batches, pgLiteral).sql}),
            r AS (DELETE FROM api_results WHERE conv_id IN (SELECT unnest(${pgArray(resultIds, 'text')})))
       DELETE FROM api_failures WHERE conv_id IN (SELECT unnest(${pgArray(allIds, 'text')}))`,
    ];
    if (results.length > 0) {
      script.push(
        `INSERT INTO api_results (conv_id, session_id, batch_id, initializer, holder, closer, ihc)
         SELECT * FROM unnest(${pgArray(results.map((v) => v.conversion_id), 'text')}, ${pgArray(results.map((v) => v.session_id), 'text')},
                              ${pgArray(results.map((v) => v.batch_id), 'text')}, ${pgArray(results.map((v) => v.initializer), 'float8')},
                              ${pgArray(results.map((v) => v.holder), 'float8')}, ${pgArray(results.map((v) => v.closer), 'float8')},
                              ${pgArray(results.map((v) => v.ihc), 'float8')})`,
      );
    }
    if (failures.length > 0) {
      script.push(
        `INSERT INTO api_failures (conv_id, batch_id, reason, created_at)
         SELECT * FROM unnest(${pgArray(failures.map((f) => f.conv_id), 'text')}, ${pgArray(failures.map((f) => f.batch_id), 'text')},
                              ${pgArray(failures.map((f) => f.reason), 'text')}, ${pgArray(failures.map((f) => f.created_at), 'text')})`,
      );
    }
    await runPgScript(db, script);
    return;
  }
  await writeTransaction(db, async (trx) => {
    for (const c of chunks(batches, Math.max(1, Math.floor(insertChunk / 4)))) {
      const up = upsertBatches(c);
      await trx.raw(up.sql, up.bindings);
    }
    for (const c of chunks(resultIds, IN_CHUNK)) await trx('api_results').whereIn('conv_id', c).delete();
    for (const c of chunks(allIds, IN_CHUNK)) await trx('api_failures').whereIn('conv_id', c).delete();
    // straight from the answers: an object per value first, then its row, was 37,385 copies more at scale 10
    const resultRows = answered.flatMap((r) => r.values.map((v) => [v.conversion_id, v.session_id, r.batchId, v.initializer, v.holder, v.closer, v.ihc]));
    const failureRows = failures.map((f) => [f.conv_id, f.batch_id, f.reason, f.created_at]);
    if (sqliteDriverOf(trx) === 'better-sqlite3') {
      // one prepared INSERT per table, a step per row: knex compiles and prepares a new multi-row statement per chunk
      await writeRows(trx, 'api_results', RESULT_COLUMNS, resultRows, insertChunk);
      await writeRows(trx, 'api_failures', FAILURE_COLUMNS, failureRows, insertChunk);
      return;
    }
    // node-sqlite3: bound values (its JSON path would parse the floats with SQLite's own number reader)
    const named = (cols: readonly string[], rows: unknown[][]) => rows.map((r) => Object.fromEntries(cols.map((c, i) => [c, r[i]])));
    for (const c of chunks(named(RESULT_COLUMNS, resultRows), insertChunk)) await trx('api_results').insert(c);
    for (const c of chunks(named(FAILURE_COLUMNS, failureRows), insertChunk)) await trx('api_failures').insert(c);
  });
}

/** Journeys never sent (no sessions, or oversize under `skip`): recorded as failures without a batch; stale answers go. */
export async function recordUnsent(db: Knex, failed: readonly FailedJourney[], now: string, insertChunk: number): Promise<void> {
  if (failed.length === 0) return;
  if (dialectOf(db) === 'pg') {
    // one round trip, as a group of batches is written (recordBatches): statement by statement this was ~10 round
    // trips at the end of every run (scale 10: 566 journeys without sessions), with nothing else left to overlap them
    const ids = failed.map((f) => f.conversionId);
    const list = pgArray(ids, 'text');
    await runPgScript(db, [
      keyLockSql('staging', ids.map(fnv1a)),
      `SELECT set_config('enable_seqscan', 'off', true)`,
      `WITH r AS (DELETE FROM api_results WHERE conv_id IN (SELECT unnest(${list})))
       DELETE FROM api_failures WHERE conv_id IN (SELECT unnest(${list}))`,
      `INSERT INTO api_failures (conv_id, batch_id, reason, created_at)
       SELECT c, NULL, r, ${pgLiteral(now)} FROM unnest(${list}, ${pgArray(failed.map((f) => f.reason), 'text')}) AS u(c, r)`,
    ]);
    return;
  }
  await writeTransaction(db, async (trx) => {
    const ids = failed.map((f) => f.conversionId);
    await lockKeysForWrite(trx, 'staging', ids.map(fnv1a));
    for (const c of chunks(ids, IN_CHUNK)) {
      await trx('api_results').whereIn('conv_id', c).delete();
      await trx('api_failures').whereIn('conv_id', c).delete();
    }
    const rows = failed.map((f) => ({ conv_id: f.conversionId, batch_id: null, reason: f.reason, created_at: now }));
    for (const c of chunks(rows, insertChunk)) await trx('api_failures').insert(c);
  });
}
