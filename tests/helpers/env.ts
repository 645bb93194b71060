import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { loadConfig, type Config, type SqliteClient } from '../../shared/config.js';
import { makeDb } from '../../shared/db/connect.js';
import { dbOver } from '../../shared/db/db.js';
import { migrate } from '../../shared/db/migrate.js';
import { localFiles } from '../../shared/files.js';
import { silentLogger } from '../../shared/log.js';
import { makeProgress } from '../../shared/progress.js';
import type { Capabilities } from '../../shared/task.js';

/** dist/tests/helpers -> repository root */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const CONFIG_FILE = path.join(ROOT, 'config/config.yaml');

export function tempDir(prefix = 'attr-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** The repository's config with the given database file and output dir; env overrides from the caller are not applied. */
export function testConfig(dbUrl: string, outDir: string, client: SqliteClient = driverUnderTest()): Config {
  const c = loadConfig(CONFIG_FILE, {});
  if (E.isLeft(c)) throw new Error(`config/config.yaml does not decode: ${JSON.stringify(c.left)}`);
  return {
    ...c.right,
    database: { ...c.right.database, url: dbUrl, sqlite_client: client },
    output: { ...c.right.output, dir: outDir },
    logging: { ...c.right.logging, level: 'warn' },
  };
}

/** CI runs the database suites once per SQLite driver, chosen by this variable. */
export function driverUnderTest(): SqliteClient {
  return process.env['DATABASE_SQLITE_CLIENT'] === 'sqlite3' ? 'sqlite3' : 'better-sqlite3';
}

/** A migrated database for one test: a fresh SQLite file in a temp dir, with the driver under test. */
export async function freshDb(opts: { migrate?: boolean } = {}): Promise<{ db: Knex; config: Config; dir: string; url: string; cleanup: () => Promise<void> }> {
  const dir = tempDir();
  const url = path.join(dir, 'test.db');
  const config = testConfig(url, path.join(dir, 'output'));
  const db = makeDb(config.database);
  if (opts.migrate !== false) {
    const r = await migrate(db)();
    if (E.isLeft(r)) throw new Error(`migration failed: ${JSON.stringify(r.left)}`);
  }
  return {
    db,
    config,
    dir,
    url,
    cleanup: async () => {
      await db.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Capabilities for calling a program directly in a test. */
export function testCaps(db: Knex, config: Config, overrides: Partial<Capabilities> = {}): Capabilities & { printed: string[] } {
  const printed: string[] = [];
  return {
    config,
    logger: silentLogger,
    clock: () => new Date('2026-01-01T00:00:00Z'),
    env: {},
    db: dbOver(db),
    files: localFiles,
    progress: (p) => makeProgress({ ...p, logger: silentLogger, isTTY: false, intervalMs: 1e9 }),
    stdout: (s) => printed.push(s),
    runId: 'test-run',
    ...overrides,
    printed,
  };
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A copy of the repository's config in `dir` with `provider:` keys overridden; returns its path (for ATTRIBUTION_CONFIG). */
export function configWithProvider(dir: string, provider: Record<string, unknown>): string {
  const raw = parseYaml(fs.readFileSync(CONFIG_FILE, 'utf8')) as Record<string, Record<string, unknown>>;
  raw['provider'] = { ...raw['provider'], ...provider };
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, toYaml(raw));
  return file;
}

/** Runs a compiled task as a real child process, as a user or Airflow would. */
export function runCli(task: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/tasks', task, 'main.js'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ATTRIBUTION_CONFIG: CONFIG_FILE, DATABASE_SQLITE_CLIENT: driverUnderTest(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
