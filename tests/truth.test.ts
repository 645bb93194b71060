import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { scenarioByName, simulateUser, truthOf, writeScenarioCsvs, type SimUser } from '../shared/generate/truth.js';

const TINY = scenarioByName('tiny')!;

test('the truth of a tiny scenario, computed by hand', (t) => {
  // baseline 0.1; lift per touch A 0.2, B 0.1, C 0
  const users: SimUser[] = [
    // P = 0.1 + 0.2 + 0.1 = 0.4 > 0.35: orders; without A 0.2, without B 0.3: lost either way -> A and B
    { touches: ['A', 'B'], u: 0.35, revenue: 10 },
    // P = 0.3 > 0.05, but 0.05 < baseline: orders anyway -> nobody
    { touches: ['A'], u: 0.05, revenue: 20 },
    // P = 0.2 > 0.15; without B 0.1: lost -> B; C adds nothing
    { touches: ['B', 'C'], u: 0.15, revenue: 30 },
    // P = 0.1 < 0.5: no order
    { touches: ['C'], u: 0.5, revenue: 40 },
    // two touches of A: P = 0.5 > 0.45; without A 0.1 -> A
    { touches: ['A', 'A'], u: 0.45, revenue: 50 },
    // P = 0.4 > 0.25; without A 0.2 (lost) -> A; without B 0.3 (still orders) -> not B
    { touches: ['A', 'B'], u: 0.25, revenue: 60 },
  ];
  const truth = truthOf(TINY, users);
  t.is(truth.orders, 5);
  t.is(truth.baselineOrders, 1);
  t.deepEqual(
    truth.channels.map((c) => [c.channel, c.orders, c.revenue, c.share]),
    [
      ['A', 3, 120, 0.6],
      ['B', 2, 40, 0.4],
      ['C', 0, 0, 0],
    ],
  );
});

test('generate-data truth: conversions.csv holds exactly the simulated orders and truth.csv the removal truth', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'truth-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await writeScenarioCsvs(dir, TINY, { scale: 50, seed: 3, startDate: '2024-03-01', endDate: '2024-03-14' });
  const users = Array.from({ length: r.users }, (_, i) => simulateUser(TINY, 3, i));
  const expected = truthOf(TINY, users);
  const conv = parse(await readFile(r.files.conversions, 'utf8'), { columns: true }) as Record<string, string>[];
  t.is(conv.length, expected.orders);
  const truthRows = parse(await readFile(r.files.truth, 'utf8'), { columns: true }) as Record<string, string>[];
  t.deepEqual(
    truthRows.map((x) => [x['channel'], Number(x['true_incremental_orders'])]),
    expected.channels.map((c) => [c.channel, c.orders]),
  );
  // C never adds anything; A and B do
  t.is(Number(truthRows.find((x) => x['channel'] === 'C')!['true_incremental_orders']), 0);
  t.true(Number(truthRows.find((x) => x['channel'] === 'A')!['true_incremental_orders']) > 0);
  // every order follows its user's last session, inside the window
  const sessions = parse(await readFile(r.files.sessions, 'utf8'), { columns: true }) as Record<string, string>[];
  const lastByUser = new Map<string, string>();
  for (const s of sessions) {
    const ts = `${s['event_date']} ${s['event_time']}`;
    if ((lastByUser.get(s['user_id']!) ?? '') < ts) lastByUser.set(s['user_id']!, ts);
    t.true(s['event_date']! >= '2024-03-01' && s['event_date']! <= '2024-03-14');
  }
  for (const c of conv) t.true(`${c['conv_date']} ${c['conv_time']}` > lastByUser.get(c['user_id']!)!);
});

test('retargeting scenario: the retargeting channel closes many orders but causes none', (t) => {
  const s = scenarioByName('retargeting')!;
  const users = Array.from({ length: 5000 }, (_, i) => simulateUser(s, 1, i));
  const truth = truthOf(s, users);
  const ordered = users.filter((u) => u.u < Math.min(1, s.baseline + u.touches.reduce((a, c) => a + (s.channels.find((x) => x.name === c)?.lift ?? 0), 0)));
  const lastPmax = ordered.filter((u) => u.touches[u.touches.length - 1] === 'Performance Max').length;
  t.true(lastPmax / ordered.length > 0.3);
  t.is(truth.channels.find((c) => c.channel === 'Performance Max')!.orders, 0);
});
