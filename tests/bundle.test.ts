import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SourceMap } from 'node:module';
import test, { type ExecutionContext } from 'ava';
import { makeDb } from '../shared/db/connect.js';
import { MIGRATIONS } from '../shared/db/migrations/index.js';
import { runCli, ROOT, tempDir, testConfig } from './helpers/env.js';

/**
 * `npm run build` replaces each task's entrypoint with one bundled file (scripts/bundle.mjs). What the bundles
 * must still do as tsc's output did: start without our other modules, find the configuration, the package
 * version, the migrations and the load's reader thread from wherever they are run, and map back to the sources.
 */

const TASKS = fs.readdirSync(path.join(ROOT, 'tasks')).filter((t) => fs.existsSync(path.join(ROOT, 'tasks', t, 'main.ts')));

test('every task entrypoint is a bundle: it imports none of our modules, and its source map names our .ts files', (t) => {
  t.true(TASKS.length >= 9, TASKS.join());
  for (const task of TASKS) {
    const file = path.join(ROOT, 'dist/tasks', task, 'bundle.cjs');
    const code = fs.readFileSync(file, 'utf8');
    t.notRegex(fs.readFileSync(path.join(ROOT, 'dist/tasks', task, 'main.js'), 'utf8'), /(?:from|import\()\s*["']\.\.?\//, `${task}: its launcher imports a module by a relative path`);
    t.notRegex(code, /(?:from|require\()\s*["']\.\.?\//, `${task}: loads a module by a relative path`);
    const map = JSON.parse(fs.readFileSync(file + '.map', 'utf8')) as { sources: string[] };
    const ours = map.sources.map((s) => path.resolve(path.dirname(file), s)).filter((s) => !s.includes(`${path.sep}node_modules${path.sep}`));
    t.true(ours.includes(path.join(ROOT, 'tasks', task, 'main.ts')), `${task}: ${ours.slice(0, 3).join()}`);
    t.true(ours.includes(path.join(ROOT, 'shared/task.ts')));
    for (const s of ours) t.true(fs.existsSync(s), `${task}: the map names ${s}, which does not exist`);
    // knex is required lazily through createRequire in the sources; the bundle must still carry it (and its
    // dialects), or every run would read it from node_modules file by file again
    for (const m of ['knex/lib/knex-builder/Knex.js', 'knex/lib/dialects/better-sqlite3/index.js', 'knex/lib/dialects/postgres/index.js']) {
      t.true(
        map.sources.some((s) => s.endsWith(`node_modules/${m}`)),
        `${task}: ${m} is not in the bundle`,
      );
    }
  }
});

test("a bundle's source map leads from its code back to the line of the .ts file", (t) => {
  const file = path.join(ROOT, 'dist/tasks/setup-db/bundle.cjs');
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const at = lines.findIndex((l) => /^async function runTask\(/.test(l));
  t.true(at >= 0, 'runTask not found in the bundle');
  const map = new SourceMap(JSON.parse(fs.readFileSync(file + '.map', 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
  const entry = map.findEntry(at, lines[at]!.indexOf('runTask')) as { originalSource?: string; originalLine?: number };
  const source = fs.readFileSync(path.join(ROOT, 'shared/task.ts'), 'utf8').split('\n');
  t.true(entry.originalSource?.endsWith('shared/task.ts'), JSON.stringify(entry));
  t.regex(source[entry.originalLine ?? -1] ?? '', /export async function runTask</);
});

test('bundled setup-db run from another folder finds the configuration and applies every migration; --version reads package.json', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const url = path.join(dir, 'fresh.db');
  // no ATTRIBUTION_CONFIG and no config/ in the working folder: the project's own config/config.yaml
  const r = await runCli('setup-db', [], { ATTRIBUTION_CONFIG: '', DATABASE_URL: url }, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  const db = makeDb(testConfig(url, dir).database);
  t.teardown(() => db.destroy());
  const applied = (await db('knex_migrations').orderBy('id').select('name')) as { name: string }[];
  t.deepEqual(
    applied.map((m) => m.name),
    MIGRATIONS.map((m) => m.name),
  );
  const v = await runCli('setup-db', ['--version'], { ATTRIBUTION_CONFIG: '' }, { cwd: dir });
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  t.is(v.stdout, `setup-db ${version}\n`, v.stderr);
});

test('bundled load starts its reader thread and loads every row', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const url = path.join(dir, 'load.db');
  const data = path.join(dir, 'data');
  const env = { DATABASE_URL: url };
  const g = await runCli('generate-data', ['--output', data, '--start-date', '2023-09-01', '--end-date', '2023-09-01', '--scale', '0.05'], env);
  t.is(g.code, 0, g.stderr);
  t.is((await runCli('setup-db', [], env)).code, 0);
  const r = await runCli('load', ['--dir', data], env, { cwd: dir });
  t.is(r.code, 0, r.stderr);
  const db = makeDb(testConfig(url, dir).database);
  t.teardown(() => db.destroy());
  for (const table of ['session_sources', 'conversions', 'session_costs']) {
    const rows = fs.readFileSync(path.join(data, `${table}.csv`), 'utf8').trimEnd().split('\n').length - 1;
    t.true(rows > 0, table);
    const [row] = (await db(table).count({ n: '*' })) as { n: number }[];
    t.is(Number(row?.n), rows, table);
  }
});

/**
 * A copy of the built task in a folder of its own (removed after the test), so that a test neither depends on nor
 * changes dist/'s cache: its folder, the task's folder, and the caches in it.
 */
function copiedTask(t: ExecutionContext, name: string): { dir: string; task: string; caches: () => string[] } {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const task = path.join(dir, 'dist/tasks', name);
  fs.mkdirSync(task, { recursive: true });
  for (const f of ['main.js', 'bundle.cjs']) fs.copyFileSync(path.join(ROOT, 'dist/tasks', name, f), path.join(task, f));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return { dir, task, caches: () => fs.readdirSync(task).filter((f) => f.endsWith('.v8cache')) };
}

test("a task keeps V8's code cache of its bundle; a cache V8 rejects is replaced and the task still runs", async (t) => {
  const { dir, task, caches } = copiedTask(t, 'setup-db');
  fs.cpSync(path.join(ROOT, 'config'), path.join(dir, 'config'), { recursive: true });
  const run = (db: string) => {
    const r = spawnSync(process.execPath, [path.join(task, 'main.js')], { env: { ...process.env, ATTRIBUTION_CONFIG: '', DATABASE_URL: path.join(dir, db) }, encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout + r.stderr, /schema OK/);
  };
  t.deepEqual(caches(), []);
  run('a.db');
  const [cache] = caches();
  t.truthy(cache, 'no cache written by the first run');
  t.true(fs.statSync(path.join(task, cache!)).size > 100_000);
  // garbage of the right name: V8 rejects it, the run compiles the bundle itself and writes a good cache
  fs.writeFileSync(path.join(task, cache!), Buffer.alloc(4096, 7));
  run('b.db');
  t.deepEqual(caches(), [cache]);
  t.true(fs.statSync(path.join(task, cache!)).size > 100_000);
  t.deepEqual(fs.readdirSync(task).filter((f) => f.endsWith('.tmp')), []);
});

test("send-to-api's main.js collects the old generation once it grew by half of what the last full collection left", (t) => {
  const main = fs.readFileSync(path.join(ROOT, 'dist/tasks/send-to-api/main.js'), 'utf8');
  t.regex(main, /setFlagsFromString\('--heap-growing-percent=50'\)/);
  // before the bundle is compiled, as for process-attribution below
  t.true(main.indexOf('setFlagsFromString') < main.indexOf('new vm.Script'));
});

test("a task whose main.js sets V8 flags keeps the code cache its first run wrote (process-attribution)", (t) => {
  // a flag set after the bundle was compiled would change the flag hash V8 checks a cache against: each run would
  // reject the cache the one before wrote, compile the whole bundle and write it again
  const { task, caches } = copiedTask(t, 'process-attribution');
  t.regex(fs.readFileSync(path.join(task, 'main.js'), 'utf8'), /setFlagsFromString\('--no-allocation-site-pretenuring'\)/);
  const run = () => {
    const r = spawnSync(process.execPath, [path.join(task, 'main.js'), '--help'], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /process-attribution/);
  };
  run();
  const [cache] = caches();
  t.truthy(cache, 'no cache written by the first run');
  const first = fs.statSync(path.join(task, cache!));
  run();
  t.deepEqual(caches(), [cache]);
  const second = fs.statSync(path.join(task, cache!));
  t.is(second.ino, first.ino, 'the second run replaced the cache');
  t.is(second.mtimeMs, first.mtimeMs);
});
