import test from 'ava';
import type { Knex } from 'knex';
import { journeyProblem } from '../shared/attribution/journey.js';
import { journeyChannels } from '../shared/attribution/paths.js';
import { journeyPages, journeyPaths, type JourneyPath } from '../shared/reporting/journeys.js';
import { driverUnderTest, freshDb } from './helpers/env.js';

const W = { start: '2023-09-01', end: '2023-09-03' };

interface S {
  readonly id: string;
  readonly date: string;
  readonly time: string;
  readonly channel: string;
}

/** journeys with their sessions in position order (not always time order), conversions as given */
async function seed(db: Knex, journeys: Record<string, { date?: string; sessions: S[] }>): Promise<void> {
  for (const [conv_id, j] of Object.entries(journeys)) {
    const conv_date = j.date ?? '2023-09-02';
    await db('journeys').insert({ conv_id, user_id: 'u', conv_date, conv_time: '20:00:00', revenue: 1, session_count: j.sessions.length, status: 'ok' });
    if (j.sessions.length === 0) continue;
    await db('journey_sessions').insert(
      j.sessions.map((s, position) => ({
        conv_id,
        session_id: s.id,
        position,
        conv_date,
        event_date: s.date,
        event_time: s.time,
        channel_name: s.channel,
        holder_engagement: 0,
        closer_engagement: 0,
        impression_interaction: 0,
        conversion: position === j.sessions.length - 1 ? 1 : 0,
      })),
    );
  }
}

/** what the fit read before journeyPaths: every page of journeyPages, the creditable journeys as paths */
async function viaJourneys(db: Knex, pageSize: number): Promise<JourneyPath[]> {
  const out: JourneyPath[] = [];
  for await (const page of journeyPages(db, W, pageSize)) {
    for (const j of page) if (journeyProblem(j) === undefined) out.push({ channels: journeyChannels(j), revenue: j.revenue ?? 0 });
  }
  return out;
}

async function viaPaths(db: Knex, pageSize: number): Promise<JourneyPath[]> {
  const out: JourneyPath[] = [];
  for await (const page of journeyPaths(db, W, pageSize)) out.push(...page);
  return out;
}

const s = (id: string, date: string, time: string, channel: string): S => ({ id, date, time, channel });

const JOURNEYS = {
  // stored out of time order: the path is in time order, equal times by session id
  a: { sessions: [s('a3', '2023-09-02', '10:00:00', 'Email'), s('a1', '2023-09-01', '09:00:00', 'SEO'), s('a2', '2023-09-02', '10:00:00', 'Direct')] },
  // no order row
  b: { sessions: [s('b1', '2023-09-01', '09:00:00', 'SEO')] },
  // no session
  c: { sessions: [] },
  // a time that is no instant: the engine cannot credit it
  d: { sessions: [s('d1', '2023-09-01', '25:99:00', 'SEO'), s('d2', '2023-09-01', '10:00:00', 'Email')] },
  e: { sessions: [s('e1', '2023-09-01', '08:00:00', 'Paid'), s('e2', '2023-09-01', '09:00:00', 'Paid')] },
  // outside the window
  f: { date: '2023-09-09', sessions: [s('f1', '2023-09-08', '08:00:00', 'Paid')] },
  g: { sessions: [s('g1', '2023-09-03', '08:00:00', 'Direct')] },
};

test(`journeyPaths gives the paths and revenues that journeyPages and the engine's checks give, across pages (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(db, JOURNEYS);
    await db('conversions').insert(
      ['a', 'c', 'd', 'e', 'f', 'g'].map((conv_id, i) => ({ conv_id, user_id: 'u', conv_date: '2023-09-02', conv_time: '20:00:00', revenue: 10 + i })),
    );
    for (const pageSize of [1, 2, 3, 500]) {
      const got = await viaPaths(db, pageSize);
      t.deepEqual(got, await viaJourneys(db, pageSize), `page size ${pageSize}`);
      t.deepEqual(got, [
        { channels: ['SEO', 'Direct', 'Email'], revenue: 10 },
        { channels: ['Paid', 'Paid'], revenue: 13 },
        { channels: ['Direct'], revenue: 15 },
      ]);
    }
  } finally {
    await cleanup();
  }
});

test(`journeyPaths: a conversions table adopted without its key that repeats a conv_id gives one path per order row (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(db, JOURNEYS);
    await db.raw('DROP TABLE conversions');
    await db.raw('CREATE TABLE conversions (conv_id TEXT, user_id TEXT NOT NULL, conv_date DATE NOT NULL, conv_time TIME NOT NULL, revenue FLOAT NOT NULL)');
    // a twice with the same order, e three times (two equal), g once
    const orders: Array<[string, number]> = [['a', 5], ['e', 7], ['a', 5], ['g', 1], ['e', 2], ['e', 7]];
    await db('conversions').insert(orders.map(([conv_id, revenue]) => ({ conv_id, user_id: 'u', conv_date: '2023-09-02', conv_time: '20:00:00', revenue })));
    for (const pageSize of [1, 2, 500]) {
      const got = await viaPaths(db, pageSize);
      const sorted = (p: JourneyPath[]) => p.map((x) => `${x.channels.join('>')} ${x.revenue}`).sort();
      t.deepEqual(sorted(got), sorted(await viaJourneys(db, pageSize)), `page size ${pageSize}`);
      t.is(got.length, 6);
    }
  } finally {
    await cleanup();
  }
});
