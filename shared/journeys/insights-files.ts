import * as path from 'node:path';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { AppError } from '../errors.js';
import { csvField, type Files } from '../files.js';
import type { JourneyInsights } from './insights.js';
import { PERCENTILES } from './percentiles.js';

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

/** Writes journey_insights.json and .csv into dir (created if needed); each file appears whole or not at all. */
export function writeInsights(files: Files, dir: string, insights: JourneyInsights): TE.TaskEither<AppError, { readonly json: string; readonly csv: string }> {
  const json = path.join(dir, INSIGHTS_FILES.json);
  const csv = path.join(dir, INSIGHTS_FILES.csv);
  const csvText = [INSIGHTS_CSV_HEADER, ...insightsCsvRows(insights)].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  return pipe(
    files.ensureDir(dir),
    TE.chain(() => files.writeText(json, JSON.stringify(insights, null, 2) + '\n')),
    TE.chain(() => files.writeText(csv, csvText)),
    TE.map(() => ({ json, csv })),
  );
}
