import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { writeTransaction } from '../shared/db/connect.js';
import { lockKeysForWrite, MAX_KEY_LOCKS } from '../shared/db/locks.js';
import { fnv1a, shardOf } from '../shared/ihc/shard.js';
import { CONFIG_FILE, ROOT, runCli, tempDir, type CliResult } from './helpers/env.js';
import { startScriptedServer, type ScriptedServer } from './helpers/ihc-testkit.js';

/**
 * Issue 14 on the throwaway PostgreSQL (make test-postgres): overlapping windows run as concurrent processes
 * give the table a serial run gives, and send-to-api --shard I/N run as N concurrent processes gives the
 * single-process result; a killed shard resumes without re-sending what was answered. Each scenario works in
 * its own database, copied from one loaded template, so that every repetition starts from the same state.
 */
const url = process.env['TEST_POSTGRES_URL'];
const pgTest = url !== undefined && url !== '' ? test.serial : test.serial.skip;

const FULL = { start: '2023-08-29', end: '2023-09-07' };
// a journey of a conversion on 09-02..09-03 reaches back into the first window: both recompute those dates
const WINDOW_A = { start: '2023-08-29', end: '2023-09-03' };
const WINDOW_B = { start: '2023-09-02', end: '2023-09-07' };
const REPEAT = Number(process.env['SCALEOUT_REPEAT'] ?? 4);

type Win = { start: string; end: string };
const args = (w: Win): string[] => ['--start-date', w.start, '--end-date', w.end];

const dbUrl = (name: string): string => {
  const u = new URL(url!);
  u.pathname = `/${name}`;
  return u.toString();
};

// dates as the YYYY-MM-DD strings the tasks write, numerics as numbers (as shared/db/connect.ts reads them)
pg.types.setTypeParser(1082, (v: string) => v);
pg.types.setTypeParser(1700, (v: string) => Number(v));

let admin: Knex;
let work: string;

async function must(r: Promise<CliResult>, what: string): Promise<CliResult> {
  const done = await r;
  if (done.code !== 0) throw new Error(`${what} exited ${done.code}:\n${done.stderr.slice(-3000)}`);
  return done;
}

async function freshDatabase(name: string): Promise<string> {
  await admin.raw(`DROP DATABASE IF EXISTS ${name}`);
  await admin.raw(`CREATE DATABASE ${name} TEMPLATE scaleout_base`);
  return dbUrl(name);
}

async function windowPipeline(env: NodeJS.ProcessEnv, w: Win, tag: string): Promise<void> {
  // setup-db too: every DAG run starts with it, so parallel runs migrate-check at the same time
  await must(runCli('setup-db', [], env), `${tag} setup-db`);
  await must(runCli('build-journeys', args(w), env), `${tag} build-journeys`);
  await must(runCli('send-to-api', args(w), env), `${tag} send-to-api`);
  await must(runCli('process-attribution', args(w), env), `${tag} process-attribution`);
}

const TABLES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['channel_reporting', ['channel_name', 'date']],
  ['attribution_customer_journey', ['conv_id', 'session_id']],
  ['journey_sessions', ['conv_id', 'session_id']],
];

/** The tables a run leaves, with floats rounded where summation order may differ between two runs. */
async function snapshot(u: string): Promise<Record<string, unknown[]>> {
  const db = knex({ client: 'pg', connection: u });
  try {
    const out: Record<string, unknown[]> = {};
    for (const [table, keys] of TABLES) {
      const rows = (await db(table).select('*').orderBy([...keys])) as Record<string, unknown>[];
      out[table] = rows.map((r) =>
        Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(12)) : v])),
      );
    }
    return out;
  } finally {
    await db.destroy();
  }
}

test.before(async () => {
  if (url === undefined || url === '') return;
  admin = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } });
  work = tempDir('attr-scaleout-');
  const demo = path.join(work, 'demo');
  await must(runCli('generate-data', ['--out', demo, '--scale', '1', '--seed', '11', ...args(FULL)]), 'generate-data');
  await admin.raw('DROP DATABASE IF EXISTS scaleout_base');
  await admin.raw('CREATE DATABASE scaleout_base');
  const env = { DATABASE_URL: dbUrl('scaleout_base'), OUTPUT_DIR: path.join(work, 'out-base') };
  await must(runCli('setup-db', [], env), 'setup-db');
  await must(runCli('load', ['--dir', demo], env), 'load');
});

test.after.always(async () => {
  if (admin !== undefined) await admin.destroy();
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
});

pgTest('overlapping windows run concurrently give the serial result, every time', async (t) => {
  t.timeout(20 * 60_000);
  const serialUrl = await freshDatabase('scaleout_serial');
  const serialEnv = { DATABASE_URL: serialUrl, OUTPUT_DIR: path.join(work, 'out-serial') };
  await windowPipeline(serialEnv, WINDOW_A, 'serial A');
  await windowPipeline(serialEnv, WINDOW_B, 'serial B');
  const serial = await snapshot(serialUrl);
  // the windows really share dates: both touch 2023-09-02 and 2023-09-03 in channel_reporting
  t.true((serial['channel_reporting'] as Array<{ date: string }>).some((r) => r.date === '2023-09-02'));
  t.true((serial['attribution_customer_journey'] ?? []).length > 100, `${(serial['attribution_customer_journey'] ?? []).length} rows`);

  for (let i = 1; i <= REPEAT; i++) {
    const u = await freshDatabase(`scaleout_par_${i}`);
    const env = (w: string) => ({ DATABASE_URL: u, OUTPUT_DIR: path.join(work, `out-par-${i}-${w}`) });
    await Promise.all([windowPipeline(env('a'), WINDOW_A, `run ${i} A`), windowPipeline(env('b'), WINDOW_B, `run ${i} B`)]);
    const got = await snapshot(u);
    for (const [table] of TABLES) t.deepEqual(got[table], serial[table], `run ${i}: ${table} differs from the serial run`);
    await admin.raw(`DROP DATABASE scaleout_par_${i}`);
  }
});

/** A temp config: small batches, one request at a time, so that a shard makes many requests and can be killed between two. */
function smallBatchConfig(): string {
  const text = fs
    .readFileSync(CONFIG_FILE, 'utf8')
    .replace(/^(\s*max_journeys_per_request:).*$/m, '$1 15')
    .replace(/^(\s*concurrency:).*$/m, '$1 1');
  const file = path.join(work, 'small-batches.yaml');
  fs.writeFileSync(file, text);
  return file;
}

function spawnTask(task: string, argv: readonly string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks', task, 'main.js'), ...argv], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal !== null ? 128 : -1), stdout, stderr }));
  });
  return { child, done };
}

test('shards are a stable partition of the conversion ids', (t) => {
  // FNV-1a 32-bit reference values (the published test vectors)
  t.is(fnv1a(''), 0x811c9dc5);
  t.is(fnv1a('a'), 0xe40c292c);
  t.is(fnv1a('foobar'), 0xbf9cf968);
  const ids = Array.from({ length: 2000 }, (_, i) => `C${i}`);
  const counts = [0, 0, 0, 0];
  for (const id of ids) counts[shardOf(id, 4) - 1]! += 1;
  for (const c of counts) t.true(c > 400 && c < 600, `uneven shards ${counts.join('/')}`);
  t.is(shardOf('C7', 1), 1);
});

pgTest('N shards sent concurrently give the single-process result; a killed shard resumes without re-sending', async (t) => {
  t.timeout(20 * 60_000);
  const config = smallBatchConfig();
  let server: ScriptedServer | undefined;
  try {
    server = await startScriptedServer();
    const base = (u: string, out: string) => ({ ATTRIBUTION_CONFIG: config, DATABASE_URL: u, OUTPUT_DIR: path.join(work, out) });

    // one process
    const singleUrl = await freshDatabase('scaleout_single');
    const single = base(singleUrl, 'out-single');
    await must(runCli('build-journeys', args(FULL), single), 'single build-journeys');
    await must(runCli('send-to-api', [...args(FULL), '--provider', server.url], single), 'single send-to-api');
    await must(runCli('process-attribution', [...args(FULL), '--models', 'none'], single), 'single process-attribution');
    const reference = await snapshot(singleUrl);
    const sentBySingle = server.log.flatMap((r) => r.convIds);
    t.true(sentBySingle.length > 300);

    // three shards at once, then one process-attribution
    server.log.length = 0;
    const shardUrl = await freshDatabase('scaleout_shards');
    const sharded = base(shardUrl, 'out-shards');
    await must(runCli('build-journeys', args(FULL), sharded), 'shards build-journeys');
    const runs = await Promise.all(
      [1, 2, 3].map((i) => must(runCli('send-to-api', [...args(FULL), '--provider', server!.url, '--shard', `${i}/3`], sharded), `shard ${i}/3`)),
    );
    for (const [i, r] of runs.entries()) t.regex(r.stdout + r.stderr, new RegExp(`shard ${i + 1}/3`));
    const sentByShards = server.log.flatMap((r) => r.convIds);
    t.deepEqual([...sentByShards].sort(), [...sentBySingle].sort(), 'the shards together send every journey exactly once');
    await must(runCli('process-attribution', [...args(FULL), '--models', 'none'], sharded), 'shards process-attribution');
    const got = await snapshot(shardUrl);
    for (const [table] of TABLES) t.deepEqual(got[table], reference[table], `sharded: ${table} differs from one process`);
    await server.close();

    // shard 1/2 killed while its fourth request hangs, then run again
    const HANG_AT = 4;
    server = await startScriptedServer((n) => (n === HANG_AT ? { kind: 'hang' } : { kind: 'answer' }));
    const killedUrl = await freshDatabase('scaleout_killed');
    const killed = base(killedUrl, 'out-killed');
    await must(runCli('build-journeys', args(FULL), killed), 'killed build-journeys');
    const first = spawnTask('send-to-api', [...args(FULL), '--provider', server.url, '--shard', '1/2'], killed);
    const deadline = Date.now() + 60_000;
    while (server.log.length < HANG_AT && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.is(server.log.length, HANG_AT, 'the shard reached the hanging request');
    await new Promise((r) => setTimeout(r, 300)); // the answered batches are committed before the next request goes out
    first.child.kill('SIGKILL');
    await first.done;
    const answeredBeforeKill = server.log.filter((r) => r.answered).flatMap((r) => r.convIds);
    t.is(answeredBeforeKill.length, 15 * (HANG_AT - 1));

    server.log.length = 0;
    const again = await must(runCli('send-to-api', [...args(FULL), '--provider', server.url, '--shard', '1/2'], killed), 'shard 1/2 again');
    t.regex(again.stdout + again.stderr, new RegExp(`${HANG_AT - 1} already done`));
    const resent = new Set(server.log.flatMap((r) => r.convIds));
    t.deepEqual(
      answeredBeforeKill.filter((c) => resent.has(c)),
      [],
      'nothing answered before the kill was sent again',
    );
    await must(runCli('send-to-api', [...args(FULL), '--provider', server.url, '--shard', '2/2'], killed), 'shard 2/2');
    await must(runCli('process-attribution', [...args(FULL), '--models', 'none'], killed), 'killed process-attribution');
    const resumed = await snapshot(killedUrl);
    for (const [table] of TABLES) t.deepEqual(resumed[table], reference[table], `killed and resumed: ${table} differs from one process`);
  } finally {
    await server?.close();
  }
});

/** An open transaction that took lockKeysForWrite('staging', keys); `locked` settles once it holds them. */
function holdKeys(db: Knex, keys: readonly string[]): { locked: Promise<void>; release: () => Promise<void> } {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  let onLocked!: (v: Promise<void>) => void;
  const locked = new Promise<void>((r) => (onLocked = r));
  const trx = writeTransaction(db, async (tx) => {
    const l = lockKeysForWrite(tx, 'staging', keys.map(fnv1a));
    onLocked(l);
    await l;
    await done;
  });
  return {
    locked,
    release: async () => {
      release();
      await trx;
    },
  };
}

/** Resolves once `n` sessions wait for an advisory lock. */
async function waiters(db: Knex, n: number): Promise<void> {
  for (;;) {
    const r = await db.raw("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
    if ((r.rows[0] as { n: number }).n >= n) return;
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

pgTest("send-to-api's staging writes queue only when they share a conversion; one with more than MAX_KEY_LOCKS waits for all", async (t) => {
  const db = knex({ client: 'pg', connection: url!, pool: { min: 0, max: 6 } });
  try {
    const a = holdKeys(db, ['C1', 'C2']);
    await a.locked;
    // disjoint: granted while the first still holds its keys (a run's concurrent batches)
    const b = holdKeys(db, ['C3', 'C4']);
    await b.locked;
    // C2 is held by the first: queues behind it, and so does one that takes the group lock exclusively
    const c = holdKeys(db, ['C5', 'C2']);
    let cLocked = false;
    void c.locked.then(() => (cLocked = true));
    await waiters(db, 1);
    const many = Array.from({ length: MAX_KEY_LOCKS + 1 }, (_, i) => `M${i}`);
    const d = holdKeys(db, many);
    let dLocked = false;
    void d.locked.then(() => (dLocked = true));
    await waiters(db, 2);
    t.false(cLocked, 'a write sharing a conversion went ahead');
    t.false(dLocked, 'the exclusive write went ahead of the keyed ones');
    await a.release();
    await c.locked;
    t.false(dLocked, 'the exclusive write went ahead while keyed writes were open');
    await b.release();
    await c.release();
    await d.locked;
    // and once it holds the group, a keyed write waits for it
    const e = holdKeys(db, ['C9']);
    let eLocked = false;
    void e.locked.then(() => (eLocked = true));
    await waiters(db, 1);
    t.false(eLocked, 'a keyed write went ahead of the exclusive one');
    await d.release();
    await e.locked;
    await e.release();
  } finally {
    await db.destroy();
  }
});
