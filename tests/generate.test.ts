import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import * as E from 'fp-ts/lib/Either.js';
import { forEachDemoRow, writeDemoCsvs, type DemoProgressOptions } from '../shared/generate/demo.js';
import { localFiles } from '../shared/files.js';

// Reference figures from ../shared/reference/challenge-shape.md, restated here on purpose: the test
// compares the generator with the published data, not with the generator's own shape table.
const REF = {
  start: '2023-08-29',
  end: '2023-09-07',
  conversions: 2000,
  convertingUsers: 1931,
  noSessionShare: 60 / 2000,
  sessionsPerJourney: { '1': 0.584, '2': 0.212, '3': 0.102, '4': 0.042, '5': 0.024, '6': 0.015, '7+': 0.021 } as Record<string, number>,
  holder: 0.917,
  closer: 0.782,
  totalSpend: 293883.43,
  topTwoSpendShare: (130000.69 + 98098.62) / 293883.43,
  channels: [
    'Affiliate & Partnerships',
    'Direct Traffic',
    'FB & IG Ads',
    'Lead Generation',
    'Microsoft Ads',
    'Newsletter & Email',
    'Organic Traffic',
    'Paid Search Brand',
    'Paid Search Non Brand',
    'Performance Max',
    'Pinterest Ads',
    'Referral',
    'Social Organic',
    'TikTok Ads',
    'Untracked Conversions',
    'YouTube Ads',
  ],
  unpaidChannels: ['Newsletter & Email', 'Untracked Conversions', 'YouTube Ads', 'Pinterest Ads'],
};

type Row = Record<string, string>;
interface Data {
  sessions: Row[];
  conversions: Row[];
  costs: Row[];
}

/** The writer through the real files capability; its Left thrown as an Error so that failures read as before. */
async function demo(dir: string, opts: DemoProgressOptions) {
  const r = await writeDemoCsvs(dir, opts, localFiles)();
  if (E.isLeft(r)) throw new Error(`${r.left._tag}: ${r.left.message}`);
  return r.right;
}

const dirs: string[] = [];
async function generate(scale: number, seed: number, startDate = REF.start, endDate = REF.end) {
  const dir = await mkdtemp(path.join(tmpdir(), 'gen-test-'));
  dirs.push(dir);
  const summary = await demo(dir, { scale, seed, startDate, endDate });
  return { dir, summary };
}
test.after.always(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** csv-parse when a field is quoted; a plain split otherwise, since csv-parse alone took seconds of the budget */
function parseCsv(text: string): Row[] {
  if (text.includes('"')) return parse(text, { columns: true }) as Row[];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const header = (lines.shift() ?? '').split(',');
  return lines.map((l) => {
    const cells = l.split(',');
    if (cells.length !== header.length) throw new Error(`ragged CSV line: ${l}`);
    return Object.fromEntries(header.map((h, i) => [h, cells[i] as string]));
  });
}

async function read(dir: string): Promise<Data> {
  const load = async (f: string): Promise<Row[]> => parseCsv(await readFile(path.join(dir, f), 'utf8'));
  return {
    sessions: await load('session_sources.csv'),
    conversions: await load('conversions.csv'),
    costs: await load('session_costs.csv'),
  };
}

const epoch = (date: string, time: string): number => Date.parse(`${date}T${time}Z`) / 1000;

interface Session {
  id: string;
  t: number;
  channel: string;
  holder: number;
  closer: number;
  impression: number;
}

/** Journeys as docs/design.md defines them: the user's sessions strictly before the order, by time then id. */
function journeys(d: Data): Session[][] {
  const byUser = new Map<string, Session[]>();
  for (const s of d.sessions) {
    const list = byUser.get(s.user_id as string) ?? [];
    list.push({
      id: s.session_id as string,
      t: epoch(s.event_date as string, s.event_time as string),
      channel: s.channel_name as string,
      holder: Number(s.holder_engagement),
      closer: Number(s.closer_engagement),
      impression: Number(s.impression_interaction),
    });
    byUser.set(s.user_id as string, list);
  }
  return d.conversions.map((c) => {
    const t = epoch(c.conv_date as string, c.conv_time as string);
    return (byUser.get(c.user_id as string) ?? [])
      .filter((s) => s.t < t)
      .sort((a, b) => a.t - b.t || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  });
}

// one scale-1 data set shared by the shape tests (generation is the slow part)
let base: Promise<{ dir: string; data: Data; summary: Awaited<ReturnType<typeof demo>> }> | undefined;
const scaleOne = () =>
  (base ??= generate(1, 42).then(async ({ dir, summary }) => ({ dir, summary, data: await read(dir) })));

const near = (actual: number, expected: number, tolerance: number): boolean => Math.abs(actual - expected) <= tolerance;

test('same seed gives byte-identical files, another seed different ones', async (t) => {
  // a small scale is enough: every user draws from its own stream, so no part of the output depends on scale
  const [a, b, c] = await Promise.all([generate(0.25, 42), generate(0.25, 42), generate(0.25, 43)]);
  for (const f of ['session_sources.csv', 'conversions.csv', 'session_costs.csv']) {
    const fa = await readFile(path.join(a.dir, f));
    t.true(fa.equals(await readFile(path.join(b.dir, f))), `${f} differs between two runs with seed 42`);
    t.false(fa.equals(await readFile(path.join(c.dir, f))), `${f} is the same for seeds 42 and 43`);
  }
});

test('scale 1: counts, channels, dates and ids look like the challenge data', async (t) => {
  const { data, summary } = await scaleOne();
  t.is(summary.sessions, data.sessions.length);
  t.is(summary.conversions, data.conversions.length);
  t.is(summary.costs, data.costs.length);
  t.true(near(data.conversions.length, REF.conversions, 0.02 * REF.conversions), `${data.conversions.length} conversions`);
  const converting = new Set(data.conversions.map((c) => c.user_id)).size;
  t.true(near(converting, REF.convertingUsers, 0.03 * REF.convertingUsers), `${converting} converting users`);
  const allUsers = new Set([...data.sessions.map((s) => s.user_id), ...data.conversions.map((c) => c.user_id)]);
  t.is(allUsers.size, summary.users);
  t.true(allUsers.size > 5 * converting, 'many users never convert');

  t.deepEqual([...new Set(data.sessions.map((s) => s.channel_name))].sort(), [...REF.channels].sort());

  const dates = [...data.sessions.map((s) => s.event_date), ...data.conversions.map((c) => c.conv_date)] as string[];
  t.true(dates.every((d) => d >= REF.start && d <= REF.end), 'a date outside the window');
  t.is([...dates].sort()[0], REF.start);
  t.is([...dates].sort()[dates.length - 1], REF.end);
  t.true(data.sessions.every((s) => /^\d{4}-\d{2}-\d{2}$/.test(s.event_date as string) && /^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$/.test(s.event_time as string)));

  const hex = /^[0-9a-f]{64}$/;
  const ids = [...data.sessions.flatMap((s) => [s.session_id, s.user_id]), ...data.conversions.flatMap((c) => [c.conv_id, c.user_id])];
  t.true(ids.every((id) => hex.test(id as string)), 'an id is not 64 lowercase hex characters');
  t.is(new Set(data.sessions.map((s) => s.session_id)).size, data.sessions.length, 'duplicate session_id');
  t.is(new Set(data.conversions.map((c) => c.conv_id)).size, data.conversions.length, 'duplicate conv_id');
  t.deepEqual(
    data.costs.map((c) => c.session_id),
    data.sessions.map((s) => s.session_id),
    'one cost row per session',
  );
  t.true(data.sessions.every((s) => ['0', '1'].includes(s.holder_engagement as string) && ['0', '1'].includes(s.closer_engagement as string) && ['0', '1'].includes(s.impression_interaction as string)));
  t.true(data.conversions.every((c) => /^\d+\.\d{2}$/.test(c.revenue as string) && Number(c.revenue) > 0), 'revenue must be positive with 2 decimals');
});

test('scale 1: journeys have the published shape', async (t) => {
  const { data } = await scaleOne();
  const js = journeys(data);
  const nonEmpty = js.filter((j) => j.length > 0);
  const noSession = (js.length - nonEmpty.length) / js.length;
  t.true(near(noSession, REF.noSessionShare, 0.01), `share without earlier session ${noSession}`);

  const buckets: Record<string, number> = {};
  for (const j of nonEmpty) {
    const k = j.length >= 7 ? '7+' : String(j.length);
    buckets[k] = (buckets[k] ?? 0) + 1;
  }
  for (const [k, share] of Object.entries(REF.sessionsPerJourney)) {
    const got = (buckets[k] ?? 0) / nonEmpty.length;
    t.true(near(got, share, 0.03), `journeys of ${k} sessions: ${(100 * got).toFixed(1)}% vs ${100 * share}%`);
  }
  const longest = Math.max(...nonEmpty.map((j) => j.length));
  t.true(longest >= 15 && longest <= 45, `longest journey ${longest}`);

  const rows = nonEmpty.flat();
  const rate = (f: (s: Session) => number) => rows.reduce((a, s) => a + f(s), 0) / rows.length;
  t.true(near(rate((s) => s.holder), REF.holder, 0.03), 'holder rate in journeys');
  t.true(near(rate((s) => s.closer), REF.closer, 0.04), 'closer rate in journeys');
  t.is(rate((s) => s.impression), 0, 'impression_interaction is always 0 in journeys');
  t.is(new Set(rows.map((s) => s.channel)).size, 13, '13 channels appear in journeys');

  const seen = new Map<string, number>();
  for (const s of rows) seen.set(s.id, (seen.get(s.id) ?? 0) + 1);
  const shared = [...seen.values()].filter((n) => n > 1).length;
  t.true(shared > 0 && shared < 100, `${shared} sessions in two journeys`);

  const ties = nonEmpty.filter((j) => j.some((s, i) => i > 0 && s.t === (j[i - 1] as Session).t)).length;
  t.true(ties >= 1, 'some journey has two sessions in the same second');
});

test('scale 1: spend sits on the paid channels', async (t) => {
  const { data } = await scaleOne();
  const channelOf = new Map(data.sessions.map((s) => [s.session_id, s.channel_name]));
  const spend = new Map<string, number>();
  let empty = 0;
  for (const c of data.costs) {
    if (c.cost === '') {
      empty++;
      continue;
    }
    t.regex(c.cost as string, /^\d+\.\d{2}$/);
    const ch = channelOf.get(c.session_id) as string;
    spend.set(ch, (spend.get(ch) ?? 0) + Number(c.cost));
  }
  const total = [...spend.values()].reduce((a, b) => a + b, 0);
  t.true(near(total, REF.totalSpend, 0.02 * REF.totalSpend), `total spend ${total.toFixed(2)}`);
  const topTwo = ((spend.get('Performance Max') ?? 0) + (spend.get('FB & IG Ads') ?? 0)) / total;
  t.true(near(topTwo, REF.topTwoSpendShare, 0.03), `Performance Max + FB & IG Ads ${(100 * topTwo).toFixed(1)}% of spend`);
  for (const ch of REF.unpaidChannels) t.is(spend.get(ch) ?? 0, 0, `${ch} costs nothing`);
  t.true(empty > 0 && empty < 0.05 * data.costs.length, `${empty} empty costs`);
  const cells = new Set(data.sessions.map((s) => `${s.channel_name}|${s.event_date}`)).size;
  t.true(cells >= 140 && cells <= 160, `${cells} (channel, date) cells with sessions`);
});

test('scale 2 doubles users, sessions, conversions and spend', async (t) => {
  const [one, two] = await Promise.all([scaleOne(), generate(2, 42)]);
  for (const k of ['users', 'sessions', 'conversions'] as const) {
    const ratio = two.summary[k] / one.summary[k];
    t.true(ratio > 1.9 && ratio < 2.1, `${k}: ${one.summary[k]} -> ${two.summary[k]}`);
  }
  const spendOf = async (dir: string) => {
    const rows = parseCsv(await readFile(path.join(dir, 'session_costs.csv'), 'utf8'));
    return rows.reduce((a, r) => a + Number(r.cost || 0), 0);
  };
  const ratio = (await spendOf(two.dir)) / (await spendOf(one.dir));
  t.true(ratio > 1.95 && ratio < 2.05, `spend ratio ${ratio}`);
});

test('other windows and fractional scales keep every date inside the window', async (t) => {
  const { dir, summary } = await generate(0.5, 7, '2024-02-28', '2024-03-02');
  const data = await read(dir);
  const dates = new Set([...data.sessions.map((s) => s.event_date), ...data.conversions.map((c) => c.conv_date)]);
  t.deepEqual([...dates].sort(), ['2024-02-28', '2024-02-29', '2024-03-01', '2024-03-02']);
  // volumes are per day: 4 days at half scale is a fifth of the reference's 10 days
  t.true(near(summary.conversions, 0.2 * REF.conversions, 0.05 * 0.2 * REF.conversions), `${summary.conversions} conversions`);
  t.true(journeys(data).every((j) => j.every((s) => s.t >= epoch('2024-02-28', '00:00:00'))));
});

test('the callback form yields the rows the files hold, and progress reaches the total', async (t) => {
  const opts = { scale: 0.2, seed: 5, startDate: REF.start, endDate: REF.end };
  const dir = await mkdtemp(path.join(tmpdir(), 'gen-test-'));
  dirs.push(dir);
  const seen: [number, number][] = [];
  const summary = await demo(dir, { ...opts, onProgress: (done, total) => seen.push([done, total]) });
  t.deepEqual(seen[seen.length - 1], [summary.users, summary.users]);
  t.true(seen.every(([done], i) => i === 0 || done > (seen[i - 1] as [number, number])[0]));

  const fromFile = await read(dir);
  const sessionIds: string[] = [];
  const revenues: number[] = [];
  const counts = forEachDemoRow(opts, {
    session: (r) => sessionIds.push(r.session_id),
    cost: () => undefined,
    conversion: (r) => revenues.push(r.revenue),
  });
  t.is(counts.sessions, summary.sessions);
  t.deepEqual(sessionIds, fromFile.sessions.map((s) => s.session_id));
  t.deepEqual(revenues, fromFile.conversions.map((c) => Number(c.revenue)));
});

test('invalid options are refused with a message that names the option', async (t) => {
  const dir = path.join(tmpdir(), 'gen-test-never-created');
  const ok = { scale: 1, seed: 1, startDate: REF.start, endDate: REF.end };
  await t.throwsAsync(demo(dir, { ...ok, scale: 0 }), { message: /UsageError: .*scale/ });
  await t.throwsAsync(demo(dir, { ...ok, seed: 1.5 }), { message: /UsageError: .*seed/ });
  await t.throwsAsync(demo(dir, { ...ok, startDate: '2023-02-30' }), { message: /UsageError: .*startDate/ });
  await t.throwsAsync(demo(dir, { ...ok, startDate: '2023-09-08' }), { message: /UsageError: .*after/ });
  t.false(existsSync(dir), 'nothing was created');
});
