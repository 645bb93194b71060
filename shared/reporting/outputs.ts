import * as path from 'node:path';
import { ensureDir, removeOutput, writeCsvAtomic as writeCsv, type CsvRow } from '../files.js';
import type { ChannelDay, ChannelSummary } from './channels.js';
import { cell, euros, human, ratio, textTable, type Precision } from '../format.js';
import type { ModelComparison } from './models.js';

/** The files of one window's output folder. */
export const OUTPUT_FILES = {
  channelReporting: 'channel_reporting.csv',
  channelSummary: 'channel_summary.csv',
  modelComparison: 'model_comparison.csv',
  report: 'report.html',
} as const;

type Row = CsvRow;

/** The attribution run behind the numbers, repeated on every row so that each CSV says who produced it. */
export interface RunColumns {
  readonly provider: string;
  readonly conv_type_id: string;
}

const cols = (...names: string[]) => names.map((n) => ({ id: n, title: n }));

export function channelReportingRows(rows: readonly ChannelDay[], p: Precision, run: RunColumns): Row[] {
  return rows.map((r) => ({
    channel_name: r.channel_name,
    date: r.date,
    cost: cell(r.cost, p.money),
    ihc: cell(r.ihc, p.ratio),
    ihc_revenue: cell(r.ihc_revenue, p.money),
    CPO: cell(ratio(r.cost, r.ihc), p.money),
    ROAS: cell(ratio(r.ihc_revenue, r.cost), p.ratio),
    ...run,
  }));
}

export function summaryRows(rows: readonly ChannelSummary[], p: Precision, run: RunColumns): Row[] {
  return rows.map((r) => ({
    channel_name: r.channel_name,
    cost: cell(r.cost, p.money),
    attributed_orders: cell(r.orders, p.ratio),
    attributed_revenue: cell(r.revenue, p.money),
    CPO: cell(r.cpo, p.money),
    ROAS: cell(r.roas, p.ratio),
    ...run,
  }));
}

export function comparisonColumns(c: ModelComparison): string[] {
  return ['channel_name', 'cost', ...c.models.flatMap((m) => [`${m}_orders`, `${m}_revenue`, `${m}_CPO`, `${m}_ROAS`])];
}

export function comparisonRows(c: ModelComparison, p: Precision): Row[] {
  return c.channels.map((ch) => {
    const row: Row = { channel_name: ch.channel_name, cost: cell(ch.cost, p.money) };
    for (const m of c.models) {
      const s = ch.byModel.get(m);
      row[`${m}_orders`] = cell(s?.orders ?? 0, p.ratio);
      row[`${m}_revenue`] = cell(s?.revenue ?? 0, p.money);
      row[`${m}_CPO`] = cell(s?.cpo, p.money);
      row[`${m}_ROAS`] = cell(s?.roas, p.ratio);
    }
    return row;
  });
}

export interface WrittenFiles {
  readonly dir: string;
  readonly files: readonly string[];
}

export async function writeCsvs(
  dir: string,
  data: { channelDays: readonly ChannelDay[]; summary: readonly ChannelSummary[]; comparison: ModelComparison | undefined; run: RunColumns },
  p: Precision,
): Promise<string[]> {
  await ensureDir(dir);
  const files: string[] = [];
  const f1 = path.join(dir, OUTPUT_FILES.channelReporting);
  await writeCsv(f1, cols('channel_name', 'date', 'cost', 'ihc', 'ihc_revenue', 'CPO', 'ROAS', 'provider', 'conv_type_id'), channelReportingRows(data.channelDays, p, data.run));
  files.push(f1);
  const f2 = path.join(dir, OUTPUT_FILES.channelSummary);
  await writeCsv(f2, cols('channel_name', 'cost', 'attributed_orders', 'attributed_revenue', 'CPO', 'ROAS', 'provider', 'conv_type_id'), summaryRows(data.summary, p, data.run));
  files.push(f2);
  const f3 = path.join(dir, OUTPUT_FILES.modelComparison);
  if (data.comparison !== undefined) {
    await writeCsv(f3, cols(...comparisonColumns(data.comparison)), comparisonRows(data.comparison, p));
    files.push(f3);
  } else {
    // a comparison from an earlier run would not match this run's numbers
    await removeOutput(f3);
  }
  return files;
}

/** The per-channel summary as a terminal table, with a total line. */
export function summaryTable(rows: readonly ChannelSummary[], total: ChannelSummary, p: Precision): string {
  const line = (r: ChannelSummary): string[] => [
    r.channel_name,
    euros(r.cost, p.money),
    human(r.orders, 2),
    euros(r.revenue, p.money),
    euros(r.cpo, p.money),
    human(r.roas, 2),
  ];
  return textTable(
    ['channel', 'cost', 'orders', 'revenue', 'CPO', 'ROAS'],
    [...rows.map(line), line(total)],
    [false, true, true, true, true, true],
  );
}
