/**
 * `make bench`: the pipeline's speed, measured against bare-database baselines on the same files in the same run.
 *
 * For each scale it generates the demo data with generate-data, then for each backend (SQLite, and PostgreSQL
 * with --postgres) runs the baselines in the database's own command-line client: `.import` / `\copy` of the same
 * CSVs, then the bare SQL index + journey join + cost aggregate. Then the pipeline twice, every step as its own
 * process: on the database the CLI imported (the challenge's schema, no index: setup-db adopts it, and send-to-api
 * talks to attribution-api on loopback, the "loaded database to report"), and on a fresh database from the
 * CSVs (our load, the local engine: "CSV to report"). Each process runs under /usr/bin/time for wall time, CPU time (user + system of that process: on a
 * shared machine wall time also measures the neighbours) and peak RSS. Prints one table and writes the same as
 * JSON to bench/results/. No goal is asserted here: the figures are for people; the run fails only when a step
 * fails or when the pipeline's channel_reporting disagrees with the bare aggregate (a fast wrong answer is not
 * a result).
 *
 *   node dist/bench/pipeline.bench.js [--scales "1 10"] [--postgres URL] [--sqlite false] [--journeys N] [--work DIR]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './args.js';
import { formatTable, ratiosOf, type BenchRow } from './table.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = path.join(ROOT, 'dist');
const START = '2023-08-29';
const END = '2023-09-07';
const WINDOW = ['--start-date', START, '--end-date', END];
const TABLES = [
  { table: 'session_sources', file: 'session_sources.csv' },
  { table: 'conversions', file: 'conversions.csv' },
  { table: 'session_costs', file: 'session_costs.csv' },
] as const;

interface Options {
  readonly scales: number[];
  readonly postgres: string | undefined;
  readonly sqlite: boolean;
  readonly journeys: number;
  readonly work: string;
  readonly out: string;
  readonly seed: number;
}

function options(): Options {
  const a = benchArgs('pipeline.bench.js', 'Every step against the bare-database baselines on the same files (see the header of bench/pipeline.bench.ts).', {
    scales: { type: 'string', default: '1 10', describe: 'scales to generate and run, e.g. "1 10" or "100"' },
    postgres: { type: 'string', describe: 'also run against this PostgreSQL URL (a throwaway server: its tables are dropped)' },
    sqlite: { type: 'boolean', default: true, describe: 'run against SQLite (--sqlite false: PostgreSQL only)' },
    journeys: { type: 'number', default: 200_000, describe: "journeys in the engine micro-benchmark" },
    work: { type: 'string', default: path.join(os.tmpdir(), 'attribution-bench'), describe: 'folder for the generated data and databases (emptied per scale)' },
    out: { type: 'string', default: path.join(ROOT, 'bench/results'), describe: 'folder for the JSON results' },
    seed: { type: 'number', default: 42, describe: "generate-data's seed" },
  });
  const scales = a.scales.split(/[\s,]+/).filter((s) => s !== '').map(Number);
  if (scales.length === 0 || scales.some((s) => !Number.isInteger(s) || s < 1)) throw new Error(`--scales: whole numbers >= 1, got "${a.scales}"`);
  return { scales, postgres: a.postgres, sqlite: a.sqlite, journeys: a.journeys, work: path.resolve(a.work), out: path.resolve(a.out), seed: a.seed };
}

interface Measured {
  readonly seconds: number;
  readonly cpu: number;
  readonly rssMb: number;
  readonly stdout: string;
}

/** Runs one process under /usr/bin/time; throws with its stderr when it fails. */
function measure(label: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, input?: string): Measured {
  const timeFile = path.join(os.tmpdir(), `attribution-bench-time-${process.pid}`);
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
    env: { ...process.env, ...env },
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) {
    throw new Error(`${label} failed (exit ${r.status}):\n${(r.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  }
  const [wall, user, sys, kb] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  fs.rmSync(timeFile, { force: true });
  return { seconds: wall!, cpu: user! + sys!, rssMb: kb! / 1024, stdout: r.stdout };
}

/** the key the loopback attribution-api accepts and send-to-api sends */
const API_KEY = `bench-${process.pid}`;

/** A pause without an event loop: the bench is synchronous, one process at a time. */
const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** user + system seconds of a running process so far (Linux /proc, clock ticks of 1/100 s) */
function cpuOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * `fn` with attribution-api serving the IHC contract on a loopback port, as a team hosting it would run it;
 * the server's CPU seconds during `fn` count as the step's (both are the work of attributing).
 */
function withApiServer(env: NodeJS.ProcessEnv, fn: (provider: string) => Measured): Measured {
  const logFile = path.join(os.tmpdir(), `attribution-bench-api-${process.pid}.log`);
  const log = fs.openSync(logFile, 'w');
  const server = spawn(process.execPath, [path.join(DIST, 'tasks/attribution-api/main.js'), '--host', '127.0.0.1', '--port', '0'], {
    env: { ...process.env, ...env, ATTRIBUTION_API_KEYS: API_KEY, LOG_LEVEL: 'info' },
    stdio: ['ignore', log, log],
  });
  try {
    let url: string | undefined;
    for (let waited = 0; url === undefined; waited += 50) {
      if (server.exitCode !== null || waited > 30_000) throw new Error(`attribution-api did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
      url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(fs.readFileSync(logFile, 'utf8'))?.[1];
      if (url === undefined) sleep(50);
    }
    const before = cpuOf(server.pid!);
    const m = fn(`${url}/v1`);
    return { ...m, cpu: m.cpu + cpuOf(server.pid!) - before };
  } finally {
    server.kill('SIGTERM');
    fs.closeSync(log);
    fs.rmSync(logFile, { force: true });
  }
}

/** What differs between the two databases: a fresh database, the CLI, the baseline SQL. */
interface Backend {
  readonly name: 'sqlite' | 'postgres';
  readonly url: string;
  fresh(): void;
  /** one query's single value, through the database's own CLI */
  scalar(sql: string): string;
  /** a baseline step: a script run by the CLI on the baseline database */
  baseline(label: string, script: string): Measured;
  readonly importScript: (dir: string) => string;
  readonly dropBaseline: () => void;
  /**
   * A database as the challenge's own script leaves it (its schema, the CLI's import, no index), for setup-db to
   * adopt: its URL. Called right after the baseline import, whose database it copies on SQLite.
   */
  challengeDatabase(dir: string): string;
  /** scalar() on another database of this backend */
  scalarAt(url: string, sql: string): string;
}

const CHALLENGE_SCHEMA = (date: string, time: string, real: string): string => `
CREATE TABLE session_sources (session_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, event_date ${date} NOT NULL, event_time ${time} NOT NULL,
  channel_name TEXT NOT NULL, holder_engagement INTEGER NOT NULL, closer_engagement INTEGER NOT NULL, impression_interaction INTEGER NOT NULL);
CREATE TABLE conversions (conv_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, conv_date ${date} NOT NULL, conv_time ${time} NOT NULL, revenue ${real} NOT NULL);
CREATE TABLE session_costs (session_id TEXT PRIMARY KEY, cost ${real});
`;

/**
 * The bare work of the pipeline, written the shortest way: the journey index, every conversion of the window
 * joined to its user's earlier sessions, and the channel-day aggregate of cost and (linear) credit.
 */
const BASELINE_INDEX = `CREATE INDEX b_user_ts ON session_sources (user_id, event_date, event_time);
CREATE INDEX b_date ON session_sources (event_date, channel_name);
CREATE INDEX b_conv_date ON conversions (conv_date);`;
const BASELINE_JOIN = `CREATE TABLE b_journeys AS
SELECT c.conv_id, c.revenue, s.session_id, s.channel_name, s.event_date
  FROM conversions c JOIN session_sources s ON s.user_id = c.user_id
   AND (s.event_date < c.conv_date OR (s.event_date = c.conv_date AND s.event_time < c.conv_time))
 WHERE c.conv_date BETWEEN '${START}' AND '${END}';`;
const BASELINE_AGGREGATE = `CREATE TABLE b_report AS
SELECT channel_name, d, SUM(cost) AS cost, SUM(ihc) AS ihc, SUM(rev) AS ihc_revenue FROM (
  SELECT s.channel_name, s.event_date AS d, COALESCE(k.cost, 0) AS cost, 0.0 AS ihc, 0.0 AS rev
    FROM session_sources s JOIN session_costs k ON k.session_id = s.session_id
   WHERE s.event_date BETWEEN '${START}' AND '${END}'
  UNION ALL
  SELECT channel_name, event_date, 0.0, 1.0 / n, revenue / n
    FROM (SELECT j.*, COUNT(*) OVER (PARTITION BY conv_id) AS n FROM b_journeys j) x
) u GROUP BY channel_name, d;`;

function sqliteBackend(work: string): Backend {
  const db = path.join(work, 'pipeline.db');
  const base = path.join(work, 'baseline.db');
  const adopted = path.join(work, 'adopted.db');
  const rm = (f: string) => ['', '-wal', '-shm', '-journal'].forEach((x) => fs.rmSync(f + x, { force: true }));
  return {
    name: 'sqlite',
    url: db,
    fresh: () => rm(db),
    scalar: (sql) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim(),
    scalarAt: (url, sql) => execFileSync('sqlite3', [url, sql], { encoding: 'utf8' }).trim(),
    baseline: (label, script) => measure(label, 'sqlite3', [base], {}, `.bail on\n${script}\n`),
    importScript: (dir) =>
      CHALLENGE_SCHEMA('DATE', 'TIME', 'REAL') + TABLES.map((t) => `.import --csv --skip 1 '${path.join(dir, t.file)}' ${t.table}`).join('\n'),
    dropBaseline: () => rm(base),
    challengeDatabase: () => {
      rm(adopted);
      fs.copyFileSync(base, adopted);
      return adopted;
    },
  };
}

function postgresBackend(url: string): Backend {
  // the baseline lives in its own schema of the same database, so both see the same server settings
  // NOTICEs ("drop cascades to ...") are not findings
  const quiet = { PGOPTIONS: '-c client_min_messages=warning' };
  const psql = (sql: string) =>
    execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qAt', '-c', sql], { encoding: 'utf8', env: { ...process.env, ...quiet } }).trim();
  const importScript = (dir: string): string =>
    CHALLENGE_SCHEMA('DATE', 'TIME', 'DOUBLE PRECISION') +
    TABLES.map((t) => `\\copy ${t.table} FROM '${path.join(dir, t.file)}' WITH (FORMAT csv, HEADER true)`).join('\n');
  const fresh = (): void => void psql('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;');
  return {
    name: 'postgres',
    url,
    fresh,
    scalar: (sql) => psql(sql),
    scalarAt: (_url, sql) => psql(sql),
    baseline: (label, script) =>
      measure(label, 'psql', [url, '-v', 'ON_ERROR_STOP=1', '-q'], quiet, `SET search_path = bench_baseline;\n${script}\n`),
    importScript,
    dropBaseline: () => psql('DROP SCHEMA IF EXISTS bench_baseline CASCADE; CREATE SCHEMA bench_baseline;'),
    // the same import again, into the pipeline's schema (not measured: the baseline import above is)
    challengeDatabase: (dir) => {
      fresh();
      execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-q'], {
        input: `SET search_path = public;\n${importScript(dir)}\n`,
        env: { ...process.env, ...quiet },
        stdio: ['pipe', 'ignore', 'inherit'],
      });
      return url;
    },
  };
}

function csvRows(file: string): number {
  const buf = fs.readFileSync(file);
  let n = 0;
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10) n++;
  return n - 1;
}

interface StepResult extends BenchRow {
  readonly cpu: number;
}

function benchBackend(b: Backend, scale: number, dir: string): { rows: StepResult[]; check: string } {
  const rows: StepResult[] = [];
  const csv = TABLES.reduce((a, t) => a + csvRows(path.join(dir, t.file)), 0);
  const add = (step: string, n: number, m: Measured, baseline?: string) => {
    rows.push({ backend: b.name, scale, step, rows: n, seconds: m.seconds, cpu: m.cpu, rssMb: m.rssMb, ...(baseline !== undefined ? { baseline } : {}) });
    // a long run shows its progress, and a cut one leaves what it measured
    process.stderr.write(`bench: ${b.name} scale ${scale} ${step}: ${m.seconds.toFixed(2)} s, cpu ${m.cpu.toFixed(2)} s, ${m.rssMb.toFixed(0)} MB\n`);
  };

  // baselines first: the CLI's import, then the bare SQL on what it imported
  b.dropBaseline();
  const imp = b.baseline('baseline import', b.importScript(dir));
  add(b.name === 'sqlite' ? 'baseline: sqlite3 .import' : 'baseline: psql \\copy', csv, imp);
  const challenge = b.challengeDatabase(dir);
  const idx = b.baseline('baseline index', b.name === 'postgres' ? `${BASELINE_INDEX}\nANALYZE;` : BASELINE_INDEX);
  add('baseline: index', csv, idx);
  const join = b.baseline('baseline journey join', BASELINE_JOIN);
  const baseScalar = (sql: string) =>
    b.name === 'sqlite'
      ? execFileSync('sqlite3', [path.join(path.dirname(b.url), 'baseline.db'), sql], { encoding: 'utf8' }).trim()
      : b.scalar(sql.replace(/\bb_(journeys|report)\b/g, 'bench_baseline.b_$1'));
  const joined = Number(baseScalar('SELECT COUNT(*) FROM b_journeys'));
  add('baseline: journey join', joined, join);
  const agg = b.baseline('baseline cost aggregate', BASELINE_AGGREGATE);
  add('baseline: cost aggregate', joined, agg);
  const baseCost = Number(baseScalar('SELECT SUM(cost) FROM b_report'));
  const baseIhc = Number(baseScalar('SELECT SUM(ihc) FROM b_report'));

  // Every step as its own process on `url`; channel_reporting's cost must equal the bare aggregate's.
  const pipeline = (url: string, run: string, env: NodeJS.ProcessEnv = {}) => {
    const taskEnv = { DATABASE_URL: url, OUTPUT_DIR: path.join(path.dirname(dir), `output-${run}-${b.name}`), ATTRIBUTION_PROVIDER: 'local', LOG_LEVEL: 'warn', ...env };
    return {
      env: taskEnv,
      task: (name: string, ...args: string[]) => measure(name, process.execPath, [path.join(DIST, 'tasks', name, 'main.js'), ...args], taskEnv),
      journeySessions: () => Number(b.scalarAt(url, 'SELECT COUNT(*) FROM journey_sessions')),
      cost: () => {
        const cost = Number(b.scalarAt(url, `SELECT SUM(cost) FROM channel_reporting WHERE date BETWEEN '${START}' AND '${END}'`));
        if (Math.abs(cost - baseCost) > 1e-6 * Math.max(1, Math.abs(baseCost))) {
          throw new Error(`${b.name} scale ${scale} (${run}): channel_reporting cost ${cost} differs from the bare aggregate's ${baseCost}`);
        }
        return cost;
      },
    };
  };

  // The "loaded database to report": the database the challenge's own script leaves, adopted by
  // setup-db, then every step, send-to-api against the IHC contract served on loopback (attribution-api).
  {
    const p = pipeline(challenge, 'adopted', { IHC_API_KEY: API_KEY });
    add('setup-db, adopting the CLI database', csv, p.task('setup-db'));
    const bj = p.task('build-journeys', ...WINDOW);
    const n = p.journeySessions();
    add('build-journeys (adopted)', n, bj);
    add('send-to-api (loopback IHC server)', n, withApiServer(p.env, (provider) => p.task('send-to-api', ...WINDOW, '--provider', provider)));
    add('process-attribution (adopted)', n, p.task('process-attribution', ...WINDOW));
    p.cost();
    if (challenge !== b.url) ['', '-wal', '-shm'].forEach((x) => fs.rmSync(challenge + x, { force: true }));
  }

  // CSV to report: a fresh database, our load, the local engine
  b.fresh();
  const p = pipeline(b.url, 'loaded');
  add('setup-db', 0, p.task('setup-db'));
  add('load', csv, p.task('load', '--dir', dir), 'baseline: ' + (b.name === 'sqlite' ? 'sqlite3 .import' : 'psql \\copy'));
  const bj = p.task('build-journeys', ...WINDOW);
  const journeySessions = p.journeySessions();
  add('build-journeys', journeySessions, bj, 'baseline: journey join');
  add('send-to-api (local)', journeySessions, p.task('send-to-api', ...WINDOW));
  add('process-attribution', journeySessions, p.task('process-attribution', ...WINDOW), 'baseline: cost aggregate');
  const cost = p.cost();
  const ihc = Number(b.scalar('SELECT SUM(ihc) FROM channel_reporting'));
  b.dropBaseline();
  const check = `${b.name} scale ${scale}: cost ${cost.toFixed(2)} = bare aggregate; credit ${ihc.toFixed(3)} (bare linear credit ${baseIhc.toFixed(3)})`;

  const sum = (steps: readonly string[]) => {
    const picked = rows.filter((r) => steps.includes(r.step));
    return {
      seconds: picked.reduce((a, r) => a + r.seconds, 0),
      cpu: picked.reduce((a, r) => a + r.cpu, 0),
      rssMb: Math.max(...picked.map((r) => r.rssMb)),
    };
  };
  const bareSql = ['baseline: index', 'baseline: journey join', 'baseline: cost aggregate'];
  const importName = rows[0]!.step;
  const all = sum([importName, ...bareSql]);
  const analysed = sum(bareSql);
  rows.push({ backend: b.name, scale, step: 'baseline: CLI, CSV to report', rows: csv, ...all });
  rows.push({ backend: b.name, scale, step: 'baseline: bare SQL, database to report', rows: csv, ...analysed });
  rows.push({
    backend: b.name,
    scale,
    step: 'pipeline: CSV to report',
    rows: csv,
    ...sum(['setup-db', 'load', 'build-journeys', 'send-to-api (local)', 'process-attribution']),
    baseline: 'baseline: CLI, CSV to report',
  });
  rows.push({
    backend: b.name,
    scale,
    step: 'pipeline: CLI database to report',
    rows: csv,
    ...sum(['setup-db, adopting the CLI database', 'build-journeys (adopted)', 'send-to-api (loopback IHC server)', 'process-attribution (adopted)']),
    baseline: 'baseline: bare SQL, database to report',
  });
  rows.push({
    backend: b.name,
    scale,
    step: 'pipeline: loaded database to report',
    rows: csv,
    ...sum(['build-journeys', 'send-to-api (local)', 'process-attribution']),
    baseline: 'baseline: bare SQL, database to report',
  });
  return { rows, check };
}

function main(): void {
  const o = options();
  const backends: Array<(work: string) => Backend> = [];
  if (o.sqlite) backends.push(sqliteBackend);
  if (o.postgres !== undefined) {
    const url = o.postgres;
    backends.push(() => postgresBackend(url));
  }
  fs.mkdirSync(o.work, { recursive: true });
  const started = new Date();
  const rows: StepResult[] = [];
  const checks: string[] = [];
  for (const scale of o.scales) {
    const dir = path.join(o.work, `scale-${scale}`, 'csv');
    const gen = measure('generate-data', process.execPath, [
      path.join(DIST, 'tasks/generate-data/main.js'), '--out', dir, '--scale', String(scale), '--seed', String(o.seed), ...WINDOW,
    ]);
    const csv = TABLES.reduce((a, t) => a + csvRows(path.join(dir, t.file)), 0);
    rows.push({ backend: '-', scale, step: 'generate-data', rows: csv, seconds: gen.seconds, cpu: gen.cpu, rssMb: gen.rssMb });
    for (const make of backends) {
      const b = make(path.dirname(dir));
      process.stderr.write(`bench: ${b.name}, scale ${scale} (${csv.toLocaleString('en-US')} CSV rows)\n`);
      const r = benchBackend(b, scale, dir);
      rows.push(...r.rows);
      checks.push(r.check);
    }
  }
  const withRatio = rows.map((r) => ({ ...r, ...ratiosOf(r, rows) }));
  const engine = measure('engine micro-benchmark', process.execPath, [path.join(DIST, 'bench/attribution.bench.js'), '--journeys', String(o.journeys)]);

  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`;
  console.log(`Pipeline vs bare database, ${START}..${END}; ${machine}`);
  console.log(formatTable(withRatio));
  console.log(
    "ratio: seconds / the baseline's seconds in this run; cpu s: user + system seconds of the step's own process, " +
      "so on PostgreSQL the server's work is only in the wall time (send-to-api over loopback: with attribution-api's)",
  );
  for (const c of checks) console.log(`check: ${c}`);
  console.log(`\nEngine micro-benchmark\n${engine.stdout.trimEnd()}`);

  fs.mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({ started: started.toISOString(), window: { start: START, end: END }, machine, scales: o.scales, rows: withRatio, checks, engine: engine.stdout.trimEnd().split('\n') }, null, 2) + '\n',
  );
  console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
}

main();
