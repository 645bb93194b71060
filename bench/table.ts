/** The rows of `make bench` and how they are printed; kept apart from the runner so that it can be tested. */
export interface BenchRow {
  readonly backend: string;
  readonly scale: number;
  readonly step: string;
  /** the rows the step works on (CSV rows for load, journey sessions for the journey steps) */
  readonly rows: number;
  /** wall seconds */
  readonly seconds: number;
  /** user + system seconds of the step's own process */
  readonly cpu: number;
  readonly rssMb: number;
  /** the step (same backend and scale) this one is compared with */
  readonly baseline?: string;
}

export interface Ratios {
  /** wall seconds / the baseline's wall seconds, measured in the same run */
  readonly ratio?: number | undefined;
  /** the same for CPU seconds of the two processes (robust to a loaded machine; blind to a database server's work) */
  readonly cpuRatio?: number | undefined;
}

/** The row's ratios to its baseline row (same backend and scale); none without a baseline. */
export function ratiosOf(r: BenchRow, all: readonly BenchRow[]): Ratios {
  if (r.baseline === undefined) return {};
  const b = all.find((x) => x.backend === r.backend && x.scale === r.scale && x.step === r.baseline);
  if (b === undefined) return {};
  return { ratio: b.seconds > 0 ? r.seconds / b.seconds : undefined, cpuRatio: b.cpu > 0 ? r.cpu / b.cpu : undefined };
}

const COLUMNS: ReadonlyArray<{ title: string; right: boolean; cell: (r: BenchRow & Ratios) => string }> = [
  { title: 'db', right: false, cell: (r) => r.backend },
  { title: 'scale', right: true, cell: (r) => String(r.scale) },
  { title: 'step', right: false, cell: (r) => r.step },
  { title: 'rows', right: true, cell: (r) => (r.rows > 0 ? r.rows.toLocaleString('en-US') : '') },
  { title: 'seconds', right: true, cell: (r) => r.seconds.toFixed(2) },
  { title: 'cpu s', right: true, cell: (r) => r.cpu.toFixed(2) },
  { title: 'rows/s', right: true, cell: (r) => (r.rows > 0 && r.seconds > 0 ? Math.round(r.rows / r.seconds).toLocaleString('en-US') : '') },
  { title: 'peak RSS MB', right: true, cell: (r) => r.rssMb.toFixed(0) },
  { title: 'ratio', right: true, cell: (r) => (r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`) },
  { title: 'cpu ratio', right: true, cell: (r) => (r.cpuRatio === undefined ? '' : `${r.cpuRatio.toFixed(2)}x`) },
  { title: 'baseline', right: false, cell: (r) => (r.baseline ?? '').replace(/^baseline: /, '') },
];

/** A plain-text table, one line per row, columns padded to their widest cell. */
export function formatTable(rows: ReadonlyArray<BenchRow & Ratios>): string {
  const cells = rows.map((r) => COLUMNS.map((c) => c.cell(r)));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]) =>
    row.map((v, i) => (COLUMNS[i]!.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(COLUMNS.map((c) => c.title)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
