import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import test from 'ava';
import { runCli, ROOT, tempDir, type CliResult } from './helpers/env.js';

/**
 * The command lines as their users meet them, as real child processes: help, version, flag names, and the README's
 * examples run exactly as written.
 */

const TASKS = ['setup-db', 'load', 'generate-data', 'build-journeys', 'send-to-api', 'process-attribution', 'attribution-api', 'attribute-paths', 'fit-ihc'];
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

for (const task of TASKS) {
  test(`${task}: -h and --help print the help and exit 0; --version prints the package version`, async (t) => {
    for (const flag of ['-h', '--help']) {
      const r = await runCli(task, [flag]);
      t.is(r.code, 0, `${flag}: ${r.stderr}`);
      t.true(r.stdout.startsWith(`Usage: ${task} [options]\n`), `${flag} printed: ${JSON.stringify(r.stdout.slice(0, 80))}`);
      t.true(r.stdout.includes('--config'));
      // piped: laid out for 80 columns, lines broken between words only
      for (const line of r.stdout.split('\n')) t.true(line.length <= 80, `longer than 80: ${line}`);
    }
    const v = await runCli(task, ['--version']);
    t.is(v.code, 0);
    t.is(v.stdout, `${task} ${VERSION}\n`);
  });
}

test('help breaks lines between words: every word of the description comes out whole', async (t) => {
  const r = await runCli('attribute-paths', ['--help']);
  const flat = r.stdout.replace(/\n\s*/g, ' ');
  // the description and a long option text, as written in tasks/attribute-paths/main.ts
  t.true(flat.includes('print per-channel attributed conversions and value for each model'), flat);
  t.true(flat.includes('write the table/JSON to this file instead of stdout (stdout then carries only the summary line)'));
  const windowed = await runCli('build-journeys', ['--help']);
  t.regex(windowed.stdout, /^ {2}--end-date VALUE +last day of the window/m);
});

test('generate-data writes to --output; the old --out still works, with a deprecation note, and both at once is a usage error', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const day = ['--start-date', '2023-09-01', '--end-date', '2023-09-01', '--scale', '0.05'];
  const a = await runCli('generate-data', ['--output', path.join(dir, 'new'), ...day]);
  t.is(a.code, 0, a.stderr);
  t.true(fs.existsSync(path.join(dir, 'new', 'session_sources.csv')));
  t.notRegex(a.stderr, /deprecated/);
  const b = await runCli('generate-data', ['--out', path.join(dir, 'old'), ...day]);
  t.is(b.code, 0, b.stderr);
  t.true(fs.existsSync(path.join(dir, 'old', 'session_sources.csv')));
  t.regex(b.stderr, /--out is deprecated, use --output/);
  t.deepEqual(fs.readFileSync(path.join(dir, 'old', 'session_sources.csv')), fs.readFileSync(path.join(dir, 'new', 'session_sources.csv')));
  const c = await runCli('generate-data', ['--out', dir, '--output', dir, ...day]);
  t.is(c.code, 2);
  // the old name is not advertised
  t.notRegex((await runCli('generate-data', ['--help'])).stdout, /--out\b/);
});

/** The command of a README table row (`| task | `command` ...`), as written. */
function readmeCommand(task: string): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith(`| ${task} |`));
  const cmd = row?.match(/`(node dist\/tasks\/[^`]+)`/)?.[1];
  if (cmd === undefined) throw new Error(`README has no example command for ${task}`);
  return cmd.split(/\s+/);
}

function runWritten(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const [node, ...args] = argv;
  if (node !== 'node') throw new Error(`not a node command: ${argv.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test("the README's attribute-paths and fit-ihc examples run as written", async (t) => {
  t.timeout(5 * 60_000);
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: path.join(dir, 'a.db'), OUTPUT_DIR: path.join(dir, 'out') };

  const paths = await runWritten(readmeCommand('attribute-paths'), env);
  t.is(paths.code, 0, paths.stderr);
  t.regex(paths.stdout, /markov/i);
  t.regex(paths.stdout, /linear/i);

  // fit-ihc reads stored journeys: the window of its example, generated, loaded and built first
  const window = ['--start-date', '2023-08-29', '--end-date', '2023-09-07'];
  for (const [task, args] of [
    ['setup-db', []],
    ['generate-data', ['--output', path.join(dir, 'demo'), '--scale', '0.2', '--load', ...window]],
    ['build-journeys', window],
  ] as const) {
    const r = await runCli(task, args, env);
    t.is(r.code, 0, `${task}: ${r.stderr.slice(-2000)}`);
  }
  const fit = await runWritten(readmeCommand('fit-ihc'), env);
  t.is(fit.code, 0, fit.stderr);
  t.regex(fit.stdout, /saved conversion type "shop_2023"/);
});
