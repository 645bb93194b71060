import type { ChannelCredit } from './models.js';
import type { ModelName } from './types.js';
import { maxOf } from '../numbers.js';

/** Per-model, per-channel results as the attribute-paths command prints them. Pure formatting. */
export type ModelResults = ReadonlyArray<readonly [ModelName, ReadonlyMap<string, ChannelCredit>]>;

/** `{"<model>": {"<channel>": {"conversions": n, "value": v}}}`, channels by descending conversions. */
export function resultsToJson(results: ModelResults): Record<string, Record<string, ChannelCredit>> {
  const out: Record<string, Record<string, ChannelCredit>> = {};
  for (const [model, m] of results) {
    const byChannel: Record<string, ChannelCredit> = {};
    for (const [c, v] of sortedChannels(m)) byChannel[c] = { conversions: v.conversions, value: v.value };
    out[model] = byChannel;
  }
  return out;
}

function sortedChannels(m: ReadonlyMap<string, ChannelCredit>): [string, ChannelCredit][] {
  return [...m].sort((a, b) => b[1].conversions - a[1].conversions || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** One block per model: channel, conversions, value, share of conversions; aligned columns. */
export function resultsToTable(results: ModelResults): string {
  const blocks: string[] = [];
  for (const [model, m] of results) {
    let total = 0;
    for (const v of m.values()) total += v.conversions;
    const rows = sortedChannels(m).map(([c, v]) => [
      c,
      v.conversions.toFixed(2),
      v.value.toFixed(2),
      total > 0 ? `${((100 * v.conversions) / total).toFixed(1)}%` : '-',
    ]);
    const header = ['channel', 'conversions', 'value', 'share'];
    const widths = header.map((h, i) => maxOf(rows.map((r) => r[i]!.length), h.length));
    const line = (r: string[]): string => r.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
    blocks.push([`model: ${model}`, line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n'));
  }
  return blocks.join('\n\n');
}
