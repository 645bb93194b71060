import * as fs from 'node:fs';
import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { chromium } from 'playwright-core';
import { ALL_MODELS, processAttribution } from '../shared/reporting/process.js';
import { seedConversions, seedJourneys, seedSessions, type SeedJourney, type SeedSession } from './helpers/reporting-seed.js';
import { addDays } from '../shared/window.js';
import { freshDb, ROOT, testCaps } from './helpers/env.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');

/** Deterministic pseudo-random numbers (mulberry32), so the screenshot is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A small shop: six channels with their own cost per visit, ten days, journeys of one to five visits. */
function shop(start: string, days: number, prefix = '', seed = 7) {
  const rand = rng(seed);
  const channels: [string, number][] = [
    ['Paid Search', 1.2],
    ['Social Ads', 0.8],
    ['Display', 14],
    ['Email', 0.02],
    ['Direct', 0],
    ['Affiliate', 25],
  ];
  const sessions: SeedSession[] = [];
  const conversions: { id: string; user: string; date: string; time: string; revenue: number }[] = [];
  const journeys: SeedJourney[] = [];
  for (let u = 0; u < 300; u++) {
    const n = 1 + Math.floor(rand() * rand() * 5);
    const first = Math.floor(rand() * days);
    const ids: string[] = [];
    let day = first;
    for (let k = 0; k < n; k++) {
      const [channel, cpc] = channels[Math.floor(rand() * channels.length)]!;
      const id = `${prefix}u${u}-${k}`;
      ids.push(id);
      sessions.push({
        id,
        user: `${prefix}u${u}`,
        date: addDays(start, Math.min(day, days - 1)),
        time: `${String(8 + k).padStart(2, '0')}:15:00`,
        channel,
        cost: Math.round(cpc * (0.5 + rand()) * 100) / 100,
        holder: rand() < 0.5 ? 1 : 0,
        closer: rand() < 0.4 ? 1 : 0,
      });
      if (rand() < 0.3) day++;
    }
    if (rand() < 0.45) {
      const convDay = Math.min(day, days - 1);
      conversions.push({ id: `${prefix}c${u}`, user: `${prefix}u${u}`, date: addDays(start, convDay), time: '22:00:00', revenue: Math.round((20 + rand() * 180) * 100) / 100 });
      const w = ids.map((_, i) => 1 + i);
      const total = w.reduce((a, b) => a + b, 0);
      journeys.push({ conv: `${prefix}c${u}`, sessions: ids, answers: Object.fromEntries(ids.map((id, i) => [id, w[i]! / total])) });
    }
  }
  // a few orders without any earlier visit
  for (let i = 0; i < 6; i++) {
    conversions.push({ id: `${prefix}walk-in-${i}`, user: `${prefix}w${i}`, date: addDays(start, i), time: '12:00:00', revenue: 50 });
    journeys.push({ conv: `${prefix}walk-in-${i}`, sessions: [], failure: 'no sessions' });
  }
  return { sessions, conversions, journeys };
}

function csv(file: string): Record<string, string>[] {
  const [head, ...lines] = fs.readFileSync(file, 'utf8').trim().split('\n');
  const cols = head!.split(',');
  // the test data has no comma or quote in its names
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [cols[i]!, v])));
}

const sum = (rows: Record<string, string>[], col: string): number => rows.reduce((a, r) => a + Number(r[col] || 0), 0);

if (!fs.existsSync(CHROMIUM)) {
  test('HTML report in headless Chromium', (t) => {
    t.log(`SKIPPED: ${CHROMIUM} is not installed (apt-get install -y chromium); the browser check of report.html did not run`);
    t.pass();
  });
  test.skip('HTML report in headless Chromium: console, headline numbers, screenshot', () => {});
} else {
  test('HTML report in headless Chromium: no console errors, no network, headline numbers match the CSVs, screenshot saved', async (t) => {
    const env = await freshDb();
    t.teardown(env.cleanup);
    const start = '2023-08-29';
    // the ten days before, a shop of their own (their visits and orders inside their window), processed first:
    // the report compares with them
    const before = shop(addDays(start, -10), 10, 'p-', 11);
    const data = shop(start, 10);
    for (const d of [before, data]) {
      await seedSessions(env.db, d.sessions);
      await seedConversions(env.db, d.conversions);
      await seedJourneys(env.db, d.journeys);
    }
    // a margin of 40%: break-even is ROAS 2.5, and profit is revenue x 0.4 - cost
    const config = { ...env.config, output: { ...env.config.output, margin: 0.4 } };
    const caps = testCaps(env.db, config);
    const p0 = await processAttribution({ start: addDays(start, -10), end: addDays(start, -1) }, caps, { models: [] })();
    if (E.isLeft(p0)) return t.fail(JSON.stringify(p0.left));
    const w = { start, end: addDays(start, 9) };
    const r = await processAttribution(w, caps, { models: ALL_MODELS })();
    if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
    const dir = r.right.dir;

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (req) => {
      if (!req.url().startsWith('file:') && !req.url().startsWith('data:')) problems.push(`network request: ${req.url()}`);
    });
    await page.goto(`file://${path.resolve(dir, 'report.html')}`, { waitUntil: 'load' });

    const kpi = async (id: string): Promise<number> => Number(await page.getAttribute(`[data-kpi="${id}"]`, 'data-value'));
    const days = csv(path.join(dir, 'channel_reporting.csv'));
    const channels = csv(path.join(dir, 'channel_summary.csv'));
    t.true(days.length >= 50);
    // each CSV cell is rounded on its own: their sum may differ from the rounded total by half a unit per row
    const near = (a: number, b: number, unit: number, rows: number) => Math.abs(a - b) <= (unit / 2) * rows + 1e-9;
    const cost = await kpi('cost');
    const revenue = await kpi('revenue');
    const orders = await kpi('orders');
    t.true(near(cost, sum(days, 'cost'), 0.01, days.length), `cost ${cost} vs channel_reporting.csv ${sum(days, 'cost')}`);
    t.true(near(cost, sum(channels, 'cost'), 0.01, channels.length), `cost ${cost} vs channel_summary.csv`);
    t.true(near(revenue, sum(days, 'ihc_revenue'), 0.01, days.length), `revenue ${revenue} vs ${sum(days, 'ihc_revenue')}`);
    t.true(near(revenue, sum(channels, 'attributed_revenue'), 0.01, channels.length));
    t.true(near(orders, sum(days, 'ihc'), 0.0001, days.length), `orders ${orders} vs ${sum(days, 'ihc')}`);
    t.true(Math.abs((await kpi('roas')) - revenue / cost) < 1e-3);
    t.true(Math.abs((await kpi('cpo')) - cost / orders) < 1e-2);
    t.is(await page.locator('[data-kpi]').count(), 6, 'one card per figure: no near-duplicate cards');
    t.true((await page.textContent('[data-kpi="orders"] .hint'))!.includes(`${r.right.outcome.counts.attributed.toLocaleString('en-US')} of the period's`));
    t.true(near(await kpi('profit'), 0.4 * sum(channels, 'attributed_revenue') - sum(channels, 'cost'), 0.01, 2 * channels.length));
    // what a reader sees is the same number
    const shown = await page.textContent('[data-kpi="cost"] .value');
    t.is(shown, `€${cost.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);

    // every section is there, every chart drawn
    for (const h of ['How to read this report', 'Cost and revenue by channel', 'Return on ad spend and cost per order', 'Day by day', 'How the picture changes with the attribution model', 'Customer journeys', 'Data quality']) {
      t.true((await page.locator('h2', { hasText: h }).count()) === 1, h);
    }
    t.true((await page.locator('svg.chart:visible').count()) >= 5);
    t.is(await page.locator('#model-orders thead th').count(), 1 + ALL_MODELS.length);

    // channels under break-even (ROAS 2.5 at a 40% margin) are marked, and only they; free channels never are
    const below = channels.filter((c) => c['ROAS'] !== '' && Number(c['ROAS']) < 2.5).map((c) => c['channel_name']!).sort();
    t.true(below.length > 0 && below.length < channels.length, `channels on both sides of break-even: ${JSON.stringify(channels)}`);
    const marked = (await page.locator('#channel-summary tr[data-below-target="1"]').evaluateAll((rows) => rows.map((x) => x.getAttribute('data-channel')))).sort();
    t.deepEqual(marked, below);
    t.is(await page.locator('#channel-summary tr[data-below-target="1"] .flag').count(), below.length);
    // the table is sorted by profit, biggest first
    const profits = await page.locator('#channel-summary tbody tr:not(.total)').evaluateAll((rows) => rows.map((x) => Number(x.getAttribute('data-profit'))));
    t.deepEqual(profits, [...profits].sort((a, b) => b - a));

    // one IHC number: the channel summary, the comparison's IHC column and the report's tables show the same figure
    const mc = csv(path.join(dir, 'model_comparison.csv'));
    for (const c of channels) {
      const m = mc.find((x) => x['channel_name'] === c['channel_name'])!;
      t.is(m['ihc_orders'], c['attributed_orders'], `${c['channel_name']} orders`);
      t.is(m['ihc_revenue'], c['attributed_revenue'], `${c['channel_name']} revenue`);
      t.is(m['ihc_ROAS'], c['ROAS'], `${c['channel_name']} ROAS`);
      const shownOrders = await page.textContent(`#channel-summary tr[data-channel="${c['channel_name']}"] td:nth-child(3)`);
      const shownBase = await page.textContent(`#model-change tr[data-channel="${c['channel_name']}"] td:nth-child(2)`);
      t.is(Number(shownOrders), Math.round(Number(c['attributed_orders']) * 100) / 100);
      t.is(Number(shownBase), Math.round(Number(c['attributed_orders']) * 10) / 10);
    }
    // GA4-style change against the base model, in percent
    const lin = await page.getAttribute(`#model-change tr[data-channel="Paid Search"] td[data-model="linear"]`, 'data-change');
    const ps = mc.find((x) => x['channel_name'] === 'Paid Search')!;
    t.true(Math.abs(Number(lin) - (100 * (Number(ps['linear_orders']) - Number(ps['ihc_orders']))) / Number(ps['ihc_orders'])) < 0.06);
    // the previous ten days are in the database: the cards say how the figures moved
    t.true((await page.locator('#previous-period').count()) === 1);
    const prevRevenue = sum(csv(path.join(path.dirname(dir), `${addDays(start, -10)}_${addDays(start, -1)}`, 'channel_summary.csv')), 'attributed_revenue');
    const change = Number(await page.getAttribute('[data-kpi="revenue"] .delta', 'data-delta'));
    t.true(Math.abs(change - (100 * (revenue - prevRevenue)) / prevRevenue) < 0.06, `revenue change ${change}`);
    // data-quality lines in words, not codes
    t.false((await page.textContent('#data-quality'))!.includes('_'));

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      // nothing wider than the screen: the page never scrolls sideways (tables scroll inside their own box)
      // (page scripts as text: the test is compiled without the DOM's types)
      const wide = await page.evaluate<number>('document.documentElement.scrollWidth');
      t.true(wide <= width, `page is ${wide} px wide at a ${width} px screen`);
      // charts fit the width and their text stays readable (at least 9 px on screen)
      const charts = await page.evaluate<{ right: number; size: number }[]>(`[...document.querySelectorAll('svg.chart')]
        .filter((el) => el.getBoundingClientRect().width > 0)
        .map((el) => {
          const box = el.getBoundingClientRect();
          const label = el.querySelector('text.label, text.axis');
          const size = label === null ? 12 : parseFloat(getComputedStyle(label).fontSize) * (box.width / el.viewBox.baseVal.width);
          return { right: box.right, size };
        })`);
      t.true(charts.length >= 5);
      for (const c of charts) {
        t.true(c.right <= width + 0.5, `a chart ends at ${c.right} px`);
        t.true(c.size >= 9, `chart text drawn at ${c.size.toFixed(1)} px on a ${width} px screen`);
      }
      // a table wider than the screen keeps its channel column in view while it scrolls
      const sticky = await page.evaluate<{ firstLeft: number; boxLeft: number }>(`(() => {
        const box = document.querySelector('#model-orders').closest('.scroll');
        box.scrollLeft = 10000;
        const first = box.querySelector('tbody td:first-child').getBoundingClientRect();
        const outer = box.getBoundingClientRect();
        box.scrollLeft = 0;
        return { firstLeft: first.left, boxLeft: outer.left };
      })()`);
      t.true(Math.abs(sticky.firstLeft - sticky.boxLeft) < 2, `channel column stays at the left edge (${sticky.firstLeft} vs ${sticky.boxLeft})`);
      const shot = path.join(ARTIFACTS, `report-${width}.png`);
      await page.screenshot({ path: shot, fullPage: true });
      t.true(fs.statSync(shot).size > 10_000);
      t.log(`screenshot: ${path.relative(ROOT, shot)}`);
    }
    t.deepEqual(problems, []);
  });
}
