import test from 'ava';
import { makePace, makeProgress, progressLine, rateText } from '../shared/progress.js';
import type { Logger } from '../shared/log.js';

/** A logger that keeps its info lines, and a clock the test moves by hand. */
function harness() {
  const lines: string[] = [];
  const logger: Logger = { debug: () => {}, info: (m) => lines.push(m), warn: () => {}, error: () => {} };
  let t = 0;
  return { lines, logger, now: () => t, advance: (ms: number) => (t += ms) };
}

test('non-terminal progress: the first line comes early, then one per interval across the whole task, not per file', (t) => {
  const h = harness();
  const pace = makePace(0, 1500, 10_000);
  const mk = (label: string) => makeProgress({ label, total: 1000, logger: h.logger, isTTY: false, pace, now: h.now, timerMs: 0 });
  const a = mk('loading a.csv');
  h.advance(1000);
  a.tick(100);
  t.deepEqual(h.lines, [], 'nothing before 1.5 s');
  h.advance(600);
  a.tick(100);
  t.is(h.lines.length, 1, 'the first line at 1.5 s');
  a.done();
  // many small files, each shorter than the interval: the schedule goes on, so they still report
  for (let i = 0; i < 8; i++) {
    const f = mk(`loading file${i}.csv`);
    for (let k = 0; k < 10; k++) {
      h.advance(300);
      f.tick(10);
    }
    f.done();
  }
  // 24 s after the first line at an interval of 10 s: two more lines
  t.is(h.lines.length, 3, h.lines.join('\n'));
});

test('progress lines: thousands separators, and no rate before anything was done', (t) => {
  t.is(progressLine('loading s.csv', 'rows', 290_204, 590_408, 10), 'loading s.csv: 290,204/590,408 rows, 49.2%, 29k rows/s, about 11s left');
  const idle = progressLine('process-attribution', 'steps', 0, 5, 9);
  t.false(/\/s\b/.test(idle), idle);
  t.regex(idle, /working for 9s/);
  // a re-run of send-to-api that sent nothing has no speed
  t.is(rateText(0, 0.01, 'journeys'), undefined);
  t.is(rateText(23_810, 1, 'journeys'), '24k journeys/s');
});

test('the timer reports a step that ticks nothing (one long SQL statement)', async (t) => {
  const lines: string[] = [];
  const logger: Logger = { debug: () => {}, info: (m) => lines.push(m), warn: () => {}, error: () => {} };
  const p = makeProgress({ label: 'process-attribution', unit: 'steps', total: 5, logger, isTTY: false, pace: makePace(Date.now(), 50, 10_000), timerMs: 10 });
  await new Promise((r) => setTimeout(r, 200));
  p.done();
  t.is(lines.length, 1, lines.join('\n'));
  t.regex(lines[0]!, /^process-attribution: 0\/5 steps, 0\.0%, working for \ds$/);
});
