import { maxOf } from '../numbers.js';
/**
 * Small inline-SVG charts for the HTML report: no library, no network, every label escaped. Each function
 * returns one <svg> element sized by its viewBox so it scales with the page.
 */

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Channel colours: distinct, colour-blind friendly (Okabe-Ito, then Tableau) and stable for a channel list. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#8C6D1F', '#7F7F7F', '#4E79A7', '#59A14F', '#B07AA1', '#E15759'];

export const COLORS = { cost: '#8C96A8', revenue: '#1B9E77', line: '#D95F02', grid: '#E5E7EB', text: '#374151', muted: '#6B7280' } as const;

/** A round upper bound for an axis (1, 2, 2.5, 5 x 10^k) and its tick step. */
export function niceScale(max: number, ticks = 4): { max: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { max: step * Math.ceil(max / step - 1e-9), step };
}

const f = (n: number): string => (Math.round(n * 10) / 10).toString();

export interface Bar {
  readonly value: number;
  readonly color: string;
  /** label printed after the bar */
  readonly text: string;
  /** tooltip */
  readonly title?: string;
}

export interface BarRow {
  readonly label: string;
  readonly bars: readonly Bar[];
}

/**
 * Horizontal bars, one group per row (several bars per group for a side-by-side comparison). An optional
 * reference line (e.g. ROAS 1 = break-even) is drawn and labelled.
 */
export function hbarChart(
  rows: readonly BarRow[],
  opts: { width?: number; label: string; reference?: { value: number; text: string }; formatAxis?: (v: number) => string; narrow?: boolean },
): string {
  // narrow (phones): the channel name goes above its bars, so the bars get the whole width and the text stays
  // readable when the chart is drawn 360 px wide
  const narrow = opts.narrow === true;
  const width = opts.width ?? (narrow ? 360 : 720);
  const labelW = narrow ? 4 : 170;
  const textW = narrow ? 84 : 110;
  const labelH = narrow ? 16 : 0;
  const barH = 14;
  const gap = 3;
  const groupGap = 12;
  // room above the bars for the reference line's label
  const top = opts.reference !== undefined ? 22 : 8;
  const axisH = 22;
  const perGroup = maxOf(rows.map((r) => r.bars.length), 1);
  const groupH = labelH + perGroup * barH + (perGroup - 1) * gap;
  const height = top + rows.length * (groupH + groupGap) + axisH;
  const plotW = width - labelW - textW;
  const maxValue = maxOf(rows.flatMap((r) => r.bars.map((b) => b.value)), Math.max(0, opts.reference?.value ?? 0));
  const scale = niceScale(maxValue);
  const x = (v: number): number => labelW + (Math.max(0, v) / scale.max) * plotW;
  const parts: string[] = [];
  for (let t = 0; t <= scale.max + 1e-9; t += scale.step) {
    parts.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${top - 4}" y2="${height - axisH + 2}" stroke="${COLORS.grid}"/>`);
    parts.push(`<text x="${f(x(t))}" y="${height - 6}" text-anchor="middle" class="axis">${esc(opts.formatAxis ? opts.formatAxis(t) : String(t))}</text>`);
  }
  rows.forEach((r, i) => {
    const y0 = top + i * (groupH + groupGap);
    if (narrow) parts.push(`<text x="${labelW}" y="${f(y0 + 12)}" class="label">${esc(r.label)}</text>`);
    else parts.push(`<text x="${labelW - 8}" y="${f(y0 + groupH / 2 + 4)}" text-anchor="end" class="label">${esc(r.label)}</text>`);
    r.bars.forEach((b, k) => {
      const y = y0 + labelH + k * (barH + gap);
      const w = Math.max(x(b.value) - labelW, b.value > 0 ? 1 : 0);
      parts.push(
        `<rect x="${labelW}" y="${y}" width="${f(w)}" height="${barH}" rx="2" fill="${esc(b.color)}"><title>${esc(b.title ?? `${r.label}: ${b.text}`)}</title></rect>`,
      );
      parts.push(`<text x="${f(labelW + w + 5)}" y="${y + barH - 3}" class="value">${esc(b.text)}</text>`);
    });
  });
  if (opts.reference !== undefined) {
    const rx = x(opts.reference.value);
    parts.push(`<line x1="${f(rx)}" x2="${f(rx)}" y1="${top - 6}" y2="${height - axisH + 2}" stroke="${COLORS.line}" stroke-dasharray="4 3" stroke-width="1.5"/>`);
    parts.push(`<text x="${f(rx)}" y="${top - 10}" text-anchor="middle" class="ref">${esc(opts.reference.text)}</text>`);
  }
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(opts.label)}" class="chart">${parts.join('')}</svg>`;
}

/**
 * The same chart twice, one laid out for a wide page and one for a phone; the page's CSS shows one of them
 * (a 940-unit chart squeezed to 360 px would shrink its text to 5 px).
 */
export function responsive(wide: string, narrow: string): string {
  return `<div class="wide-only">${wide}</div><div class="narrow-only">${narrow}</div>`;
}

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly values: readonly number[];
  /** tooltip text per point */
  readonly texts: readonly string[];
}

/** Lines over evenly spaced x labels (dates), with a legend and a zero-based y axis. */
export function lineChart(
  xLabels: readonly string[],
  series: readonly Series[],
  opts: { width?: number; height?: number; label: string; formatAxis: (v: number) => string; narrow?: boolean },
): string {
  const narrow = opts.narrow === true;
  const width = opts.width ?? (narrow ? 380 : 900);
  const height = opts.height ?? (narrow ? 240 : 280);
  const m = { l: narrow ? 58 : 70, r: narrow ? 12 : 20, t: 34, b: 44 };
  const legendStep = narrow ? 130 : 190;
  const plotW = width - m.l - m.r;
  const plotH = height - m.t - m.b;
  const maxValue = maxOf(series.flatMap((s) => s.values), 0);
  const scale = niceScale(maxValue);
  const n = xLabels.length;
  const x = (i: number): number => m.l + (n <= 1 ? plotW / 2 : (i / (n - 1)) * plotW);
  const y = (v: number): number => m.t + plotH - (Math.max(0, v) / scale.max) * plotH;
  const parts: string[] = [];
  for (let t = 0; t <= scale.max + 1e-9; t += scale.step) {
    parts.push(`<line x1="${m.l}" x2="${width - m.r}" y1="${f(y(t))}" y2="${f(y(t))}" stroke="${COLORS.grid}"/>`);
    parts.push(`<text x="${m.l - 8}" y="${f(y(t) + 4)}" text-anchor="end" class="axis">${esc(opts.formatAxis(t))}</text>`);
  }
  const every = Math.max(1, Math.ceil(n / (narrow ? 5 : 10)));
  xLabels.forEach((lab, i) => {
    if (i % every !== 0 && i !== n - 1) return;
    parts.push(`<text x="${f(x(i))}" y="${height - m.b + 18}" text-anchor="middle" class="axis">${esc(lab)}</text>`);
  });
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${f(x(i))},${f(y(v))}`).join(' ');
    if (n > 1) parts.push(`<polyline points="${pts}" fill="none" stroke="${esc(s.color)}" stroke-width="2.5" stroke-linejoin="round"/>`);
    s.values.forEach((v, i) => {
      parts.push(`<circle cx="${f(x(i))}" cy="${f(y(v))}" r="3.5" fill="${esc(s.color)}"><title>${esc(`${xLabels[i] ?? ''} ${s.name}: ${s.texts[i] ?? ''}`)}</title></circle>`);
    });
    const lx = (narrow ? 8 : m.l) + k * legendStep;
    parts.push(`<rect x="${lx}" y="8" width="14" height="14" rx="2" fill="${esc(s.color)}"/>`);
    parts.push(`<text x="${lx + 20}" y="20" class="label">${esc(s.name)}</text>`);
  });
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(opts.label)}" class="chart">${parts.join('')}</svg>`;
}

/** Vertical bars over category labels (distributions). */
export function vbarChart(items: readonly { label: string; value: number; text: string }[], opts: { width?: number; height?: number; label: string; color?: string; xTitle?: string }): string {
  // 360 units wide: on a phone's 350 px the text keeps its size, on a wide page it grows a little
  const width = opts.width ?? 360;
  const height = opts.height ?? 200;
  const m = { l: 16, r: 16, t: 22, b: opts.xTitle !== undefined ? 48 : 32 };
  const plotW = width - m.l - m.r;
  const plotH = height - m.t - m.b;
  const maxValue = maxOf(items.map((i) => i.value), 1);
  const slot = plotW / Math.max(1, items.length);
  const barW = Math.min(48, slot * 0.7);
  const parts: string[] = [`<line x1="${m.l}" x2="${width - m.r}" y1="${m.t + plotH}" y2="${m.t + plotH}" stroke="${COLORS.grid}"/>`];
  items.forEach((it, i) => {
    const h = (it.value / maxValue) * plotH;
    const cx = m.l + slot * i + slot / 2;
    parts.push(`<rect x="${f(cx - barW / 2)}" y="${f(m.t + plotH - h)}" width="${f(barW)}" height="${f(h)}" rx="2" fill="${esc(opts.color ?? PALETTE[0]!)}"><title>${esc(`${it.label}: ${it.text}`)}</title></rect>`);
    parts.push(`<text x="${f(cx)}" y="${f(m.t + plotH - h - 5)}" text-anchor="middle" class="value">${esc(it.text)}</text>`);
    parts.push(`<text x="${f(cx)}" y="${m.t + plotH + 15}" text-anchor="middle" class="axis">${esc(it.label)}</text>`);
  });
  if (opts.xTitle !== undefined) parts.push(`<text x="${width / 2}" y="${height - 8}" text-anchor="middle" class="axis">${esc(opts.xTitle)}</text>`);
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(opts.label)}" class="chart">${parts.join('')}</svg>`;
}
