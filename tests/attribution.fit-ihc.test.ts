import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import { IhcParams } from '../shared/attribution/params.js';
import { fitIhcProgram } from '../shared/fit/program.js';
import { freshDb, runCli, testCaps } from './helpers/env.js';

const pad = (n: number): string => String(n).padStart(2, '0');
/** epoch seconds -> [date, time] */
const split = (s: number): [string, string] => {
  const d = new Date(s * 1000);
  return [d.toISOString().slice(0, 10), `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`];
};

async function seeded() {
  const fresh = await freshDb();
  const { db } = fresh;
  const base = Date.parse('2023-09-01T00:00:00Z') / 1000;
  const journeys = [];
  const sessions: Record<string, unknown>[] = [];
  for (let j = 0; j < 40; j++) {
    const conv = base + j * 3600;
    const [cd, ct] = split(conv);
    // three sessions: gaps of 2 h and (j+2) h; closer-engaged sessions (j+3) h and 1 h before the conversion
    const ts = [conv - (j + 3) * 3600 - 7200, conv - (j + 3) * 3600, conv - 3600];
    journeys.push({ conv_id: `c${pad(j)}`, user_id: `u${j}`, conv_date: cd, conv_time: ct, revenue: 10, session_count: 3, status: 'ok' });
    ts.forEach((s, k) => {
      const [ed, et] = split(s);
      sessions.push({
        conv_id: `c${pad(j)}`, session_id: `c${pad(j)}s${k}`, position: k, conv_date: cd, event_date: ed, event_time: et,
        channel_name: 'x', holder_engagement: 1, closer_engagement: k === 0 ? 0 : 1, impression_interaction: 0, conversion: k === 2 ? 1 : 0,
      });
    });
  }
  journeys.push({ conv_id: 'zz', user_id: 'u', conv_date: '2023-09-01', conv_time: '00:00:00', revenue: 1, session_count: 0, status: 'no_sessions' });
  await db.batchInsert('journeys', journeys, 100);
  await db.batchInsert('journey_sessions', sessions, 100);
  return fresh;
}

test('fit-ihc fits the ramps on stored journeys and saves a decodable conversion type', async (t) => {
  const { db, config, cleanup } = await seeded();
  t.teardown(cleanup);
  const caps = testCaps(db, config);
  const window = { start: '2023-08-29', end: '2023-09-07' };
  const r = await fitIhcProgram({ name: 'shop', replace: false, minSamples: 30, window }, caps)();
  t.true(E.isRight(r), JSON.stringify(r));
  if (E.isRight(r)) t.regex(r.right.summary, /saved conversion type "shop" fitted on 40 journeys \(80 gaps, 80 closer sessions\)/);
  const row = (await db('conversion_types').where('name', 'shop').first()) as { params: string; source: string };
  const params = IhcParams.decode(JSON.parse(row.params));
  t.true(E.isRight(params));
  if (E.isLeft(params)) return;
  // gaps: forty-one of 2 h and 3..41 h -> median 2 h, p90 (72nd of 80) 33 h; to conversion: forty of 1 h and 3..42 h -> p10 1 h
  t.true(Math.abs(params.right.initializer_ramp_hours.start - 2) < 0.02);
  t.true(Math.abs(params.right.initializer_ramp_hours.end - 33) < 0.1);
  t.true(Math.abs(params.right.closer_ramp_hours.full - 1) < 0.02);
  t.deepEqual(params.right.weights, config.models.conversion_types['default']!.weights);
  t.is((JSON.parse(row.source) as { journeys: number }).journeys, 40);
  // a second run with the same name needs --replace
  const again = await fitIhcProgram({ name: 'shop', replace: false, minSamples: 30, window }, caps)();
  t.true(E.isLeft(again) && again.left._tag === 'InputError' && /--replace/.test(again.left.message));
  const replaced = await fitIhcProgram({ name: 'shop', replace: true, minSamples: 30, window }, caps)();
  t.true(E.isRight(replaced));
  const empty = await fitIhcProgram({ name: 'other', replace: false, minSamples: 30, window: { start: '2020-01-01', end: '2020-01-02' } }, caps)();
  t.true(E.isLeft(empty) && /no stored journeys/.test(empty.left.message));
});

test('fit-ihc fits the phase weights against non-converting journeys: the phase that separates them gets the weight', async (t) => {
  const { db, config, cleanup } = await seeded();
  t.teardown(cleanup);
  // 60 non-converting paths like the journeys but with no holder-engaged session: holding is what orders need
  const base = Date.parse('2023-09-02T00:00:00Z') / 1000;
  const paths: Record<string, unknown>[] = [];
  const sessions: Record<string, unknown>[] = [];
  for (let j = 0; j < 60; j++) {
    const end = base + j * 3600;
    const ts = [end - (j % 40 + 3) * 3600 - 7200, end - (j % 40 + 3) * 3600, end - 3600];
    const [cd, ct] = split(ts[2]!);
    const later = JSON.stringify([`n${pad(j)}s1`, `n${pad(j)}s2`]);
    paths.push({ path_id: j + 1, user_id: `n${j}`, first_session: `n${pad(j)}s0`, last_date: cd, last_time: ct, session_count: 3, channels: 'x\u001fx\u001fx', later_sessions: later });
    ts.forEach((s, k) => {
      const [ed, et] = split(s);
      sessions.push({
        session_id: `n${pad(j)}s${k}`, user_id: `n${j}`, event_date: ed, event_time: et,
        channel_name: 'x', holder_engagement: 0, closer_engagement: k === 0 ? 0 : 1, impression_interaction: 0,
      });
    });
  }
  await db.batchInsert('session_sources', sessions, 100);
  await db.batchInsert('nonconverting_paths', paths, 100);
  const caps = testCaps(db, config);
  const r = await fitIhcProgram({ name: 'phases', replace: false, minSamples: 30, window: { start: '2023-08-29', end: '2023-09-07' } }, caps)();
  t.true(E.isRight(r), JSON.stringify(r));
  if (E.isRight(r)) t.regex(r.right.summary, /fitted against 60 non-converting journeys/);
  const row = (await db('conversion_types').where('name', 'phases').first()) as { params: string };
  const w = (JSON.parse(row.params) as { weights: { initializer: number; holder: number; closer: number } }).weights;
  t.true(w.holder > 0.9, JSON.stringify(w));
  t.true(Math.abs(w.initializer + w.holder + w.closer - 1) < 1e-3);
});

test('fit-ihc as a command: prints the parameter set and a summary; bad names are usage errors', async (t) => {
  const { db, url, cleanup } = await seeded();
  t.teardown(cleanup);
  const r = await runCli('fit-ihc', ['--start-date', '2023-08-29', '--end-date', '2023-09-07', '--name', 'shop_cli'], { DATABASE_URL: url });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /"shop_cli": \{/);
  t.regex(r.stdout, /fit-ihc: saved conversion type "shop_cli" fitted on 40 journeys/);
  t.is(((await db('conversion_types').count({ n: '*' }).first()) as { n: number }).n, 1);
  const bad = await runCli('fit-ihc', ['--name', 'has space'], { DATABASE_URL: url });
  t.is(bad.code, 2);
});
