import * as E from 'fp-ts/lib/Either.js';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { EXIT_CODES, providerError, schemaError, type AppError } from '../errors.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import type { Window } from '../window.js';
import { checkAnswer, type FailedJourney } from './answer.js';
import { packBatches, type Batch, type BatchNotice } from './batching.js';
import { bodyOf, type RequestBody, type ValueItem } from './contract.js';
import { orThrow } from '../db/db.js';
import { countJourneys } from '../journeys/read.js';
import { journeysNeverBuilt, OrderTimes, streamJourneys } from './journeys.js';
import { toOpaque } from './opaque.js';
import { resolveProvider, type Provider } from './provider.js';
import { withStoredConversionType } from './conversion-types.js';
import { rateText } from '../progress.js';
import { count } from '../format.js';
import { realTiming, type RetryPolicy, type Timing } from './retry.js';
import { closeRun, openRun } from './runs.js';
import { describeShard, inShard, parseShard, type Shard } from './shard.js';
import { batchIsCurrent, failuresOfBatch, fingerprint, recordBatches, recordUnsent, stagedStatuses, type BatchRecord, type BatchStatus } from './staging.js';
import { StagingWriter } from './writer.js';
import { dialectOf } from '../db/connect.js';
import { MAX_KEY_LOCKS } from '../db/locks.js';

export interface SendArgs {
  /** `local`, `ihc` or a base URL; default config provider.name */
  readonly provider?: string;
  /** default config provider.conv_type_id */
  readonly convTypeId?: string;
  /** re-send batches already answered */
  readonly force: boolean;
  readonly window: Window;
  /** `I/N`: only the journeys of shard I of N (see shard.ts) */
  readonly shard?: string;
}

export interface SendStats {
  batchesSent: number;
  batchesSkipped: number;
  batchesRetried: number;
  retries: number;
  batchesFailed: number;
  journeysAttributed: number;
  journeysNotAttributed: number;
  journeysTruncated: number;
  journeysTotal: number;
}

export interface SendDeps {
  readonly timing?: Timing;
}

const PAGE = 500;
/** conversions per staging transaction on SQLite: each commit rewrites the pages it touched */
const GROUP_JOURNEYS_SQLITE = 1_000;
/** how long an answered batch may wait for others to share its transaction (an HTTP answer takes longer) */
const GROUP_LINGER_MS = 50;
/** staging transactions at once on PostgreSQL (of database.pool_max connections; the rest read journeys) */
const PG_WRITERS = 2;

export function retryPolicyOf(p: Capabilities['config']['provider']): RetryPolicy {
  return {
    attemptTimeoutMs: p.attempt_timeout_ms,
    deadlineMs: p.deadline_ms,
    maxRetries: p.max_retries,
    backoffInitialMs: p.backoff_initial_ms,
    backoffMaxMs: p.backoff_max_ms,
  };
}

/**
 * send-to-api: the window's journeys, in batches, to the provider; every answer checked, then staged batch by
 * batch. Returns exit code 7 (ProviderError) with the summary when some batches failed, and fails outright
 * when the provider refuses the key.
 */
export function sendToApi(args: SendArgs, caps: Capabilities, deps: SendDeps = {}): TE.TaskEither<AppError, TaskResult> {
  const convTypeId = args.convTypeId ?? caps.config.provider.conv_type_id;
  const orders = new OrderTimes();
  return pipe(
    caps.db.run('send-to-api could not read table conversion_types', (k) => withStoredConversionType(k, caps.config, convTypeId, caps.logger)),
    TE.chainEitherK((config) =>
      resolveProvider(config, caps.env, { name: args.provider, convTypeId, conversionTimes: (ids) => orders.of(caps.db, ids) }),
    ),
    TE.bindTo('provider'),
    TE.bind('shard', () => TE.fromEither(args.shard === undefined ? E.right(undefined) : parseShard(args.shard))),
    TE.chainFirst(() =>
      pipe(
        caps.db.run('send-to-api could not read the schema', async (k) => {
          const missing: string[] = [];
          for (const t of ['journeys', 'journey_sessions', 'api_batches', 'api_results', 'api_failures', 'attribution_runs']) {
            if (!(await k.schema.hasTable(t))) missing.push(`table ${t} is missing`);
          }
          return missing;
        }),
        TE.chain((missing) =>
          missing.length === 0 ? TE.right(undefined) : TE.left(schemaError('the database is not set up for send-to-api: run setup-db (and build-journeys) first', missing)),
        ),
      ),
    ),
    TE.chain(({ provider, shard }) =>
      caps.db.run('send-to-api could not read journeys or write the staging tables', () => run(provider, convTypeId, args, shard, orders, caps, deps.timing ?? realTiming)),
    ),
    TE.chainEitherK((result) => result),
  );
}

async function run(
  provider: Provider,
  convTypeId: string,
  args: SendArgs,
  shard: Shard | undefined,
  orders: OrderTimes,
  caps: Capabilities,
  timing: Timing,
): Promise<E.Either<AppError, TaskResult>> {
  const pcfg = caps.config.provider;
  const db = caps.db.knex();
  const log = caps.logger;
  const keep = shard === undefined ? undefined : (convId: string): boolean => inShard(convId, shard);
  const total = await orThrow(countJourneys(caps.db, args.window, keep));
  if (total === 0) await orThrow(journeysNeverBuilt(caps.db, args.window));
  const runRow = await openRun(db, { runId: caps.runId, window: args.window, provider: provider.name, convTypeId, now: caps.clock().toISOString() });
  const stats: SendStats = {
    batchesSent: 0,
    batchesSkipped: 0,
    batchesRetried: 0,
    retries: 0,
    batchesFailed: 0,
    journeysAttributed: 0,
    journeysNotAttributed: 0,
    journeysTruncated: 0,
    journeysTotal: total,
  };
  const opaque = provider.external && pcfg.opaque_ids;
  // The local engine on SQLite waits for nothing: every step of a batch runs on this thread, so batches in flight
  // only interleave, and each then lives through the others' work. That kept ~1,000 journeys alive across young
  // collections, promoted to the old space as garbage: peak RSS grew with the window (scale 10: 137 MB, 30: 165,
  // 100: 189). One batch at a time: scale 10 135 MB, 30 138. Requests over HTTP and PostgreSQL's round trips do overlap.
  const inFlight = provider.external || dialectOf(db) === 'pg' ? pcfg.concurrency : 1;
  log.info(
    `sending ${count(total)} journeys of ${args.window.start}..${args.window.end}${describeShard(shard)} to ${provider.endpoint} (conv_type_id ${convTypeId}; ` +
      `at most ${pcfg.max_journeys_per_request} journeys / ${pcfg.max_sessions_per_request} sessions per request, ${inFlight} at a time` +
      `${opaque ? ', opaque ids' : ''}${args.force ? ', --force' : ''})`,
  );
  const progress = caps.progress({ label: 'send-to-api', unit: 'journeys', total });
  const unsent: FailedJourney[] = [];
  const truncated: string[] = [];
  const onNotice = (n: BatchNotice): void => {
    if (n.kind !== 'truncated') orders.forget([n.conversionId]);
    switch (n.kind) {
      case 'empty':
        unsent.push({ conversionId: n.conversionId, reason: 'the journey has no sessions before the conversion; nothing to attribute' });
        break;
      case 'oversize_skipped':
        unsent.push({
          conversionId: n.conversionId,
          reason: `the journey has ${n.sessions} sessions, more than provider.max_sessions_per_request (${pcfg.max_sessions_per_request}); skipped (provider.oversize_journey: skip)`,
        });
        break;
      case 'truncated':
        truncated.push(n.conversionId);
        log.debug(`journey ${n.conversionId}: ${n.from} sessions, sending the latest ${n.to} (provider.oversize_journey: keep_latest)`);
        break;
    }
  };
  const batches = packBatches(
    streamJourneys(caps.db, args.window, PAGE, keep, orders),
    { maxJourneys: pcfg.max_journeys_per_request, maxSessions: pcfg.max_sessions_per_request, oversize: pcfg.oversize_journey },
    onNotice,
  );
  const it = withStatus(
    batches,
    (body) => fingerprint(provider.identity, convTypeId, body),
    inFlight,
    args.force ? undefined : (ids) => stagedStatuses(db, ids),
  )[Symbol.asyncIterator]();
  const policy = retryPolicyOf(pcfg);
  let refused: string | undefined;
  let halted: string | undefined;
  let thrown: unknown;
  const started = timing.now();
  let batchNo = 0;
  const insertChunk = caps.config.database.insert_chunk_rows;
  const writer = new StagingWriter<BatchRecord>((group) => recordBatches(db, group, insertChunk), {
    maxPending: Math.max(16, 2 * inFlight),
    // PostgreSQL: within the per-conversion locks (shared/db/locks.ts), so that concurrent shards still write in parallel
    maxGroupJourneys: dialectOf(db) === 'pg' ? MAX_KEY_LOCKS : GROUP_JOURNEYS_SQLITE,
    lingerMs: GROUP_LINGER_MS,
    // PostgreSQL writes on several connections at once (the groups' keys are disjoint, so they never wait for each
    // other): one group at a time was the send's bottleneck there. SQLite has one writer.
    maxWriters: dialectOf(db) === 'pg' ? PG_WRITERS : 1,
  });

  const handle = async (p: Prepared, no: number): Promise<void> => {
    const convIds = p.batch.journeys.map((j) => j.conversionId);
    try {
      await handleBatch(p, convIds, no);
    } finally {
      orders.forget(convIds);
    }
  };
  const handleBatch = async ({ batch, body, batchId, staged }: Prepared, convIds: readonly string[], no: number): Promise<void> => {
    const n = batch.journeys.length;
    if ((staged === 'succeeded' || staged === 'partial') && (await batchIsCurrent(db, batchId, convIds))) {
      const f = staged === 'partial' ? await failuresOfBatch(db, batchId) : 0;
      stats.batchesSkipped += 1;
      stats.journeysAttributed += n - f;
      stats.journeysNotAttributed += f;
      progress.tick(n);
      return;
    }
    const op = opaque ? toOpaque(batch.journeys) : undefined;
    const sent = op?.journeys ?? batch.journeys;
    const outcome = await provider.send(op === undefined ? body : bodyOf(sent), {
      policy,
      timing,
      onRetry: (e) => {
        stats.retries += 1;
        log.warn(`batch ${no} (${batchId.slice(0, 12)}): attempt ${e.attempt} failed (${e.reason}); retrying after ${e.delayMs} ms`);
      },
    });
    if (outcome.attempts > 1) stats.batchesRetried += 1;
    const base = {
      batchId,
      provider: provider.name,
      convTypeId,
      window: args.window,
      convIds,
      sessions: batch.sessions,
      attempts: outcome.attempts,
      now: caps.clock().toISOString(),
    };
    const fail = async (reason: string, httpStatus: number | null, response: string | null): Promise<void> => {
      log.error(`batch ${no} (${batchId.slice(0, 12)}, ${n} journeys) failed: ${reason}`);
      await writer.add({
        ...base,
        status: 'failed',
        httpStatus,
        error: reason,
        response,
        values: [],
        failed: convIds.map((c) => ({ conversionId: c, reason: `batch failed: ${reason}` })),
      });
      stats.batchesFailed += 1;
      stats.journeysNotAttributed += n;
      progress.tick(n);
    };
    if (!outcome.ok) {
      if (outcome.kind === 'refused') {
        refused = outcome.message;
        return;
      }
      if (outcome.kind === 'gave_up') halted = `batch ${no}: ${outcome.message}`;
      await fail(outcome.message, outcome.status ?? null, outcome.text ?? null);
      return;
    }
    const checked = checkAnswer(sent, outcome.status, outcome.text, pcfg.sum_tolerance);
    if (checked._tag === 'rejected') {
      await fail(`the answer failed the checks: ${checked.reason}`, outcome.status, outcome.text);
      return;
    }
    let values: readonly ValueItem[] = checked.values;
    let failed: readonly FailedJourney[] = checked.failed;
    if (op !== undefined) {
      values = values.map((v) => op.back(v)!);
      failed = failed.map((f) => ({ conversionId: op.realConversionId(f.conversionId) ?? f.conversionId, reason: f.reason }));
    }
    for (const f of failed.slice(0, 3)) log.warn(`batch ${no}: journey ${f.conversionId} not attributed: ${f.reason}`);
    await writer.add({ ...base, status: checked.status, httpStatus: outcome.status, error: null, response: outcome.text, values, failed });
    stats.batchesSent += 1;
    stats.journeysAttributed += n - failed.length;
    stats.journeysNotAttributed += failed.length;
    progress.tick(n);
  };

  const worker = async (): Promise<void> => {
    while (refused === undefined && halted === undefined && thrown === undefined) {
      let next: IteratorResult<Prepared>;
      try {
        next = await it.next();
      } catch (e) {
        thrown = e;
        return;
      }
      if (next.done === true) return;
      batchNo += 1;
      try {
        await handle(next.value, batchNo);
      } catch (e) {
        thrown = e;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, () => worker()));
  try {
    await writer.close();
  } catch (e) {
    thrown ??= e;
  }
  const prog = progress.done();
  if (thrown !== undefined) throw thrown;

  // journeys that were never sent: written only when the run got through the window, so a stopped run says nothing false
  const complete = refused === undefined && halted === undefined;
  if (complete) {
    await recordUnsent(db, unsent, caps.clock().toISOString(), caps.config.database.insert_chunk_rows);
    stats.journeysNotAttributed += unsent.length;
  }
  stats.journeysTruncated = truncated.length;
  if (truncated.length > 0) {
    log.warn(
      `${truncated.length} journeys were longer than ${pcfg.max_sessions_per_request} sessions and were sent with their latest ${pcfg.max_sessions_per_request} ` +
        `(provider.oversize_journey: keep_latest), e.g. ${truncated.slice(0, 5).join(', ')}`,
    );
  }
  const skippedOversize = unsent.filter((u) => u.reason.includes('oversize_journey')).length;
  if (skippedOversize > 0) log.warn(`${skippedOversize} journeys longer than the session limit were skipped and recorded in api_failures (provider.oversize_journey: skip)`);

  await closeRun(db, runRow, {
    status: complete && stats.batchesFailed === 0 ? 'complete' : 'incomplete',
    journeys: total,
    failed: stats.journeysNotAttributed,
    now: caps.clock().toISOString(),
  });
  const seconds = Math.max((timing.now() - started) / 1000, prog.seconds, 1e-3);
  const summary = summarise(provider, convTypeId, args.window, stats, seconds) + describeShard(shard);
  if (refused !== undefined) return E.left(providerError(`${refused}. Check IHC_API_KEY. Nothing more was sent. ${summary}`));
  if (stats.batchesFailed > 0) {
    return E.right({
      summary: `${summary}${halted !== undefined ? `; stopped early: ${halted}` : ''}; failed batches are in api_batches (status failed) and will be re-sent by the next run`,
      exitCode: EXIT_CODES.ProviderError,
    });
  }
  return E.right({ summary });
}

/** A batch with its request body, its fingerprint and its status in api_batches (undefined: never completed, or --force). */
interface Prepared {
  readonly batch: Batch;
  readonly body: RequestBody;
  readonly batchId: string;
  readonly staged: BatchStatus | undefined;
}

/**
 * The batches, each with its body and fingerprint, and the status of `ahead` of them at a time asked in one query
 * (`lookup`; none with --force): a query per batch was, on PostgreSQL, 195 round trips at scale 10 and ~0.15-0.2
 * of the step's 1.8-2.0 client CPU s (runs with --force, which asks nothing, against runs without).
 */
async function* withStatus(
  batches: AsyncIterable<Batch>,
  fingerprintOf: (body: RequestBody) => string,
  ahead: number,
  lookup: ((batchIds: readonly string[]) => Promise<ReadonlyMap<string, BatchStatus>>) | undefined,
): AsyncGenerator<Prepared> {
  const it = batches[Symbol.asyncIterator]();
  for (;;) {
    const next: Array<Omit<Prepared, 'staged'>> = [];
    while (next.length < ahead) {
      const r = await it.next();
      if (r.done === true) break;
      const body = bodyOf(r.value.journeys);
      next.push({ batch: r.value, body, batchId: fingerprintOf(body) });
    }
    if (next.length === 0) return;
    const staged = lookup === undefined ? undefined : await lookup(next.map((p) => p.batchId));
    for (const p of next) yield { ...p, staged: staged?.get(p.batchId) };
    if (next.length < ahead) return;
  }
}

export function summarise(provider: Provider, convTypeId: string, w: Window, s: SendStats, seconds: number): string {
  // journeys of batches already done count as attributed but were not sent now: no batch sent, no speed
  const rate = s.batchesSent > 0 ? rateText(s.journeysAttributed + s.journeysNotAttributed, seconds, 'journeys') : undefined;
  return (
    `${w.start}..${w.end} via ${provider.name} (conv_type_id ${convTypeId}): ` +
    `batches ${count(s.batchesSent)} sent, ${count(s.batchesSkipped)} already done, ${count(s.batchesRetried)} retried (${count(s.retries)} retries), ${count(s.batchesFailed)} failed; ` +
    `journeys ${count(s.journeysAttributed)} attributed, ${count(s.journeysNotAttributed)} not attributed` +
    `${s.journeysTruncated > 0 ? `, ${count(s.journeysTruncated)} truncated to the latest sessions` : ''} of ${count(s.journeysTotal)}; ` +
    // a run that sent nothing has no speed: "0 sent" says it all
    `${seconds.toFixed(2)} s${rate === undefined ? '' : `, ${rate}`}`
  );
}
