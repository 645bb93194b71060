import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import knex, { type Knex } from 'knex';
import { makeDb, targetOf } from '../../shared/db/connect.js';
import { CONFIG_FILE, ROOT, driverUnderTest, runCli, testConfig, type CliResult } from '../helpers/env.js';

/**
 * What the reliability suite shares: real CLI runs on small generated data, a database dump that ignores
 * only what differs between two honest runs (generated ids, clocks), and the long/short form switch.
 */

/** `make reliability` sets a larger number; CI's short form runs each scenario once. */
export const ITERATIONS = Math.max(1, Number(process.env['RELIABILITY_ITERATIONS'] ?? '1') || 1);

// two windows whose journeys (lookback 3 days) share no session date, so their results do not depend on order
export const W1 = ['--start-date', '2023-09-01', '--end-date', '2023-09-02'];
export const W2 = ['--start-date', '2023-09-10', '--end-date', '2023-09-11'];
export const WHOLE = ['--start-date', '2023-09-01', '--end-date', '2023-09-11'];
export const LOOKBACK = ['--lookback-days', '3'];

/** A config file whose busy timeout outlasts any step on a busy CI machine: waiting is what is under test. */
export function patientConfig(dir: string): string {
  const file = path.join(dir, 'config.yaml');
  // every fresh target asks for it while other tests' CLIs read it: written in place, a reader could find it
  // truncated (empty); a rename replaces it whole
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(tmp, fs.readFileSync(CONFIG_FILE, 'utf8').replace(/busy_timeout_ms: \d+/, 'busy_timeout_ms: 600000'));
  fs.renameSync(tmp, file);
  return file;
}

export async function must(r: Promise<CliResult>, what: string): Promise<CliResult> {
  const done = await r;
  if (done.code !== 0) throw new Error(`${what} exited ${done.code}:\n${done.stderr.slice(-3000)}`);
  return done;
}

/** Demo CSVs for the windows, and a second set far after them (loaded beside the pipeline). */
export async function demoData(dir: string): Promise<{ main: string; later: string }> {
  const main = path.join(dir, 'demo');
  const later = path.join(dir, 'later');
  await must(runCli('generate-data', ['--out', main, '--scale', '0.05', '--seed', '3', ...WHOLE]), 'generate-data');
  await must(runCli('generate-data', ['--out', later, '--scale', '0.05', '--seed', '4', '--start-date', '2024-03-01', '--end-date', '2024-03-02']), 'generate-data later');
  return { main, later };
}

export interface Target {
  readonly url: string;
  readonly env: NodeJS.ProcessEnv;
  readonly out: string;
}

let pgCount = 0;
/** A fresh SQLite file, or a fresh PostgreSQL database next to TEST_POSTGRES_URL's. */
export async function freshTarget(dir: string, kind: 'sqlite' | 'pg', name: string): Promise<Target> {
  const out = path.join(dir, `out-${name}`);
  const config = patientConfig(dir);
  if (kind === 'sqlite') {
    const url = path.join(dir, `${name}.db`);
    return { url, out, env: { DATABASE_URL: url, OUTPUT_DIR: out, ATTRIBUTION_CONFIG: config, LOG_LEVEL: 'warn' } };
  }
  const admin = process.env['TEST_POSTGRES_URL']!;
  const dbName = `rel_${process.pid}_${++pgCount}_${name.replace(/\W/g, '_')}`;
  const a = knex({ client: 'pg', connection: admin });
  try {
    await a.raw(`DROP DATABASE IF EXISTS ${dbName}`);
    await a.raw(`CREATE DATABASE ${dbName}`);
  } finally {
    await a.destroy();
  }
  const u = new URL(admin);
  u.pathname = `/${dbName}`;
  return { url: u.toString(), out, env: { DATABASE_URL: u.toString(), OUTPUT_DIR: out, ATTRIBUTION_CONFIG: config, LOG_LEVEL: 'warn' } };
}

export const pgAvailable = (): boolean => (process.env['TEST_POSTGRES_URL'] ?? '') !== '';

export function openTarget(t: Target): Knex {
  const config = testConfig(t.url, t.out, driverUnderTest());
  return makeDb(config.database, targetOf(config.database));
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const CLOCK = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z|generated \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/g;
/** Generated run ids and wall-clock times differ between two honest runs; nothing else may. */
export const normalise = (s: string): string => s.replace(UUID, '<id>').replace(CLOCK, '<time>');

/** Every table's rows (bookkeeping tables and serial ids aside), normalised and sorted: equal dumps, equal data. */
export async function dump(db: Knex): Promise<Record<string, string[]>> {
  const pg = (db.client as { dialect?: string }).dialect === 'postgresql';
  const tables = pg
    ? ((await db.raw(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`)).rows as Array<{ name: string }>)
    : ((await db.raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)) as Array<{ name: string }>);
  const out: Record<string, string[]> = {};
  for (const { name } of tables.sort((a, b) => a.name.localeCompare(b.name))) {
    if (name.startsWith('knex_migrations') || name === 'pipeline_runs') continue;
    const rows = name === 'attribution_runs' ? await latestRunPerWindow(db) : ((await db(name).select()) as Array<Record<string, unknown>>);
    out[name] = rows
      .map((r) => {
        const { id: _id, ...rest } = r;
        // numbers as the driver returns them can differ in the last bit between a SQL sum and a rerun's; 12 digits is far beyond money
        const fixed = Object.fromEntries(Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(12)) : v]));
        return normalise(JSON.stringify(fixed));
      })
      .sort();
  }
  return out;
}

/**
 * attribution_runs is a log: every send-to-api adds a row, a killed one stays 'running' (the trace that
 * runs-trace.test.ts asks for), and a step that finished just before its kill is run again by the test. What the
 * report depends on is each window's latest run (latestRun), so that is what two honest histories must share.
 */
async function latestRunPerWindow(db: Knex): Promise<Array<Record<string, unknown>>> {
  return (await db('attribution_runs as r')
    .select('r.*')
    .whereNotExists((q) =>
      q.select(db.raw('1')).from('attribution_runs as n').whereRaw('n.window_start = r.window_start AND n.window_end = r.window_end AND n.id > r.id'),
    )) as Array<Record<string, unknown>>;
}

/** The output folder's files: CSVs byte for byte, the rest with run ids and clocks normalised. */
export function outputs(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  if (!fs.existsSync(dir)) return files;
  for (const sub of fs.readdirSync(dir).sort()) {
    const d = path.join(dir, sub);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort()) {
      if (f.includes('.tmp')) {
        files[`${sub}/${f}`] = 'a temporary file was left behind';
        continue;
      }
      const text = fs.readFileSync(path.join(d, f), 'utf8');
      files[`${sub}/${f}`] = f.endsWith('.csv') ? text : normalise(text);
    }
  }
  return files;
}

/** Starts a task as a child process and kills it with SIGKILL after `afterMs`, if it is still running. */
export function runAndKill(task: string, args: readonly string[], env: NodeJS.ProcessEnv, afterMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks', task, 'main.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ATTRIBUTION_CONFIG: CONFIG_FILE, DATABASE_SQLITE_CLIENT: driverUnderTest(), ...env },
      stdio: 'ignore',
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = child.kill('SIGKILL');
    }, afterMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ killed: killed && code === null, code });
    });
  });
}

/** A small deterministic random source for choosing kill times (fast-check drives the fuzzing). */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Where two states differ, briefly: the table or file and its first differing row or line (empty when equal). */
export function differences(
  got: { tables: Record<string, string[]>; files: Record<string, string> },
  want: { tables: Record<string, string[]>; files: Record<string, string> },
): string[] {
  const out: string[] = [];
  const compare = (kind: string, a: Record<string, string[]>, b: Record<string, string[]>): void => {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const x = a[key];
      const y = b[key];
      if (x === undefined || y === undefined) {
        out.push(`${kind} ${key}: ${x === undefined ? 'missing' : 'unexpected'}`);
        continue;
      }
      const i = x.findIndex((row, k) => row !== y[k]);
      if (i >= 0 || x.length !== y.length) {
        const at = i >= 0 ? i : Math.min(x.length, y.length);
        out.push(`${kind} ${key}: ${x.length} vs ${y.length} rows/lines; first difference at ${at}: got ${(x[at] ?? '(none)').slice(0, 300)} | want ${(y[at] ?? '(none)').slice(0, 300)}`);
      }
    }
  };
  compare('table', got.tables, want.tables);
  const lines = (f: Record<string, string>) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, v.split('\n')]));
  compare('file', lines(got.files), lines(want.files));
  return out;
}
