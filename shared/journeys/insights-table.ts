import type { JourneyInsights } from './insights.js';

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
