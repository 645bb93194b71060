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
function shop(start: string, days: number) {
  const rand = rng(7);
  const channels: [string, number][] = [
    ['Paid Search', 1.2],
    ['Social Ads', 0.8],
    ['Display', 0.4],
    ['Email', 0.02],
    ['Direct', 0],
    ['Affiliate', 2.5],
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
      const id = `u${u}-${k}`;
      ids.push(id);
      sessions.push({
        id,
        user: `u${u}`,
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
      conversions.push({ id: `c${u}`, user: `u${u}`, date: addDays(start, convDay), time: '22:00:00', revenue: Math.round((20 + rand() * 180) * 100) / 100 });
      const w = ids.map((_, i) => 1 + i);
      const total = w.reduce((a, b) => a + b, 0);
      journeys.push({ conv: `c${u}`, sessions: ids, answers: Object.fromEntries(ids.map((id, i) => [id, w[i]! / total])) });
    }
  }
  // a few orders without any earlier visit
  for (let i = 0; i < 6; i++) {
    conversions.push({ id: `walk-in-${i}`, user: `w${i}`, date: addDays(start, i), time: '12:00:00', revenue: 50 });
    journeys.push({ conv: `walk-in-${i}`, sessions: [], failure: 'no sessions' });
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
    const data = shop(start, 10);
    await seedSessions(env.db, data.sessions);
    await seedConversions(env.db, data.conversions);
    await seedJourneys(env.db, data.journeys);
    const w = { start, end: addDays(start, 9) };
    const r = await processAttribution(w, testCaps(env.db, env.config), { models: ALL_MODELS })();
    if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
    const dir = r.right.dir;

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    t.teardown(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
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
    t.is(await kpi('attributed'), r.right.outcome.counts.attributed);
    // what a reader sees is the same number
    const shown = await page.textContent('[data-kpi="cost"] .value');
    t.is(shown, `€${cost.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`);

    // every section is there, every chart drawn
    for (const h of ['How to read this report', 'Cost and revenue by channel', 'Return on ad spend and cost per order', 'Day by day', 'How the picture changes with the attribution model', 'Customer journeys', 'Data quality']) {
      t.true((await page.locator('h2', { hasText: h }).count()) === 1, h);
    }
    t.true((await page.locator('svg.chart').count()) >= 5);
    t.is(await page.locator('#model-orders thead th').count(), 1 + ALL_MODELS.length);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.true(fs.statSync(shot).size > 10_000);
    t.log(`screenshot: ${path.relative(ROOT, shot)}`);
    t.deepEqual(problems, []);
  });
}
