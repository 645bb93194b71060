import * as fs from 'node:fs';
import test from 'ava';
import { runCli, tempDir } from '../helpers/env.js';
import { ITERATIONS, LOOKBACK, W1, W2, WHOLE, demoData, differences, dump, freshTarget, must, openTarget, outputs, pgAvailable, runAndKill, seeded, type Target } from './kit.js';

/**
 * SIGKILL at random points of every step, then a rerun: the result equals an uninterrupted run. Concurrent
 * windows and a load beside the pipeline, on one SQLite file and on PostgreSQL: every run succeeds and the
 * result equals the serial one.
 */

interface Step {
  readonly name: string;
  readonly task: string;
  readonly args: (d: { main: string; later: string }) => string[];
}

const STEPS: readonly Step[] = [
  { name: 'setup-db', task: 'setup-db', args: () => [] },
  { name: 'load', task: 'load', args: (d) => ['--dir', d.main] },
  { name: 'build-journeys', task: 'build-journeys', args: () => [...WHOLE, ...LOOKBACK] },
  { name: 'send-to-api', task: 'send-to-api', args: () => WHOLE },
  { name: 'process-attribution W1', task: 'process-attribution', args: () => W1 },
  { name: 'process-attribution W2', task: 'process-attribution', args: () => W2 },
  { name: 'load later', task: 'load', args: (d) => ['--dir', d.later] },
];
const CONCURRENT_FROM = 4; // the last three steps run at once

async function state(t: Target): Promise<{ tables: Record<string, string[]>; files: Record<string, string> }> {
  const db = openTarget(t);
  try {
    return { tables: await dump(db), files: outputs(t.out) };
  } finally {
    await db.destroy();
  }
}

function copySqlite(from: Target, to: Target): void {
  fs.copyFileSync(from.url, to.url);
  for (const ext of ['-wal', '-shm']) if (fs.existsSync(from.url + ext)) fs.copyFileSync(from.url + ext, to.url + ext);
  if (fs.existsSync(from.out)) fs.cpSync(from.out, to.out, { recursive: true });
}

const dir = tempDir('attr-reliability-');
const data = demoData(dir);

/** The serial, uninterrupted run, with the database and outputs as they were before each step. */
const reference = (async () => {
  const d = await data;
  const before: Target[] = [];
  const durations: number[] = [];
  const ref = await freshTarget(dir, 'sqlite', 'reference');
  for (const [i, step] of STEPS.entries()) {
    const snap = await freshTarget(dir, 'sqlite', `before-${i}`);
    if (fs.existsSync(ref.url)) copySqlite(ref, snap);
    before.push(snap);
    const t0 = Date.now();
    await must(runCli(step.task, step.args(d), ref.env), `reference ${step.name}`);
    durations.push(Date.now() - t0);
  }
  return { ref, before, durations, final: await state(ref) };
})();

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }));

test('reference run: every step succeeded and produced data', async (t) => {
  const { final } = await reference;
  t.true((final.tables['attribution_customer_journey'] ?? []).length > 0);
  t.true((final.tables['channel_reporting'] ?? []).length > 0);
  t.true(Object.keys(final.files).some((f) => f.endsWith('channel_reporting.csv')));
});

for (const [i, step] of STEPS.entries()) {
  if (step.name === 'process-attribution W2' || step.name === 'load later') continue; // same code paths as W1 / load
  test(`SIGKILL at random points of ${step.name}, then a rerun, equals the uninterrupted run`, async (t) => {
    const d = await data;
    const { before, durations, final } = await reference;
    const random = seeded(1000 + i * 7919 + ITERATIONS);
    let killedInFlight = 0;
    for (let n = 0; n < ITERATIONS; n++) {
      const run = await freshTarget(dir, 'sqlite', `kill-${i}-${n}`);
      if (fs.existsSync(before[i]!.url)) copySqlite(before[i]!, run);
      // node's start-up is part of every step, so kill times cover it as well as the work
      const afterMs = Math.floor(random() * durations[i]! * 1.1);
      const k = await runAndKill(step.task, step.args(d), run.env, afterMs);
      if (k.killed) killedInFlight += 1;
      else t.is(k.code, 0, `${step.name} finished before the kill at ${afterMs} ms but failed`);
      for (const later of STEPS.slice(i)) await must(runCli(later.task, later.args(d), run.env), `${later.name} after the kill at ${afterMs} ms`);
      t.deepEqual(differences(await state(run), final), [], `after a kill of ${step.name} at ${afterMs} ms`);
    }
    t.log(`${step.name}: ${killedInFlight} of ${ITERATIONS} run(s) killed in flight (reference ${durations[i]} ms)`);
  });
}

async function concurrentTail(run: Target, d: { main: string; later: string }): Promise<void> {
  const tail = STEPS.slice(CONCURRENT_FROM);
  const results = await Promise.all(tail.map((s) => runCli(s.task, s.args(d), run.env)));
  results.forEach((r, k) => {
    if (r.code !== 0) throw new Error(`${tail[k]!.name} beside the others exited ${r.code}:\n${r.stderr.slice(-2000)}`);
  });
}

test('SQLite: two windows of process-attribution and a load at the same time all succeed and equal the serial result', async (t) => {
  const d = await data;
  const { before, final } = await reference;
  for (let n = 0; n < ITERATIONS; n++) {
    const run = await freshTarget(dir, 'sqlite', `concurrent-${n}`);
    copySqlite(before[CONCURRENT_FROM]!, run);
    await concurrentTail(run, d);
    t.deepEqual(differences(await state(run), final), []);
  }
});

(pgAvailable() ? test : test.skip)('PostgreSQL: two windows of process-attribution and a load at the same time all succeed and equal the serial result', async (t) => {
  const d = await data;
  const serial = await freshTarget(dir, 'pg', 'serial');
  for (const s of STEPS) await must(runCli(s.task, s.args(d), serial.env), `serial ${s.name}`);
  const expected = await state(serial);
  t.true((expected.tables['attribution_customer_journey'] ?? []).length > 0);
  for (let n = 0; n < ITERATIONS; n++) {
    const run = await freshTarget(dir, 'pg', `concurrent-${n}`);
    for (const s of STEPS.slice(0, CONCURRENT_FROM)) await must(runCli(s.task, s.args(d), run.env), s.name);
    await concurrentTail(run, d);
    t.deepEqual(differences(await state(run), expected), []);
  }
});

