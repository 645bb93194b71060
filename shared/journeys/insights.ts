import * as path from 'node:path';
import { ensureDir, writeFileAtomic } from '../files.js';
import type { Knex } from 'knex';
import type { Window } from '../window.js';
import { JOURNEY_STATUS } from './build.js';
import { journeySql, rowsOf } from './sql.js';
import { issueCounts, type IssueCount } from './validate.js';

/** Percentiles reported, by nearest rank: the value at rank ceil(p/100 * n) of the n sorted values. */
export const PERCENTILES = [25, 50, 75, 90, 95, 99] as const;
export const TOP_PATHS = 20;
/** between channels of a path; a channel name containing it stays readable but becomes ambiguous */
export const PATH_SEPARATOR = ' > ';

export interface Distribution {
  readonly count: number;
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  /** keys "p25", "p50", ...; null when there is no value */
  readonly percentiles: Readonly<Record<string, number | null>>;
}

export interface PathRow {
  readonly path: string;
  readonly channels: readonly string[];
  readonly conversions: number;
  /** EUR, rounded to cents */
  readonly revenue: number;
  /** of the window's journeys */
  readonly share: number;
}

export interface ChannelShare {
  readonly channel: string;
  readonly conversions: number;
  readonly revenue: number;
  readonly share: number;
}

/** Plain JSON: what computeInsights returns and journey_insights.json holds. */
export interface JourneyInsights {
  readonly window: { readonly start: string; readonly end: string };
  /** conversions dated in the window */
  readonly conversions: number;
  /** journeys with at least one session */
  readonly journeys: number;
  /** sessions in those journeys (a session shared by two journeys counts twice) */
  readonly sessions: number;
  /** revenue of the journeys, EUR */
  readonly revenue: number;
  readonly conversions_without_journey: {
    /** no session of the user before the conversion (cannot be attributed) */
    readonly no_sessions: number;
    /** excluded by validation */
    readonly invalid: number;
  };
  /** paths of sessions that led to no order, whose last session is in the window (never attributed) */
  readonly non_converting: { readonly paths: number; readonly sessions: number };
  readonly sessions_per_journey: Distribution & {
    readonly histogram: ReadonlyArray<{ readonly sessions: number; readonly journeys: number }>;
  };
  /** from the start of the first session to the conversion */
  readonly time_to_conversion_seconds: Distribution;
  /** consecutive repeats of a channel collapsed: a > a > b is a > b */
  readonly distinct_paths: number;
  readonly top_paths: readonly PathRow[];
  readonly first_channel: readonly ChannelShare[];
  readonly last_channel: readonly ChannelShare[];
  readonly data_issues: readonly IssueCount[];
}

const round = (x: number, d: number): number => {
  const f = 10 ** d;
  return Math.round(x * f) / f;
};
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** rank (1-based) of each reported percentile among n sorted values */
export function percentileRanks(n: number): number[] {
  return PERCENTILES.map((p) => Math.max(1, Math.ceil((p / 100) * n)));
}

function emptyPercentiles(): Record<string, number | null> {
  return Object.fromEntries(PERCENTILES.map((p) => [`p${p}`, null]));
}

/** Percentiles from a histogram (value -> how many), which is small for session counts. */
export function distributionOfHistogram(hist: ReadonlyArray<{ value: number; count: number }>): Distribution {
  const sorted = [...hist].filter((h) => h.count > 0).sort((a, b) => a.value - b.value);
  const n = sorted.reduce((a, h) => a + h.count, 0);
  if (n === 0) return { count: 0, min: null, max: null, mean: null, percentiles: emptyPercentiles() };
  const percentiles: Record<string, number | null> = {};
  const ranks = percentileRanks(n);
  PERCENTILES.forEach((p, i) => {
    let seen = 0;
    for (const h of sorted) {
      seen += h.count;
      if (seen >= ranks[i]!) {
        percentiles[`p${p}`] = h.value;
        break;
      }
    }
  });
  const sum = sorted.reduce((a, h) => a + h.value * h.count, 0);
  return { count: n, min: sorted[0]!.value, max: sorted[sorted.length - 1]!.value, mean: round(sum / n, 4), percentiles };
}

/**
 * The window's journey insights, computed in the database from `journeys` and `journey_sessions` (so the HTML
 * report can call it after the fact). Only aggregates come back to TypeScript: memory does not grow with the
 * window.
 */
export async function computeInsights(db: Knex, w: Window): Promise<JourneyInsights> {
  const q = journeySql(db);
  const okInWindow = `j.status = '${JOURNEY_STATUS.ok}' AND j.conv_date BETWEEN ? AND ?`;
  const b = [w.start, w.end];

  const statusRows = (await db('journeys as j')
    .select('j.status')
    .count({ n: '*' })
    .sum({ s: 'j.session_count', r: 'j.revenue' })
    .whereBetween('j.conv_date', [w.start, w.end])
    .groupBy('j.status')) as Array<{ status: string; n: unknown; s: unknown; r: unknown }>;
  const st = (s: string) => statusRows.find((r) => r.status === s);
  const journeys = num(st(JOURNEY_STATUS.ok)?.n);

  const hist = (await db('journeys as j')
    .select('j.session_count')
    .count({ n: '*' })
    .where('j.status', JOURNEY_STATUS.ok)
    .whereBetween('j.conv_date', [w.start, w.end])
    .groupBy('j.session_count')
    .orderBy('j.session_count')) as Array<{ session_count: unknown; n: unknown }>;
  const histogram = hist.map((h) => ({ sessions: num(h.session_count), journeys: num(h.n) }));

  // time to conversion: one value per journey, ranked in SQL; only the ranked values we need come back
  const secs = q.secondsBetween('f.event_date', 'f.event_time', 'j.conv_date', 'j.conv_time');
  const ttcFrom = `FROM journeys j JOIN journey_sessions f ON f.conv_id = j.conv_id AND f.position = 0 WHERE ${okInWindow}`;
  const agg = rowsOf<{ n: unknown; mn: unknown; mx: unknown; av: unknown }>(
    await db.raw(`SELECT COUNT(*) AS n, MIN(${secs}) AS mn, MAX(${secs}) AS mx, AVG(${secs}) AS av ${ttcFrom}`, b),
  )[0];
  const nT = num(agg?.n);
  const ttcPercentiles = emptyPercentiles();
  if (nT > 0) {
    const ranks = percentileRanks(nT);
    const got = rowsOf<{ rn: unknown; v: unknown }>(
      await db.raw(
        `SELECT r.rn, r.v FROM (SELECT ${secs} AS v, ROW_NUMBER() OVER (ORDER BY ${secs}) AS rn ${ttcFrom}) r
          WHERE r.rn IN (${ranks.map(() => '?').join(', ')})`,
        [...b, ...ranks],
      ),
    );
    const byRank = new Map(got.map((g) => [num(g.rn), num(g.v)]));
    PERCENTILES.forEach((p, i) => (ttcPercentiles[`p${p}`] = byRank.get(ranks[i]!) ?? null));
  }

  const pathSql = `
    SELECT p.path, COUNT(*) AS conversions, SUM(p.revenue) AS revenue, COUNT(*) OVER () AS distinct_paths FROM (
      SELECT x.conv_id, MAX(x.revenue) AS revenue, ${q.orderedConcat('x.channel_name', PATH_SEPARATOR, 'x.position')} AS path
        FROM (SELECT js.conv_id, js.position, js.channel_name, j.revenue,
                     LAG(js.channel_name) OVER (PARTITION BY js.conv_id ORDER BY js.position) AS prev
                FROM journey_sessions js JOIN journeys j ON j.conv_id = js.conv_id
               WHERE js.conv_date BETWEEN ? AND ? AND ${okInWindow}) x
       WHERE x.prev IS NULL OR x.prev <> x.channel_name
       GROUP BY x.conv_id) p
    GROUP BY p.path
    ORDER BY COUNT(*) DESC, SUM(p.revenue) DESC, ${q.binary('p.path')}
    LIMIT ${TOP_PATHS}`;
  const paths = rowsOf<{ path: string; conversions: unknown; revenue: unknown; distinct_paths: unknown }>(
    await db.raw(pathSql, [...b, ...b]),
  );

  const channelShares = async (where: string): Promise<ChannelShare[]> => {
    const rows = rowsOf<{ channel_name: string; n: unknown; r: unknown }>(
      await db.raw(
        `SELECT js.channel_name, COUNT(*) AS n, SUM(j.revenue) AS r
           FROM journey_sessions js JOIN journeys j ON j.conv_id = js.conv_id
          WHERE js.conv_date BETWEEN ? AND ? AND ${okInWindow} AND ${where}
          GROUP BY js.channel_name
          ORDER BY COUNT(*) DESC, ${q.binary('js.channel_name')}`,
        [...b, ...b],
      ),
    );
    return rows.map((r) => ({
      channel: r.channel_name,
      conversions: num(r.n),
      revenue: round(num(r.r), 2),
      share: journeys > 0 ? round(num(r.n) / journeys, 6) : 0,
    }));
  };

  const sessionsPerJourney = distributionOfHistogram(histogram.map((h) => ({ value: h.sessions, count: h.journeys })));
  return {
    window: { start: w.start, end: w.end },
    conversions: statusRows.filter((r) => r.status !== JOURNEY_STATUS.nonConverting).reduce((a, r) => a + num(r.n), 0),
    journeys,
    sessions: num(st(JOURNEY_STATUS.ok)?.s),
    revenue: round(num(st(JOURNEY_STATUS.ok)?.r), 2),
    conversions_without_journey: {
      no_sessions: num(st(JOURNEY_STATUS.noSessions)?.n),
      invalid: num(st(JOURNEY_STATUS.invalid)?.n),
    },
    non_converting: { paths: num(st(JOURNEY_STATUS.nonConverting)?.n), sessions: num(st(JOURNEY_STATUS.nonConverting)?.s) },
    sessions_per_journey: { ...sessionsPerJourney, histogram },
    time_to_conversion_seconds: {
      count: nT,
      min: nT > 0 ? num(agg?.mn) : null,
      max: nT > 0 ? num(agg?.mx) : null,
      mean: nT > 0 ? round(num(agg?.av), 1) : null,
      percentiles: ttcPercentiles,
    },
    distinct_paths: num(paths[0]?.distinct_paths),
    top_paths: paths.map((p) => ({
      path: p.path,
      channels: p.path.split(PATH_SEPARATOR),
      conversions: num(p.conversions),
      revenue: round(num(p.revenue), 2),
      share: journeys > 0 ? round(num(p.conversions) / journeys, 6) : 0,
    })),
    first_channel: await channelShares('js.position = 0'),
    last_channel: await channelShares('js.conversion = 1'),
    data_issues: await issueCounts(db, w),
  };
}

export const INSIGHTS_FILES = { json: 'journey_insights.json', csv: 'journey_insights.csv' } as const;
export const INSIGHTS_CSV_HEADER = ['section', 'key', 'metric', 'value'] as const;

/**
 * One tidy CSV (section, key, metric, value) holds every number of the JSON, so a spreadsheet pivot or a
 * `grep` finds any of them without a second file format.
 */
export function insightsCsvRows(i: JourneyInsights, overflowed: string[] = []): Array<[string, string, string, string]> {
  const rows: Array<[string, string, string, string]> = [];
  // a sum beyond the range of a number (about 1.8e308) is left empty, never written as Infinity or NaN
  const add = (section: string, key: string, metric: string, value: number | string | null) => {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      overflowed.push(`${section}${key === '' ? '' : ` ${key}`} ${metric}`);
      value = null;
    }
    rows.push([section, key, metric, value === null ? '' : String(value)]);
  };
  add('summary', '', 'window_start', i.window.start);
  add('summary', '', 'window_end', i.window.end);
  add('summary', '', 'conversions', i.conversions);
  add('summary', '', 'journeys', i.journeys);
  add('summary', '', 'sessions', i.sessions);
  add('summary', '', 'revenue', i.revenue);
  add('summary', '', 'conversions_without_journey', i.conversions_without_journey.no_sessions);
  add('summary', '', 'invalid_conversions', i.conversions_without_journey.invalid);
  add('summary', '', 'non_converting_paths', i.non_converting.paths);
  add('summary', '', 'non_converting_sessions', i.non_converting.sessions);
  add('summary', '', 'distinct_paths', i.distinct_paths);
  for (const [section, d] of [
    ['sessions_per_journey', i.sessions_per_journey],
    ['time_to_conversion_seconds', i.time_to_conversion_seconds],
  ] as const) {
    add(section, '', 'count', d.count);
    add(section, '', 'min', d.min);
    add(section, '', 'mean', d.mean);
    for (const p of PERCENTILES) add(section, '', `p${p}`, d.percentiles[`p${p}`] ?? null);
    add(section, '', 'max', d.max);
  }
  for (const h of i.sessions_per_journey.histogram) add('sessions_histogram', String(h.sessions), 'journeys', h.journeys);
  i.top_paths.forEach((p) => {
    add('top_paths', p.path, 'conversions', p.conversions);
    add('top_paths', p.path, 'revenue', p.revenue);
    add('top_paths', p.path, 'share', p.share);
  });
  for (const [section, list] of [
    ['first_channel', i.first_channel],
    ['last_channel', i.last_channel],
  ] as const) {
    for (const c of list) {
      add(section, c.channel, 'conversions', c.conversions);
      add(section, c.channel, 'revenue', c.revenue);
      add(section, c.channel, 'share', c.share);
    }
  }
  for (const d of i.data_issues) add('data_issues', `${d.table}.${d.reason}`, d.severity, d.count);
  return rows;
}

const csvField = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * The journeys whose revenue alone can overflow the window's sums (n values each below MAX_VALUE / n cannot),
 * named so the warning about empty insight cells points at the rows to fix.
 */
export async function outsizedJourneyRevenues(db: Knex, w: Window, limit = 10): Promise<string[]> {
  const n = (await db('journeys').whereBetween('conv_date', [w.start, w.end]).count({ n: '*' }).first()) as { n: number | string } | undefined;
  const rows = (await db('journeys')
    .select('conv_id', 'revenue')
    .whereBetween('conv_date', [w.start, w.end])
    .andWhere((q) => q.whereNull('revenue').orWhereRaw('ABS(revenue) >= ?', [Number.MAX_VALUE / Math.max(1, Number(n?.n ?? 1))]))
    .orderBy('conv_id')
    .limit(limit)) as Array<{ conv_id: string; revenue: number | null }>;
  return rows.map((r) => `${r.conv_id} (revenue ${r.revenue})`);
}

/** Writes journey_insights.json and .csv into dir (created if needed); each file appears whole or not at all. */
export async function writeInsights(dir: string, insights: JourneyInsights): Promise<{ readonly json: string; readonly csv: string }> {
  await ensureDir(dir);
  const json = path.join(dir, INSIGHTS_FILES.json);
  const csv = path.join(dir, INSIGHTS_FILES.csv);
  const csvText = [INSIGHTS_CSV_HEADER, ...insightsCsvRows(insights)].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  for (const [file, text] of [
    [json, JSON.stringify(insights, null, 2) + '\n'],
    [csv, csvText],
  ] as const) {
    await writeFileAtomic(file, text);
  }
  return { json, csv };
}

/** "3d 04h", "5h 12m", "42m", "17s": durations a marketer reads at a glance */
export function formatSeconds(s: number | null): string {
  if (s === null) return '-';
  const sec = Math.round(s);
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ${String(Math.floor((sec % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(sec / 86400)}d ${String(Math.floor((sec % 86400) / 3600)).padStart(2, '0')}h`;
}

const int = (n: number): string => n.toLocaleString('en-US');
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** The short table printed on stdout. */
export function formatInsights(i: JourneyInsights, opts: { topPaths?: number; topChannels?: number } = {}): string {
  const topPaths = opts.topPaths ?? 5;
  const topChannels = opts.topChannels ?? 5;
  const lines: string[] = [];
  const kv = (k: string, v: string) => lines.push(`  ${k.padEnd(28)} ${v}`);
  lines.push(`Journey insights ${i.window.start}..${i.window.end}`);
  kv('conversions', int(i.conversions));
  kv('journeys', `${int(i.journeys)} (${int(i.sessions)} sessions, revenue ${i.revenue.toFixed(2)})`);
  kv('without journey', `${int(i.conversions_without_journey.no_sessions)} no earlier session, ${int(i.conversions_without_journey.invalid)} invalid`);
  kv('non-converting paths', `${int(i.non_converting.paths)} (${int(i.non_converting.sessions)} sessions)`);
  const s = i.sessions_per_journey;
  kv('sessions per journey', s.count === 0 ? '-' : `mean ${s.mean}, p50 ${s.percentiles['p50']}, p90 ${s.percentiles['p90']}, p99 ${s.percentiles['p99']}, max ${s.max}`);
  const t = i.time_to_conversion_seconds;
  kv(
    'first session to conversion',
    t.count === 0
      ? '-'
      : `p50 ${formatSeconds(t.percentiles['p50'] ?? null)}, p90 ${formatSeconds(t.percentiles['p90'] ?? null)}, max ${formatSeconds(t.max)}`,
  );
  if (i.top_paths.length > 0) {
    lines.push(`  top paths (of ${int(i.distinct_paths)}):`);
    for (const p of i.top_paths.slice(0, topPaths)) lines.push(`    ${String(p.conversions).padStart(7)}  ${pct(p.share).padStart(6)}  ${p.path}`);
  }
  for (const [label, list] of [
    ['first channel', i.first_channel],
    ['last channel', i.last_channel],
  ] as const) {
    if (list.length === 0) continue;
    kv(label, list.slice(0, topChannels).map((c) => `${c.channel} ${pct(c.share)}`).join(', '));
  }
  if (i.data_issues.length > 0) {
    kv('data issues', i.data_issues.map((d) => `${d.reason} ${int(d.count)} (${d.severity})`).join(', '));
  }
  return lines.join('\n');
}
