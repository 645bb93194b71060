import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { DbSum, DbText, type Db } from '../db/db.js';
import type { AppError } from '../errors.js';
import { addDays, datesOf, type Window } from '../window.js';
import { ratio } from '../format.js';

/** One row of channel_reporting. */
export interface ChannelDay {
  readonly channel_name: string;
  readonly date: string;
  readonly cost: number;
  readonly ihc: number;
  readonly ihc_revenue: number;
}

/** Per-channel figures over the window: cost, attributed orders (sum of ihc) and revenue, CPO, ROAS. */
export interface ChannelSummary {
  readonly channel_name: string;
  readonly cost: number;
  readonly orders: number;
  readonly revenue: number;
  /** cost / orders; undefined when no order was attributed */
  readonly cpo: number | undefined;
  /** revenue / cost; undefined when the channel cost nothing */
  readonly roas: number | undefined;
}

/** Plain code-unit order: the same on every database (PostgreSQL's ORDER BY follows the server's locale). */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// a cell computed from no rows can be NULL on an adopted table: 0, as the report shows it
const ChannelDayRow = t.type({ channel_name: DbText, date: DbText, cost: DbSum, ihc: DbSum, ihc_revenue: DbSum }, 'channel_reporting row');

/** channel_reporting rows of the window's dates, sorted by date, then channel_name. */
export function readChannelReporting(db: Db, w: Window): TE.TaskEither<AppError, ChannelDay[]> {
  return pipe(
    db.select(
      'reading channel_reporting',
      ChannelDayRow,
      `SELECT channel_name, date, cost, ihc, ihc_revenue FROM channel_reporting WHERE date >= ? AND date <= ?`,
      [w.start, w.end],
    ),
    TE.map((rows) => rows.sort((a, b) => byText(a.date, b.date) || byText(a.channel_name, b.channel_name))),
  );
}

export function summaryOf(channel_name: string, cost: number, orders: number, revenue: number): ChannelSummary {
  return { channel_name, cost, orders, revenue, cpo: ratio(cost, orders), roas: ratio(revenue, cost) };
}

/** Sums the rows per channel (sorted by channel_name). */
export function summarizeChannels(rows: readonly ChannelDay[]): ChannelSummary[] {
  const acc = new Map<string, { cost: number; orders: number; revenue: number }>();
  for (const r of rows) {
    const a = acc.get(r.channel_name) ?? { cost: 0, orders: 0, revenue: 0 };
    a.cost += r.cost;
    a.orders += r.ihc;
    a.revenue += r.ihc_revenue;
    acc.set(r.channel_name, a);
  }
  return [...acc.entries()].sort(([a], [b]) => byText(a, b)).map(([c, a]) => summaryOf(c, a.cost, a.orders, a.revenue));
}

/** All channels together. */
export function totalOf(rows: readonly { cost: number; ihc?: number; orders?: number; ihc_revenue?: number; revenue?: number }[]): ChannelSummary {
  let cost = 0;
  let orders = 0;
  let revenue = 0;
  for (const r of rows) {
    cost += r.cost;
    orders += r.ihc ?? r.orders ?? 0;
    revenue += r.ihc_revenue ?? r.revenue ?? 0;
  }
  return summaryOf('All channels', cost, orders, revenue);
}

/** Per date, all channels together (the daily trend). */
export function dailyTotals(rows: readonly ChannelDay[], dates: readonly string[]): { date: string; cost: number; revenue: number; orders: number }[] {
  const by = new Map(dates.map((d) => [d, { date: d, cost: 0, revenue: 0, orders: 0 }]));
  for (const r of rows) {
    const d = by.get(r.date);
    if (d === undefined) continue;
    d.cost += r.cost;
    d.revenue += r.ihc_revenue;
    d.orders += r.ihc;
  }
  return [...by.values()];
}

/**
 * What "losing money" means for this shop. With a margin, a euro of revenue earns `margin` euros, so break-even
 * is ROAS 1 / margin and profit is revenue x margin - cost; without one, break-even is ROAS 1 and profit is
 * revenue - cost. A target ROAS, when set, is the line the report marks channels against instead.
 */
export interface Targets {
  readonly margin: number | undefined;
  readonly breakEven: number;
  /** channels with a ROAS under this are marked */
  readonly target: number;
  readonly targetIsBreakEven: boolean;
}

export function targetsOf(cfg: { readonly target_roas: number | null; readonly margin: number | null }): Targets {
  const margin = cfg.margin ?? undefined;
  const breakEven = margin === undefined ? 1 : 1 / margin;
  return { margin, breakEven, target: cfg.target_roas ?? breakEven, targetIsBreakEven: cfg.target_roas === null };
}

/** Revenue x margin - cost (revenue - cost without a margin). */
export const profitOf = (s: ChannelSummary, t: Targets): number => s.revenue * (t.margin ?? 1) - s.cost;

/** A channel that was paid for and returns less than the target; a free channel (no cost) is never marked. */
export const belowTarget = (s: ChannelSummary, t: Targets): boolean => s.roas !== undefined && s.roas < t.target;

/** The window of the same length just before `w`. */
export function previousWindow(w: Window): Window {
  const n = datesOf(w).length;
  return { start: addDays(w.start, -n), end: addDays(w.start, -1) };
}

/**
 * The preceding window's per-channel figures, when the database holds them: channel_reporting rows on every one
 * of its dates (a half-covered period would compare a part with a whole). undefined otherwise.
 */
export function readPreviousPeriod(db: Db, w: Window): TE.TaskEither<AppError, { window: Window; summary: ChannelSummary[]; total: ChannelSummary } | undefined> {
  const prev = previousWindow(w);
  return pipe(
    readChannelReporting(db, prev),
    TE.map((rows) => {
      const covered = new Set(rows.map((r) => r.date));
      if (datesOf(prev).some((d) => !covered.has(d))) return undefined;
      const summary = summarizeChannels(rows);
      return { window: prev, summary, total: totalOf(summary) };
    }),
  );
}
