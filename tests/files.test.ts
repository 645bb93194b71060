import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import { OutputFailure, writeCsvAtomic, writeFileAtomic } from '../shared/files.js';
import { EXIT_CODES } from '../shared/errors.js';
import { seedConversions, seedJourneys, seedSessions } from './helpers/reporting-seed.js';
import { freshDb, ROOT, runCli, tempDir } from './helpers/env.js';

/** Issue 11 item 6: output errors get exit 9 and words; temporary files never stay behind. */

const failureOf = async (p: Promise<unknown>): Promise<OutputFailure> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof OutputFailure) return e;
    throw e;
  }
  throw new Error('the write did not fail');
};

test('a full disk: OutputError naming the file, and the temporary file is removed', async (t) => {
  if (!fs.existsSync('/dev/full')) return t.pass('no /dev/full here');
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'report.html');
  // the temporary name points at /dev/full, so the write fails with ENOSPC as on a full disk
  fs.symlinkSync('/dev/full', `${file}.tmp-${process.pid}`);
  const f = await failureOf(writeFileAtomic(file, 'x'.repeat(100_000)));
  t.is(f.error._tag, 'OutputError');
  t.is(EXIT_CODES[f.error._tag], 9);
  t.regex(f.error.message, new RegExp(`cannot write ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the disk is full`));
  t.deepEqual(fs.readdirSync(dir), [], 'neither the target nor the temporary file is there');
  const c = await failureOf(writeCsvAtomic(path.join(dir, 'x.csv'), [{ id: 'a', title: 'a' }], [{ a: '1' }]).then(() => {
    fs.symlinkSync('/dev/full', path.join(dir, `y.csv.tmp-${process.pid}`));
    return writeCsvAtomic(path.join(dir, 'y.csv'), [{ id: 'a', title: 'a' }], [{ a: '1' }]);
  }));
  t.regex(c.error.message, /y\.csv: the disk is full/);
  t.deepEqual(fs.readdirSync(dir), ['x.csv']);
});

test('process-attribution CLI: a file in the place of the output folder is exit 9 with the path, not exit 1', async (t) => {
  const env = await freshDb();
  t.teardown(env.cleanup);
  await seedSessions(env.db, [{ id: 's1', user: 'u1', date: '2023-09-01', time: '08:00:00', channel: 'Search', cost: 4 }]);
  await seedConversions(env.db, [{ id: 'c1', user: 'u1', date: '2023-09-01', revenue: 80 }]);
  await seedJourneys(env.db, [{ conv: 'c1', sessions: ['s1'], answers: 'equal' }]);
  const out = path.join(env.dir, 'out');
  fs.writeFileSync(out, 'not a folder');
  const r = await runCli('process-attribution', ['--start-date', '2023-09-01', '--end-date', '2023-09-01', '--models', 'none'], { DATABASE_URL: env.url, OUTPUT_DIR: out });
  t.is(r.code, 9, r.stderr);
  t.regex(r.stderr, /cannot write .*out\/2023-09-01_2023-09-01: a file is in the place of a folder on the path; fix output.dir \(or OUTPUT_DIR\)/);
});

test('attribute-paths --output under a file: exit 9, and nothing left behind', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'blocker'), 'a file');
  const example = path.join(ROOT, 'tasks/attribute-paths/example-paths.csv');
  const r = await runCli('attribute-paths', ['--input', example, '--models', 'linear', '--output', path.join(dir, 'blocker', 'out.json')]);
  t.is(r.code, 9, r.stderr);
  t.regex(r.stderr, /cannot write .*blocker\/out\.json: a file is in the place of a folder on the path/);
  t.deepEqual(fs.readdirSync(dir), ['blocker']);
});
