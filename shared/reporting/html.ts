import type { ModelName } from '../attribution/types.js';
import type { Window } from '../window.js';
import type { WindowOutcome } from './attribute.js';
import type { ChannelSummary } from './channels.js';
import { count, euros, fixed, human, type Precision } from './format.js';
import { formatSeconds, type JourneyInsights } from '../journeys/insights.js';
import { MODEL_EXPLANATIONS, MODEL_LABELS, type ModelComparison } from './models.js';
import type { DataQuality } from './quality.js';
import { COLORS, PALETTE, esc, hbarChart, lineChart, vbarChart } from './svg.js';
import { maxOf } from '../numbers.js';

/**
 * The HTML report: one self-contained file (inline CSS, inline SVG, no script, no external asset), written for
 * a marketer who has never seen the tool. Every string that comes from data passes through esc().
 */
export interface ReportData {
  readonly window: Window;
  readonly generatedAt: string;
  readonly provider: string;
  readonly precision: Precision;
  readonly outcome: WindowOutcome;
  readonly summary: readonly ChannelSummary[];
  readonly total: ChannelSummary;
  readonly daily: readonly { date: string; cost: number; revenue: number; orders: number }[];
  /** undefined: not computed this run (the reason is in comparisonNote) */
  readonly comparison: ModelComparison | undefined;
  readonly comparisonNote?: string;
  readonly insights: JourneyInsights | undefined;
  readonly quality: DataQuality;
  readonly files: readonly string[];
}

const CSS = `
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f6f7f9;--card:#fff;--accent:#0072B2;--good:#1B9E77;--warn:#B45309;--bad:#B91C1C}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1080px;margin:0 auto;padding:28px 20px 60px}
header h1{font-size:28px;margin:0 0 4px}
header p{margin:0;color:var(--muted)}
h2{font-size:20px;margin:0 0 4px}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:20px 22px;margin:18px 0}
.lead{color:var(--muted);margin:0 0 14px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:12px;margin:20px 0 6px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.kpi .name{font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.kpi .value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px}
.kpi .hint{font-size:12.5px;color:var(--muted)}
.explain{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:10px 24px;margin:0;padding:0;list-style:none}
.explain b{display:block}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:14px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.03em}
th:first-child,td:first-child{text-align:left}
tr.total td{font-weight:650;border-top:2px solid var(--ink)}
.scroll{overflow-x:auto}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}
.chart{width:100%;height:auto;display:block}
.chart text{font-family:inherit}
.chart .label{font-size:12.5px;fill:${COLORS.text}}
.chart .value{font-size:11.5px;fill:${COLORS.text}}
.chart .axis{font-size:11px;fill:${COLORS.muted}}
.chart .ref{font-size:11px;fill:${COLORS.line}}
.legend{display:flex;gap:16px;font-size:13px;color:var(--muted);margin:0 0 8px}
.legend span::before{content:"";display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:6px;vertical-align:-1px;background:var(--c)}
.chip{display:inline-block;padding:1px 8px;border-radius:999px;background:#eef2f7;font-size:12.5px;margin:1px 0}
.arrow{color:var(--muted);margin:0 3px}
.ok{color:var(--good);font-weight:600}
.warn{color:var(--warn);font-weight:600}
.bad{color:var(--bad);font-weight:600}
.note{font-size:13px;color:var(--muted)}
.unfinished{border-left:4px solid var(--warn);padding:8px 12px;background:#fffbeb}
ul.quality{margin:0;padding-left:18px}
ul.quality li{margin:4px 0}
table.compact th{white-space:normal;vertical-align:bottom}
table.compact th,table.compact td{padding:5px 6px;font-size:13px}
footer{font-size:12.5px;color:var(--muted);margin-top:24px}
code{font-size:12.5px;background:#eef2f7;padding:1px 5px;border-radius:4px}
`;

const plural = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`;

function kpi(id: string, name: string, shown: string, raw: string, hint: string): string {
  return `<div class="kpi" data-kpi="${esc(id)}" data-value="${esc(raw)}"><div class="name">${esc(name)}</div><div class="value">${esc(shown)}</div><div class="hint">${esc(hint)}</div></div>`;
}

function headline(d: ReportData): string {
  const p = d.precision;
  const t = d.total;
  const c = d.outcome.counts;
  return `<div class="kpis">
${kpi('cost', 'Marketing cost', euros(t.cost, p.money), fixed(t.cost, p.money), 'spent on visits in the period')}
${kpi('revenue', 'Attributed revenue', euros(t.revenue, p.money), fixed(t.revenue, p.money), 'order value credited to those visits')}
${kpi('roas', 'ROAS', t.roas === undefined ? '–' : `${human(t.roas, 2)}×`, t.roas === undefined ? '' : fixed(t.roas, p.ratio), 'revenue per euro spent')}
${kpi('orders', 'Attributed orders', human(t.orders, 1), fixed(t.orders, p.ratio), 'orders credited to those visits')}
${kpi('cpo', 'Cost per order', euros(t.cpo, p.money), t.cpo === undefined ? '' : fixed(t.cpo, p.money), 'cost ÷ attributed orders')}
${kpi('attributed', 'Orders attributed', `${count(c.attributed)} / ${count(c.total)}`, String(c.attributed), 'orders of the period with a known journey')}
</div>`;
}

function explanations(): string {
  return `<section><h2>How to read this report</h2>
<ul class="explain">
<li><b>Attribution</b>Each order is shared out between the visits (sessions) that led to it, so every channel gets the part of the order it helped to win; the parts of one order add up to exactly one.</li>
<li><b>CPO: cost per order</b>What one attributed order cost on a channel: its cost divided by the orders credited to it. Lower is better.</li>
<li><b>ROAS: return on ad spend</b>Revenue credited to a channel for every euro spent on it: above 1 the channel earned more than it cost.</li>
<li><b>Dates</b>Cost and credit are counted on the day of the visit, not the day of the order, so a visit before the period can help an order inside it (and the other way round).</li>
</ul></section>`;
}

function channelColor(names: readonly string[]): (name: string) => string {
  const sorted = [...names].sort();
  return (name) => PALETTE[Math.max(0, sorted.indexOf(name)) % PALETTE.length]!;
}

function costRevenue(d: ReportData): string {
  const p = d.precision;
  const rows = [...d.summary].sort((a, b) => b.revenue - a.revenue || b.cost - a.cost);
  const chart = hbarChart(
    rows.map((r) => ({
      label: r.channel_name,
      bars: [
        { value: r.cost, color: COLORS.cost, text: euros(r.cost, 0), title: `${r.channel_name} cost: ${euros(r.cost, p.money)}` },
        { value: r.revenue, color: COLORS.revenue, text: euros(r.revenue, 0), title: `${r.channel_name} attributed revenue: ${euros(r.revenue, p.money)}` },
      ],
    })),
    { label: 'Cost and attributed revenue by channel', width: 940, formatAxis: (v) => euros(v, 0) },
  );
  const line = (r: ChannelSummary, cls = ''): string =>
    `<tr${cls}><td>${esc(r.channel_name)}</td><td>${esc(euros(r.cost, p.money))}</td><td>${esc(human(r.orders, 2))}</td><td>${esc(euros(r.revenue, p.money))}</td><td>${esc(euros(r.cpo, p.money))}</td><td>${esc(human(r.roas, 2))}</td></tr>`;
  return `<section><h2>Cost and revenue by channel</h2>
<p class="lead">What each channel cost in the period, and the order value the attribution credits to it. Sorted by revenue.</p>
<div class="legend"><span style="--c:${COLORS.cost}">Cost</span><span style="--c:${COLORS.revenue}">Attributed revenue</span></div>
${chart}
<div class="scroll"><table id="channel-summary"><thead><tr><th>Channel</th><th>Cost</th><th>Orders</th><th>Revenue</th><th>CPO</th><th>ROAS</th></tr></thead>
<tbody>${rows.map((r) => line(r)).join('')}${line(d.total, ' class="total"')}</tbody></table></div>
<p class="note">Orders are fractional because one order is shared between channels. A dash means there is nothing to divide by (no cost, or no order credited).</p>
</section>`;
}

function ratios(d: ReportData): string {
  const p = d.precision;
  const color = channelColor(d.summary.map((s) => s.channel_name));
  // a channel that cost next to nothing (direct, organic) has a ROAS in the thousands that flattens every other
  // bar: the chart shows channels with at least 1% of the spend, the table above has them all
  const minCost = 0.01 * d.total.cost;
  const tiny = d.summary.filter((r) => r.roas !== undefined && r.cost < minCost).map((r) => r.channel_name);
  const withRoas = d.summary.filter((r) => r.roas !== undefined && r.cost >= minCost).sort((a, b) => b.roas! - a.roas!);
  const withCpo = d.summary.filter((r) => r.cpo !== undefined).sort((a, b) => a.cpo! - b.cpo!);
  const noRoas = d.summary.filter((r) => r.roas === undefined).map((r) => r.channel_name);
  const noCpo = d.summary.filter((r) => r.cpo === undefined).map((r) => r.channel_name);
  const roas = hbarChart(
    withRoas.map((r) => ({ label: r.channel_name, bars: [{ value: r.roas!, color: color(r.channel_name), text: `${human(r.roas, 2)}×` }] })),
    { label: 'ROAS by channel', reference: { value: 1, text: 'break-even' }, width: 520, formatAxis: (v) => `${human(v, v < 10 ? 1 : 0)}×` },
  );
  const cpo = hbarChart(
    withCpo.map((r) => ({ label: r.channel_name, bars: [{ value: r.cpo!, color: color(r.channel_name), text: euros(r.cpo, p.money) }] })),
    { label: 'Cost per order by channel', width: 520, formatAxis: (v) => euros(v, 0) },
  );
  const none = (names: string[], what: string): string =>
    names.length === 0 ? '' : `<p class="note">No ${what} for ${names.map(esc).join(', ')}.</p>`;
  return `<section><h2>Return on ad spend and cost per order</h2>
<p class="lead">ROAS: revenue per euro spent, higher is better (the dashed line is break-even). CPO: cost of one attributed order, lower is better.</p>
<div class="two"><div><h3>ROAS by channel</h3>${roas}${none(noRoas, 'ROAS (no cost)')}${
    tiny.length === 0 ? '' : `<p class="note">Not in the chart because they cost less than 1% of the spend (their ROAS is in the table above): ${tiny.map(esc).join(', ')}.</p>`
  }</div><div><h3>Cost per order by channel</h3>${cpo}${none(noCpo, 'CPO (no attributed order)')}</div></div>
</section>`;
}

function trend(d: ReportData): string {
  const p = d.precision;
  const chart = lineChart(
    d.daily.map((x) => x.date.slice(5)),
    [
      { name: 'Cost', color: COLORS.cost, values: d.daily.map((x) => x.cost), texts: d.daily.map((x) => euros(x.cost, p.money)) },
      { name: 'Attributed revenue', color: COLORS.revenue, values: d.daily.map((x) => x.revenue), texts: d.daily.map((x) => euros(x.revenue, p.money)) },
    ],
    { label: 'Daily cost and attributed revenue', formatAxis: (v) => euros(v, 0) },
  );
  return `<section><h2>Day by day</h2><p class="lead">Cost and attributed revenue of all channels together, per day of the visit.</p>${chart}</section>`;
}

function comparison(d: ReportData): string {
  const c = d.comparison;
  if (c === undefined) {
    return `<section id="model-comparison"><h2>How the picture changes with the attribution model</h2>
<p class="unfinished">${esc(d.comparisonNote ?? 'The model comparison was not computed in this run.')}</p></section>`;
  }
  const p = d.precision;
  const totals = new Map<ModelName, number>(c.models.map((m) => [m, c.channels.reduce((s, ch) => s + (ch.byModel.get(m)?.orders ?? 0), 0)]));
  const head = `<tr><th>Channel</th>${c.models.map((m) => `<th title="${esc(MODEL_EXPLANATIONS[m])}">${esc(MODEL_LABELS[m])}</th>`).join('')}</tr>`;
  const shade = (share: number): string => `background:rgba(0,114,178,${Math.min(0.45, share * 0.9).toFixed(3)})`;
  const orders = c.channels
    .map((ch) => {
      const cells = c.models.map((m) => {
        const o = ch.byModel.get(m)?.orders ?? 0;
        const tot = totals.get(m) ?? 0;
        const share = tot > 0 ? o / tot : 0;
        return `<td style="${shade(share)}" title="${esc(`${(share * 100).toFixed(1)}% of orders`)}">${esc(human(o, 1))}</td>`;
      });
      return `<tr><td>${esc(ch.channel_name)}</td>${cells.join('')}</tr>`;
    })
    .join('');
  const roas = c.channels
    .map((ch) => `<tr><td>${esc(ch.channel_name)}</td>${c.models.map((m) => `<td>${esc(human(ch.byModel.get(m)?.roas, 2))}</td>`).join('')}</tr>`)
    .join('');
  const skipped = c.skipped.count > 0 ? `<p class="note">${esc(plural(c.skipped.count, 'journey'))} could not be credited by the models: ${esc(c.skipped.examples.join('; '))}</p>` : '';
  return `<section id="model-comparison"><h2>How the picture changes with the attribution model</h2>
<p class="lead">The same ${esc(plural(c.journeys, 'journey'))} of the period's orders, credited by ${c.models.length} different rules. Where the models agree, the channel's role is clear; where they differ, the answer depends on how much weight you give to first contact versus the final push. Orders attributed per channel (darker = bigger share):</p>
<div class="scroll"><table id="model-orders" class="compact"><thead>${head}</thead><tbody>${orders}</tbody></table></div>
<h3>ROAS per channel under each model</h3>
<p class="note">Cost of the period divided into the revenue each model credits (for orders placed in the period).</p>
<div class="scroll"><table id="model-roas" class="compact"><thead>${head}</thead><tbody>${roas}</tbody></table></div>
<ul class="explain" style="margin-top:14px">${c.models.map((m) => `<li><b>${esc(MODEL_LABELS[m])}</b>${esc(MODEL_EXPLANATIONS[m])}</li>`).join('')}</ul>
${skipped}
<p class="note">Money in euros with ${p.money} decimals in the CSV; here rounded for reading.</p>
</section>`;
}

function journeys(d: ReportData): string {
  const i = d.insights;
  if (i === undefined || i.journeys === 0) {
    return `<section id="journeys"><h2>Customer journeys</h2><p class="lead">No journey with visits was built for this period.</p></section>`;
  }
  const cap = 10;
  const buckets = Array.from({ length: cap }, (_, k) => ({ label: k === cap - 1 ? `${cap}+` : String(k + 1), value: 0 }));
  for (const h of i.sessions_per_journey.histogram) buckets[Math.min(Math.max(h.sessions, 1), cap) - 1]!.value += h.journeys;
  const lengths = vbarChart(
    buckets.map((b) => ({ label: b.label, value: b.value, text: count(b.value) })),
    { label: 'Visits per journey', xTitle: 'visits before the order', color: PALETTE[0]! },
  );
  const pc = i.time_to_conversion_seconds.percentiles;
  const ttcRows: [string, number | null | undefined][] = [
    ['a quarter of buyers', pc['p25']],
    ['half of buyers', pc['p50']],
    ['three quarters', pc['p75']],
    ['90% of buyers', pc['p90']],
  ];
  const known = ttcRows.filter((r): r is [string, number] => typeof r[1] === 'number');
  // hours when most buyers decide within two days, else days
  const unit = maxOf(known.map((r) => r[1]), 0) < 2 * 86400 ? { secs: 3600, name: 'h' } : { secs: 86400, name: 'd' };
  const times = hbarChart(
    known.map(([label, secs]) => ({ label, bars: [{ value: secs / unit.secs, color: PALETTE[2]!, text: `within ${formatSeconds(secs)}` }] })),
    { label: 'Time from first visit to order', width: 520, formatAxis: (v) => `${human(v, v < 10 && v % 1 !== 0 ? 1 : 0)} ${unit.name}` },
  );
  const paths = i.top_paths
    .slice(0, 10)
    .map(
      (t) =>
        `<tr><td style="white-space:normal">${t.channels.map((c) => `<span class="chip">${esc(c)}</span>`).join('<span class="arrow">›</span>')}</td><td>${esc(count(t.conversions))}</td><td>${esc((100 * t.share).toFixed(1))}%</td><td>${esc(euros(t.revenue, 0))}</td></tr>`,
    )
    .join('');
  const firstBy = new Map(i.first_channel.map((c) => [c.channel, c.share]));
  const lastBy = new Map(i.last_channel.map((c) => [c.channel, c.share]));
  const names = [...new Set([...firstBy.keys(), ...lastBy.keys()])].sort((a, b) => (lastBy.get(b) ?? 0) + (firstBy.get(b) ?? 0) - (lastBy.get(a) ?? 0) - (firstBy.get(a) ?? 0));
  const roles = names
    .map((n) => `<tr><td>${esc(n)}</td><td>${esc(((firstBy.get(n) ?? 0) * 100).toFixed(1))}%</td><td>${esc(((lastBy.get(n) ?? 0) * 100).toFixed(1))}%</td></tr>`)
    .join('');
  const mean = i.sessions_per_journey.mean;
  return `<section id="journeys"><h2>Customer journeys</h2>
<p class="lead">${esc(plural(i.journeys, 'order'))} of the period had at least one visit before it${mean === null ? '' : `, ${esc(human(mean, 1))} visits on average`}, along ${esc(plural(i.distinct_paths, 'different channel sequence'))}. Half of the buyers ordered within ${esc(formatSeconds(pc['p50'] ?? null))} of their first visit.</p>
<div class="two"><div><h3>Visits per journey</h3>${lengths}</div><div><h3>Time from first visit to order</h3>${times}</div></div>
<h3>Most common paths</h3>
<p class="note">Repeated visits from the same channel in a row count once.</p>
<div class="scroll"><table id="top-paths"><thead><tr><th>Channels in order of the visits</th><th>Orders</th><th>Share</th><th>Revenue</th></tr></thead><tbody>${paths}</tbody></table></div>
<h3>Which channels open and which close journeys</h3>
<div class="scroll"><table id="channel-roles"><thead><tr><th>Channel</th><th>First visit of the journey</th><th>Visit that converted</th></tr></thead><tbody>${roles}</tbody></table></div>
</section>`;
}

function quality(d: ReportData): string {
  const c = d.outcome.counts;
  const q = d.quality;
  const r = d.outcome.reconciliation;
  const p = d.precision;
  const item = (n: number, ok: string, bad: string, level: 'warn' | 'bad' = 'warn'): string =>
    n === 0 ? `<li><span class="ok">✓</span> ${ok}</li>` : `<li><span class="${level}">${esc(count(n))}</span> ${bad}</li>`;
  const quarantined = q.quarantine.reduce((s, x) => s + x.rows, 0);
  const list = [
    `<li><span class="ok">${esc(count(c.attributed))}</span> of ${esc(plural(c.total, 'order'))} in the period are attributed (${esc(euros(c.revenue.attributed, p.money))} of ${esc(euros(c.revenue.total, p.money))} revenue).</li>`,
    item(c.invalid, 'no journey was excluded by the input checks.', 'orders were excluded because their data failed a check (see the issues below).', 'bad'),
    item(c.noJourney, 'every order has at least one earlier visit.', 'orders had no visit before them (no journey), so no channel can be credited: typically direct orders or visits the tracking missed.'),
    item(c.failed, 'no journey failed at the attribution provider.', 'journeys failed at the attribution provider and are not attributed.', 'bad'),
    item(c.stale, 'every answer matches its current journey.', 'answers belong to an older version of their journey and were not used; run send-to-api again.', 'bad'),
    item(c.pending, 'every journey was sent for attribution.', 'journeys have not been sent for attribution yet; run send-to-api.', 'bad'),
    item(quarantined, 'no input row was refused at load.', `input rows were refused at load and are not in these numbers (${q.quarantine
      .slice(0, 4)
      .map((x) => `${esc(x.table)}: ${esc(x.reason)} ${esc(count(x.rows))}`)
      .join('; ')}${q.quarantine.length > 4 ? '; …' : ''}).`),
    item(q.sessionsWithoutCost, 'every visit of the period has a cost row.', 'visits of the period have no cost row (counted as cost 0).'),
    item(r.orphanCosts.rows, 'every cost row belongs to a known visit.', `cost rows (${esc(euros(r.orphanCosts.cost, p.money))}) belong to no known visit and appear on no channel.`),
  ];
  for (const f of q.failures.slice(0, 5)) list.push(`<li class="note">failure reason: ${esc(f.reason)} (${esc(count(f.count))})</li>`);
  for (const i of d.insights?.data_issues.slice(0, 8) ?? []) list.push(`<li class="note">${esc(i.severity)}: ${esc(i.table)}: ${esc(i.reason)} (${esc(count(i.count))})</li>`);
  return `<section id="data-quality"><h2>Data quality</h2>
<p class="lead">What the numbers above rest on. Revenue reconciled: the credited revenue (${esc(euros(r.creditedRevenue, p.money))}) equals the revenue of the attributed orders, and the reported cost (${esc(euros(r.reportedCost, p.money))}) equals the cost of all visits in the period.</p>
<ul class="quality">${list.join('\n')}</ul></section>`;
}

export function renderReport(d: ReportData): string {
  const period = d.window.start === d.window.end ? d.window.start : `${d.window.start} to ${d.window.end}`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Marketing attribution report ${esc(period)}</title>
<style>${CSS}</style></head>
<body><main>
<header><h1>Marketing attribution report</h1>
<p>${esc(period)} · ${esc(plural(d.outcome.counts.total, 'order'))} · attribution by ${esc(d.provider)} · generated ${esc(d.generatedAt)}</p></header>
${headline(d)}
${explanations()}
${costRevenue(d)}
${ratios(d)}
${trend(d)}
${comparison(d)}
${journeys(d)}
${quality(d)}
<footer>Made by process-attribution. Files in this folder: ${d.files.map((f) => `<code>${esc(f)}</code>`).join(', ')}. Money in euros (${d.precision.money} decimals in the CSVs), orders and ratios with ${d.precision.ratio} decimals.</footer>
</main></body></html>
`;
}
