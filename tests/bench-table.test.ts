import test from 'ava';
import { formatTable, ratiosOf, type BenchRow } from '../bench/table.js';

const row = (step: string, seconds: number, cpu: number, baseline?: string, backend = 'sqlite'): BenchRow => ({
  backend,
  scale: 10,
  step,
  rows: 1000,
  seconds,
  cpu,
  rssMb: 100,
  ...(baseline !== undefined ? { baseline } : {}),
});

test('ratios compare with the baseline of the same backend and scale, wall and CPU separately', (t) => {
  const rows = [
    row('baseline: cost aggregate', 4, 2),
    row('baseline: cost aggregate', 1, 1, undefined, 'postgres'),
    row('process-attribution', 6, 8, 'baseline: cost aggregate'),
  ];
  t.deepEqual(ratiosOf(rows[2]!, rows), { ratio: 1.5, cpuRatio: 4 });
  t.deepEqual(ratiosOf(rows[0]!, rows), {});
  t.deepEqual(ratiosOf(row('load', 3, 3, 'baseline: missing'), rows), {});
});

test('the table has one line per row under a header, ratios printed with an x', (t) => {
  const rows = [row('baseline: cost aggregate', 4, 2), row('process-attribution', 6, 8, 'baseline: cost aggregate')];
  const lines = formatTable(rows.map((r) => ({ ...r, ...ratiosOf(r, rows) }))).split('\n');
  t.is(lines.length, 4);
  t.regex(lines[0]!, /^db\s+scale\s+step\s+rows\s+seconds\s+cpu s\s+rows\/s\s+peak RSS MB\s+ratio\s+cpu ratio\s+baseline$/);
  t.regex(lines[3]!, /process-attribution\s+1,000\s+6\.00\s+8\.00\s+167\s+100\s+1\.50x\s+4\.00x\s+cost aggregate$/);
  t.notRegex(lines[2]!, /x\s/);
});
