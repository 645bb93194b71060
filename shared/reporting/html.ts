import type { ModelName } from '../attribution/types.js';
import type { Window } from '../window.js';
import type { WindowOutcome } from './attribute.js';
import { belowTarget, profitOf, type ChannelSummary, type Targets } from './channels.js';
import { count, euros, fixed, human, type Precision } from '../format.js';
import type { JourneyInsights } from '../journeys/insights.js';
import { formatSeconds } from '../journeys/insights-table.js';
import { MODEL_EXPLANATIONS, MODEL_LABELS, type ModelComparison } from './models.js';
import type { DataQuality } from './quality.js';
import { COLORS, PALETTE, esc, hbarChart, lineChart, responsive, vbarChart } from './svg.js';
import { maxOf } from '../numbers.js';
import { trustSection } from './trust.js';

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
  /** break-even, target ROAS and margin (config output.target_roas, output.margin) */
  readonly targets: Targets;
  /** the window of the same length just before, when the database holds it */
  readonly previous?: { readonly window: Window; readonly summary: readonly ChannelSummary[]; readonly total: ChannelSummary };
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
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,230px),1fr));gap:12px;margin:20px 0 6px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.kpi .name{font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.kpi .value{font-size:26px;font-weight:650;font-variant-numeric:tabular-nums;margin-top:2px}
.kpi .hint{font-size:12.5px;color:var(--muted)}
.explain{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,280px),1fr));gap:10px 24px;margin:0;padding:0;list-style:none}
.explain b{display:block}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:14px}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:12.5px;text-transform:uppercase;letter-spacing:.03em}
th:first-child,td:first-child{text-align:left}
tr.total td{font-weight:650;border-top:2px solid var(--ink)}
.scroll{overflow-x:auto}
.scroll th:first-child,.scroll td:first-child{position:sticky;left:0;background:var(--card);z-index:1}
.scroll-hint{display:none;font-size:12.5px;color:var(--muted);margin:4px 0}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:18px}
.two>div{min-width:0}
.narrow-only{display:none}
tr.under td,.scroll tr.under td:first-child{background:#fef2f2}
.flag{display:inline-block;margin-left:6px;padding:0 6px;border-radius:999px;background:var(--bad);color:#fff;font-size:11px;font-weight:600;vertical-align:1px}
.delta{font-size:12.5px;font-weight:600}
.up{color:var(--good)}.down{color:var(--bad)}
header p,footer,.note,.lead{overflow-wrap:anywhere}
@media (max-width:640px){
main{padding:16px 10px 40px}
section{padding:14px 12px}
header h1{font-size:23px}
.wide-only{display:none}
.narrow-only{display:block}
.scroll-hint{display:block}
}
.chart{width:100%;height:auto;display:block}
.chart text{font-family:inherit}
.chart .label{font-size:12.5px;fill:${COLORS.text}}
.chart .value{font-size:11.5px;fill:${COLORS.text}}
.chart .axis{font-size:11px;fill:${COLORS.muted}}
.chart .ref{font-size:11px;fill:${COLORS.line}}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:13px;color:var(--muted);margin:0 0 8px}
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

/** "+12.3% vs 2023-08-19..08-28", or nothing without a previous period (or nothing to compare with). */
function delta(now: number | undefined, before: number | undefined, d: ReportData, higherIsBetter = true): string {
  if (d.previous === undefined || now === undefined || before === undefined || before === 0) return '';
  const pct = (100 * (now - before)) / Math.abs(before);
  const good = higherIsBetter ? pct >= 0 : pct <= 0;
  return `<div class="delta ${good ? 'up' : 'down'}" data-delta="${esc(fixed(pct, 1))}">${pct >= 0 ? '+' : ''}${esc(human(pct, 1))}% vs previous ${esc(plural(datesCount(d), 'day'))}</div>`;
}

const datesCount = (d: ReportData): number => Math.round((Date.parse(d.window.end) - Date.parse(d.window.start)) / 86_400_000) + 1;

function kpi(id: string, name: string, shown: string, raw: string, hint: string, change = ''): string {
  return `<div class="kpi" data-kpi="${esc(id)}" data-value="${esc(raw)}"><div class="name">${esc(name)}</div><div class="value">${esc(shown)}</div>${change}<div class="hint">${esc(hint)}</div></div>`;
}

function headline(d: ReportData): string {
  const p = d.precision;
  const t = d.total;
  const c = d.outcome.counts;
  const prev = d.previous?.total;
  const profit = profitOf(t, d.targets);
  const profitName = d.targets.margin === undefined ? 'Revenue − cost' : 'Profit';
  const profitHint = d.targets.margin === undefined ? 'attributed revenue minus marketing cost' : `revenue × margin ${human(d.targets.margin, 2)} minus marketing cost`;
  return `<div class="kpis">
${kpi('cost', 'Marketing cost', euros(t.cost, p.money), fixed(t.cost, p.money), 'spent on visits in the period', delta(t.cost, prev?.cost, d, false))}
${kpi('revenue', 'Attributed revenue', euros(t.revenue, p.money), fixed(t.revenue, p.money), 'order value credited to those visits', delta(t.revenue, prev?.revenue, d))}
${kpi('roas', 'ROAS', t.roas === undefined ? '–' : `${human(t.roas, 2)}×`, t.roas === undefined ? '' : fixed(t.roas, p.ratio), `revenue per euro spent; ${d.targets.targetIsBreakEven ? 'break-even' : 'target'} ${human(d.targets.target, 2)}×`, delta(t.roas, prev?.roas, d))}
${kpi('profit', profitName, euros(profit, p.money), fixed(profit, p.money), profitHint, delta(profit, prev === undefined ? undefined : profitOf(prev, d.targets), d))}
${kpi('orders', 'Attributed orders', human(t.orders, 1), fixed(t.orders, p.ratio), `${count(c.attributed)} of the period's ${plural(c.total, 'order')} have a known journey`, delta(t.orders, prev?.orders, d))}
${kpi('cpo', 'Cost per order', euros(t.cpo, p.money), t.cpo === undefined ? '' : fixed(t.cpo, p.money), 'cost ÷ attributed orders', delta(t.cpo, prev?.cpo, d, false))}
</div>${d.previous === undefined ? '' : `<p class="note" id="previous-period">Changes compare with the ${esc(plural(datesCount(d), 'day'))} before: ${esc(d.previous.window.start)} to ${esc(d.previous.window.end)}.</p>`}`;
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

const SCROLL_HINT = '<p class="scroll-hint">Swipe the table sideways for more columns; the channel stays in view.</p>';

function costRevenue(d: ReportData): string {
  const p = d.precision;
  const tg = d.targets;
  const byRevenue = [...d.summary].sort((a, b) => b.revenue - a.revenue || b.cost - a.cost);
  const bars = (r: ChannelSummary) => [
    { value: r.cost, color: COLORS.cost, text: euros(r.cost, 0), title: `${r.channel_name} cost: ${euros(r.cost, p.money)}` },
    { value: r.revenue, color: COLORS.revenue, text: euros(r.revenue, 0), title: `${r.channel_name} attributed revenue: ${euros(r.revenue, p.money)}` },
  ];
  const chartRows = byRevenue.map((r) => ({ label: r.channel_name, bars: bars(r) }));
  const chart = responsive(
    hbarChart(chartRows, { label: 'Cost and attributed revenue by channel', width: 940, formatAxis: (v) => euros(v, 0) }),
    hbarChart(chartRows, { label: 'Cost and attributed revenue by channel', narrow: true, formatAxis: (v) => euros(v, 0) }),
  );
  // the table answers "where do we lose money": sorted by what a channel leaves after its cost
  const rows = [...d.summary].sort((a, b) => profitOf(b, tg) - profitOf(a, tg) || (a.channel_name < b.channel_name ? -1 : 1));
  const prev = new Map((d.previous?.summary ?? []).map((s) => [s.channel_name, s]));
  const line = (r: ChannelSummary, total = false): string => {
    const under = !total && belowTarget(r, tg);
    const profit = profitOf(r, tg);
    const before = prev.get(r.channel_name);
    const prevCell = d.previous === undefined ? '' : `<td>${esc(human(before?.roas, 2))}</td>`;
    return (
      `<tr${total ? ' class="total"' : under ? ' class="under"' : ''} data-channel="${esc(r.channel_name)}" data-below-target="${under ? 1 : 0}" data-profit="${esc(fixed(profit, p.money))}">` +
      `<td>${esc(r.channel_name)}${under ? '<span class="flag">below target</span>' : ''}</td><td>${esc(euros(r.cost, p.money))}</td><td>${esc(human(r.orders, 2))}</td>` +
      `<td>${esc(euros(r.revenue, p.money))}</td><td>${esc(euros(r.cpo, p.money))}</td><td>${esc(human(r.roas, 2))}</td>${prevCell}` +
      `<td class="${profit < 0 ? 'bad' : ''}">${esc(euros(profit, p.money))}</td></tr>`
    );
  };
  const marked = rows.filter((r) => belowTarget(r, tg));
  const markedCost = marked.reduce((a, r) => a + r.cost, 0);
  const rule = tg.targetIsBreakEven
    ? `break-even ROAS ${human(tg.breakEven, 2)}×${tg.margin === undefined ? ' (no margin configured: revenue must cover the cost)' : ` (1 ÷ margin ${human(tg.margin, 2)})`}`
    : `the target ROAS of ${human(tg.target, 2)}× (break-even ${human(tg.breakEven, 2)}×)`;
  const profitHead = tg.margin === undefined ? 'Revenue − cost' : 'Profit';
  return `<section id="channels"><h2>Cost and revenue by channel</h2>
<p class="lead">What each channel cost in the period, and the order value the attribution credits to it.</p>
<div class="legend"><span style="--c:${COLORS.cost}">Cost</span><span style="--c:${COLORS.revenue}">Attributed revenue</span></div>
${chart}
<p id="below-target" class="${marked.length > 0 ? 'unfinished' : 'note'}">${
    marked.length === 0
      ? `Every channel that cost money returns at least ${esc(rule)}.`
      : `${esc(plural(marked.length, 'channel'))} return less than ${esc(rule)}: ${marked.map((r) => `<b>${esc(r.channel_name)}</b>`).join(', ')}, ${esc(euros(markedCost, 0))} or ${esc(human(d.total.cost > 0 ? (100 * markedCost) / d.total.cost : 0, 0))}% of the spend.`
  }</p>
${SCROLL_HINT}<div class="scroll"><table id="channel-summary"><thead><tr><th>Channel</th><th>Cost</th><th>Orders</th><th>Revenue</th><th>CPO</th><th>ROAS</th>${d.previous === undefined ? '' : '<th>ROAS before</th>'}<th>${profitHead}</th></tr></thead>
<tbody>${rows.map((r) => line(r)).join('')}${line(d.total, true)}</tbody></table></div>
<p class="note">Sorted by ${esc(profitHead.toLowerCase())}, biggest first${tg.margin === undefined ? '' : `; profit is revenue × ${esc(human(tg.margin, 2))} − cost`}. Orders are fractional because one order is shared between channels. A dash means there is nothing to divide by (no cost, or no order credited). Set <code>output.target_roas</code> or <code>output.margin</code> in the configuration to move the line.</p>
</section>`;
}

function ratios(d: ReportData): string {
  const p = d.precision;
  const tg = d.targets;
  const color = channelColor(d.summary.map((s) => s.channel_name));
  // a channel that cost next to nothing (direct, organic) has a ROAS in the thousands that flattens every other
  // bar: the chart shows channels with at least 1% of the spend, the table above has them all
  const minCost = 0.01 * d.total.cost;
  const tiny = d.summary.filter((r) => r.roas !== undefined && r.cost < minCost).map((r) => r.channel_name);
  const withRoas = d.summary.filter((r) => r.roas !== undefined && r.cost >= minCost).sort((a, b) => b.roas! - a.roas!);
  const withCpo = d.summary.filter((r) => r.cpo !== undefined).sort((a, b) => a.cpo! - b.cpo!);
  const noRoas = d.summary.filter((r) => r.roas === undefined).map((r) => r.channel_name);
  const noCpo = d.summary.filter((r) => r.cpo === undefined).map((r) => r.channel_name);
  const roasRows = withRoas.map((r) => ({
    label: r.channel_name,
    // under the target the bar is red, whatever the channel's colour elsewhere
    bars: [{ value: r.roas!, color: belowTarget(r, tg) ? '#B91C1C' : color(r.channel_name), text: `${human(r.roas, 2)}×${belowTarget(r, tg) ? ' below' : ''}` }],
  }));
  const reference = { value: tg.target, text: `${tg.targetIsBreakEven ? 'break-even' : 'target'} ${human(tg.target, 2)}×` };
  const roasOpts = { label: 'ROAS by channel', reference, formatAxis: (v: number) => `${human(v, v < 10 ? 1 : 0)}×` };
  const roas = responsive(hbarChart(roasRows, { ...roasOpts, width: 520 }), hbarChart(roasRows, { ...roasOpts, narrow: true }));
  const cpoRows = withCpo.map((r) => ({ label: r.channel_name, bars: [{ value: r.cpo!, color: color(r.channel_name), text: euros(r.cpo, p.money) }] }));
  const cpoOpts = { label: 'Cost per order by channel', formatAxis: (v: number) => euros(v, 0) };
  const cpo = responsive(hbarChart(cpoRows, { ...cpoOpts, width: 520 }), hbarChart(cpoRows, { ...cpoOpts, narrow: true }));
  const none = (names: string[], what: string): string =>
    names.length === 0 ? '' : `<p class="note">No ${what} for ${names.map(esc).join(', ')}.</p>`;
  return `<section><h2>Return on ad spend and cost per order</h2>
<p class="lead">ROAS: revenue per euro spent, higher is better (the dashed line is the ${tg.targetIsBreakEven ? 'break-even' : 'target'}; red bars are below it). CPO: cost of one attributed order, lower is better.</p>
<div class="two"><div><h3>ROAS by channel</h3>${roas}${none(noRoas, 'ROAS (no cost)')}${
    tiny.length === 0 ? '' : `<p class="note">Not in the chart because they cost less than 1% of the spend (their ROAS is in the table above): ${tiny.map(esc).join(', ')}.</p>`
  }</div><div><h3>Cost per order by channel</h3>${cpo}${none(noCpo, 'CPO (no attributed order)')}</div></div>
</section>`;
}

function trend(d: ReportData): string {
  const p = d.precision;
  const labels = d.daily.map((x) => x.date.slice(5));
  const series = [
    { name: 'Cost', color: COLORS.cost, values: d.daily.map((x) => x.cost), texts: d.daily.map((x) => euros(x.cost, p.money)) },
    { name: 'Attributed revenue', color: COLORS.revenue, values: d.daily.map((x) => x.revenue), texts: d.daily.map((x) => euros(x.revenue, p.money)) },
  ];
  const opts = { label: 'Daily cost and attributed revenue', formatAxis: (v: number) => euros(v, 0) };
  const chart = responsive(lineChart(labels, series, opts), lineChart(labels, series, { ...opts, narrow: true }));
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
  const base: ModelName = c.models.includes('ihc') ? 'ihc' : c.models[0]!;
  const others = c.models.filter((m) => m !== base);
  const change = c.channels
    .map((ch) => {
      const b = ch.byModel.get(base)?.orders ?? 0;
      const cells = others.map((m) => {
        const o = ch.byModel.get(m)?.orders ?? 0;
        if (b === 0) return `<td class="note">${o === 0 ? '–' : 'new'}</td>`;
        const pct = (100 * (o - b)) / b;
        const cls = Math.abs(pct) < 0.05 ? '' : pct > 0 ? 'up' : 'down';
        return `<td class="${cls}" data-model="${esc(m)}" data-change="${esc(fixed(pct, 1))}">${pct > 0 ? '+' : ''}${esc(human(pct, 1))}%</td>`;
      });
      return `<tr data-channel="${esc(ch.channel_name)}"><td>${esc(ch.channel_name)}</td><td>${esc(human(b, 1))}</td>${cells.join('')}</tr>`;
    })
    .join('');
  const changeTable =
    others.length === 0
      ? ''
      : `<h3>Change in credited orders against ${esc(MODEL_LABELS[base])}</h3>
<p class="note">As in GA4's model comparison: each channel's orders under the base model, and how much more (+) or less (−) another model would credit it, in percent.</p>
${SCROLL_HINT}<div class="scroll"><table id="model-change" class="compact"><thead><tr><th>Channel</th><th title="${esc(MODEL_EXPLANATIONS[base])}">${esc(MODEL_LABELS[base])} orders</th>${others.map((m) => `<th title="${esc(MODEL_EXPLANATIONS[m])}">${esc(MODEL_LABELS[m])}</th>`).join('')}</tr></thead><tbody>${change}</tbody></table></div>`;
  const skipped = c.skipped.count > 0 ? `<p class="note">${esc(plural(c.skipped.count, 'journey'))} could not be credited by the models: ${esc(c.skipped.examples.join('; '))}</p>` : '';
  return `<section id="model-comparison"><h2>How the picture changes with the attribution model</h2>
<p class="lead">The same ${esc(plural(c.journeys, 'journey'))} of the period's orders, credited by ${c.models.length} different rules. Where the models agree, the channel's role is clear; where they differ, the answer depends on how much weight you give to first contact versus the final push. The ${esc(MODEL_LABELS[base])} column is the attribution of this report, the same numbers as the channel table.</p>
${changeTable}
<h3>Orders attributed per channel under each model</h3>
${SCROLL_HINT}<div class="scroll"><table id="model-orders" class="compact"><thead>${head}</thead><tbody>${orders}</tbody></table></div>
<h3>ROAS per channel under each model</h3>
<p class="note">Cost of the period divided into the revenue each model credits (for orders placed in the period). Darker cells above: a bigger share of the orders.</p>
${SCROLL_HINT}<div class="scroll"><table id="model-roas" class="compact"><thead>${head}</thead><tbody>${roas}</tbody></table></div>
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
  const timeRows = known.map(([label, secs]) => ({ label, bars: [{ value: secs / unit.secs, color: PALETTE[2]!, text: `within ${formatSeconds(secs)}` }] }));
  const timeOpts = { label: 'Time from first visit to order', formatAxis: (v: number) => `${human(v, v < 10 && v % 1 !== 0 ? 1 : 0)} ${unit.name}` };
  const times = responsive(hbarChart(timeRows, { ...timeOpts, width: 520 }), hbarChart(timeRows, { ...timeOpts, narrow: true }));
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
${SCROLL_HINT}<div class="scroll"><table id="top-paths"><thead><tr><th>Channels in order of the visits</th><th>Orders</th><th>Share</th><th>Revenue</th></tr></thead><tbody>${paths}</tbody></table></div>
<h3>Which channels open and which close journeys</h3>
${SCROLL_HINT}<div class="scroll"><table id="channel-roles"><thead><tr><th>Channel</th><th>First visit of the journey</th><th>Visit that converted</th></tr></thead><tbody>${roles}</tbody></table></div>
</section>`;
}

/** What the checks' codes (quarantine and data_issues reasons) mean, in a reader's words; unknown codes as they are. */
const REASON_WORDS: Readonly<Record<string, string>> = {
  user_without_sessions: 'orders from customers with no recorded visit at all',
  session_without_cost: 'visits without a cost row (counted as cost 0)',
  cost_without_session: 'cost rows for visits that are not in the data',
  duplicate_conv_id: 'orders listed twice',
  duplicate_session_id: 'visits listed twice',
  duplicate_cost_row: 'visits with two cost rows',
  conv_id_is_session_id: 'orders whose id is also a visit id',
  malformed_conv_date: 'orders with an unreadable date',
  malformed_conv_time: 'orders with an unreadable time',
  malformed_event_date: 'visits with an unreadable date',
  malformed_event_time: 'visits with an unreadable time',
  empty_id: 'rows without an id',
  missing_field: 'rows with a required field empty',
  bad_date: 'rows with an unreadable date',
  bad_time: 'rows with an unreadable time',
  bad_flag: 'rows with an engagement flag other than 0 or 1',
  bad_number: 'rows with an unreadable number',
  negative_value: 'rows with a negative amount',
  duplicate_key: 'rows repeating an id already in the file',
  wrong_field_count: 'rows with the wrong number of fields',
};
const reasonWords = (code: string): string => REASON_WORDS[code] ?? code.replace(/_/g, ' ');
const TABLE_WORDS: Readonly<Record<string, string>> = { session_sources: 'visits', conversions: 'orders', session_costs: 'costs' };
const tableWords = (table: string): string => TABLE_WORDS[table] ?? table;

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
      .map((x) => `${esc(tableWords(x.table))}: ${esc(reasonWords(x.reason))} ${esc(count(x.rows))}`)
      .join('; ')}${q.quarantine.length > 4 ? '; …' : ''}).`),
    item(q.sessionsWithoutCost, 'every visit of the period has a cost row.', 'visits of the period have no cost row (counted as cost 0).'),
    item(r.orphanCosts.rows, 'every cost row belongs to a known visit.', `cost rows (${esc(euros(r.orphanCosts.cost, p.money))}) belong to no known visit and appear on no channel.`),
  ];
  for (const f of q.failures.slice(0, 5)) list.push(`<li class="note">why the provider refused journeys: ${esc(f.reason)} (${esc(count(f.count))})</li>`);
  for (const i of d.insights?.data_issues.slice(0, 8) ?? []) {
    list.push(`<li class="note" data-reason="${esc(i.reason)}">${esc(count(i.count))} ${esc(reasonWords(i.reason))} (${esc(tableWords(i.table))}${i.severity === 'error' ? ', excluded' : ''})</li>`);
  }
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
${trustSection(d.comparison)}
${journeys(d)}
${quality(d)}
<footer>Made by process-attribution. Files in this folder: ${d.files.map((f) => `<code>${esc(f)}</code>`).join(', ')}. Money in euros (${d.precision.money} decimals in the CSVs), orders and ratios with ${d.precision.ratio} decimals.</footer>
</main></body></html>
`;
}
