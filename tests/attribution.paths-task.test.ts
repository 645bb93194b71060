import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { attributePaths } from '../shared/attribution/models.js';
import { DEFAULT_MODELS_CONFIG } from '../shared/attribution/params.js';
import { PATH_MODELS } from '../shared/attribution-paths/program.js';
import { ROOT, runCli, tempDir } from './helpers/env.js';

const EXAMPLE = path.join(ROOT, 'tasks/attribute-paths/example-paths.csv');

test('json output: {model: {channel: {conversions, value}}}, the same numbers as the library', async (t) => {
  const r = await runCli('attribute-paths', ['--input', EXAMPLE, '--models', 'markov,linear', '--format', 'json']);
  t.is(r.code, 0, r.stderr);
  // stdout is pure JSON (pipeable into jq); the summary line goes to stderr
  const json = JSON.parse(r.stdout) as Record<string, Record<string, { conversions: number; value: number }>>;
  t.deepEqual(Object.keys(json), ['markov', 'linear']);
  t.deepEqual(Object.keys(json['linear']!).sort(), ['direct', 'display', 'email', 'search', 'social']);
  const total = Object.values(json['markov']!).reduce((a, c) => a + c.conversions, 0);
  t.true(Math.abs(total - 18) < 1e-9);
  t.true(Math.abs(json['linear']!['social']!.conversions - 2) < 1e-12);
  t.regex(r.stderr, /attribute-paths: 2 model\(s\) over 8 paths \(18 conversions\)/);
});

test('table output lists every path model by default and writes to --output when asked', async (t) => {
  const r = await runCli('attribute-paths', ['--input', EXAMPLE]);
  t.is(r.code, 0, r.stderr);
  for (const m of ['first_touch', 'last_touch', 'last_non_direct', 'linear', 'time_decay', 'position_based', 'markov', 'shapley', 'incremental']) {
    t.regex(r.stdout, new RegExp(`model: ${m}\\n`));
  }
  const out = path.join(tempDir(), 'credit.json');
  const w = await runCli('attribute-paths', ['--input', EXAMPLE, '--models', 'linear', '--format', 'json', '--output', out]);
  t.is(w.code, 0, w.stderr);
  t.is(w.stdout.trim().split('\n').length, 1);
  const json = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, Record<string, { conversions: number }>>;
  // email: 3/2 (search>email) + 5/3 + 4/4 (display>search>email>direct) + 2 x 2/3 (email>email>direct)
  t.true(Math.abs(json['linear']!['email']!.conversions - 5.5) < 1e-9);
});

test('a bad row names the file, line and field; exit 4', async (t) => {
  const f = path.join(tempDir(), 'bad.csv');
  fs.writeFileSync(f, 'path,total_conversions,total_conversion_value,total_null\na>b,1,2,3\nc,many,1,1\n');
  const r = await runCli('attribute-paths', ['--input', f, '--models', 'linear']);
  t.is(r.code, 4);
  t.true(r.stderr.includes(`${f}, line 3, field "total_conversions"`), r.stderr);
  const missing = path.join(tempDir(), 'nocol.csv');
  fs.writeFileSync(missing, 'route,conversions\na,1\n');
  const m = await runCli('attribute-paths', ['--input', missing]);
  t.is(m.code, 4);
  t.regex(m.stderr, /missing column\(s\) path, total_conversions/);
});

test('ihc and unknown models are refused with a clear message; exit 2', async (t) => {
  const r = await runCli('attribute-paths', ['--input', EXAMPLE, '--models', 'linear,ihc']);
  t.is(r.code, 2);
  t.regex(r.stderr, /ihc needs session timestamps/);
  const u = await runCli('attribute-paths', ['--input', EXAMPLE, '--models', 'lineer']);
  t.is(u.code, 2);
  t.regex(u.stderr, /unknown model "lineer"/);
});

test('library view of the example file: heuristics conserve conversions and value', (t) => {
  const lines = fs.readFileSync(EXAMPLE, 'utf8').trim().split('\n').slice(1);
  const paths = lines.map((l) => {
    const [p, c, v, n] = l.split(',');
    return { channels: p!.split('>'), conversions: Number(c), value: Number(v), nulls: Number(n) };
  });
  const r = attributePaths('position_based', DEFAULT_MODELS_CONFIG, paths);
  if (E.isLeft(r)) return t.fail();
  let v = 0;
  for (const c of r.right.values()) v += c.value;
  t.true(Math.abs(v - 930.75) < 1e-9);
});

test('--models all is every path model, as in process-attribution; none runs nothing', async (t) => {
  const all = await runCli('attribute-paths', ['--input', EXAMPLE, '--models', 'all', '--format', 'json']);
  t.is(all.code, 0, all.stderr);
  t.deepEqual(Object.keys(JSON.parse(all.stdout) as Record<string, unknown>).sort(), [...PATH_MODELS].sort());
  const none = await runCli('attribute-paths', ['--input', EXAMPLE, '--models', 'none']);
  t.is(none.code, 0, none.stderr);
  t.regex(none.stdout, /0 model\(s\) over/);
});
