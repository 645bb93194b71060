import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { localFiles, OutputFailure, writeCsvAtomic, writeFileAtomic } from '../shared/files.js';
import { EXIT_CODES, type AppError } from '../shared/errors.js';
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

test('the files capability: a write under a file is a Left OutputError, streamed files appear all or none', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'blocker'), 'a file');
  const results: E.Either<AppError, unknown>[] = [
    await localFiles.writeText(path.join(dir, 'blocker', 'a.txt'), 'x')(),
    await localFiles.writeCsv(path.join(dir, 'blocker', 'a.csv'), [{ id: 'a', title: 'a' }], [{ a: '1' }])(),
    await localFiles.ensureDir(path.join(dir, 'blocker', 'sub'))(),
    await localFiles.writeLines([{ file: path.join(dir, 'blocker', 'a.csv'), header: 'a' }], async () => 1)(),
  ];
  for (const r of results) {
    if (E.isRight(r)) return t.fail('the write did not fail');
    t.is(r.left._tag, 'OutputError');
    t.regex(r.left.message, /blocker.*: a file is in the place of a folder on the path/);
  }
  // the second target cannot be written: the first, complete, must not appear either
  const ok = path.join(dir, 'ok.csv');
  const r = await localFiles.writeLines([{ file: ok, header: 'a' }, { file: path.join(dir, 'blocker', 'b.csv'), header: 'b' }], async ([a, b]) => {
    a!.line('1\n');
    b!.line('2\n');
    await Promise.all([a!.flush(), b!.flush()]);
    return 'written';
  })();
  t.true(E.isLeft(r) && r.left._tag === 'OutputError', JSON.stringify(r));
  t.deepEqual(fs.readdirSync(dir), ['blocker']);
  const good = await localFiles.writeLines([{ file: ok, header: 'a,b' }], async ([a]) => {
    for (let i = 0; i < 3; i++) a!.line(`${i},${i * 2}\n`);
    await a!.flush();
    a!.line('9,9\n');
    return 4;
  })();
  t.deepEqual(good, E.right(4));
  t.is(fs.readFileSync(ok, 'utf8'), 'a,b\n0,0\n1,2\n2,4\n9,9\n', 'lines collected after the last flush are written on close');
  const bug = await localFiles.writeLines([{ file: path.join(dir, 'bug.csv'), header: 'a' }], () => Promise.reject(new RangeError('a bug')))();
  t.true(E.isLeft(bug) && bug.left._tag === 'Internal');
  t.false(fs.existsSync(path.join(dir, 'bug.csv')));
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

test('generate-data --output under a file: exit 9 naming the folder, not a usage error', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'blocker'), 'a file');
  for (const extra of [[], ['--scenario', 'tiny']]) {
    const r = await runCli('generate-data', ['--scale', '0.01', ...extra, '--output', path.join(dir, 'blocker', 'demo')]);
    t.is(r.code, 9, r.stderr);
    t.regex(r.stderr, /cannot write .*blocker\/demo: a file is in the place of a folder on the path/);
    t.deepEqual(fs.readdirSync(dir), ['blocker']);
  }
});
