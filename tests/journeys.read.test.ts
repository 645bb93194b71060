import test from 'ava';
import type { Knex } from 'knex';
import { dbOver } from '../shared/db/db.js';
import { journeyPages, type StoredJourney } from '../shared/journeys/read.js';
import { driverUnderTest, freshDb } from './helpers/env.js';

const W = { start: '2023-09-01', end: '2023-09-03' };

/** journeys c1..c5 (c5 outside the window), one session each; conversions as given */
async function seed(db: Knex): Promise<void> {
  const ids = ['c1', 'c2', 'c3', 'c4', 'c5'];
  const date = (id: string): string => (id === 'c5' ? '2023-09-09' : '2023-09-02');
  await db('journeys').insert(
    ids.map((conv_id) => ({ conv_id, user_id: 'u', conv_date: date(conv_id), conv_time: '10:00:00', revenue: 1, session_count: 1, status: 'ok' })),
  );
  await db('journey_sessions').insert(
    ids.map((conv_id) => ({
      conv_id,
      session_id: `s-${conv_id}`,
      position: 0,
      conv_date: date(conv_id),
      event_date: '2023-09-01',
      event_time: '09:00:00',
      channel_name: 'Search',
      holder_engagement: 1,
      closer_engagement: 0,
      impression_interaction: 0,
      conversion: 1,
    })),
  );
}

async function pages(db: Knex, pageSize: number): Promise<StoredJourney[][]> {
  const out: StoredJourney[][] = [];
  for await (const p of journeyPages(dbOver(db), W, { pageSize })) out.push(p);
  return out;
}

test(`journey pages carry each journey's order as the conversions table has it now, across page boundaries (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(db);
    // c2's order was deleted after the build; c3's order moved to another day and revenue
    await db('conversions').insert([
      { conv_id: 'c1', user_id: 'u', conv_date: '2023-09-02', conv_time: '10:00:00', revenue: 10 },
      { conv_id: 'c3', user_id: 'u', conv_date: '2023-09-03', conv_time: '11:00:00', revenue: 30 },
      { conv_id: 'c4', user_id: 'u', conv_date: '2023-09-02', conv_time: '10:00:00', revenue: 40 },
    ]);
    const got = await pages(db, 2);
    t.deepEqual(got.map((p) => p.map((j) => j.conv_id)), [['c1', 'c2'], ['c3', 'c4']]);
    t.deepEqual(
      got.flat().map((j) => [j.conv_id, j.order, j.sessions.map((s) => s.session_id)]),
      [
        ['c1', { date: '2023-09-02', time: '10:00:00', revenue: 10 }, ['s-c1']],
        ['c2', null, ['s-c2']],
        ['c3', { date: '2023-09-03', time: '11:00:00', revenue: 30 }, ['s-c3']],
        ['c4', { date: '2023-09-02', time: '10:00:00', revenue: 40 }, ['s-c4']],
      ],
    );
  } finally {
    await cleanup();
  }
});

test(`a conversions table adopted without its key that repeats a conv_id gives one journey per order row, pages still whole (${driverUnderTest()})`, async (t) => {
  const { db, cleanup } = await freshDb();
  try {
    await seed(db);
    await db.raw('DROP TABLE conversions');
    await db.raw('CREATE TABLE conversions (conv_id TEXT, user_id TEXT NOT NULL, conv_date DATE NOT NULL, conv_time TIME NOT NULL, revenue FLOAT NOT NULL)');
    await db('conversions').insert(
      ['c1', 'c2', 'c2', 'c3', 'c4'].map((conv_id, i) => ({ conv_id, user_id: 'u', conv_date: '2023-09-02', conv_time: '10:00:00', revenue: i })),
    );
    const got = await pages(db, 2);
    // the page limit counts journeys, not joined rows: c2's two orders stay on one page with c1
    t.deepEqual(got.map((p) => p.map((j) => j.conv_id)), [['c1', 'c2', 'c2'], ['c3', 'c4']]);
    t.deepEqual(
      got[0]!.map((j) => j.order?.revenue).sort(),
      [0, 1, 2],
    );
  } finally {
    await cleanup();
  }
});
