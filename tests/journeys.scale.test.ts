import * as path from 'node:path';
import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import type { Knex } from 'knex';
import { writeDemoCsvs } from '../shared/generate/demo.js';
import { localFiles } from '../shared/files.js';
import { runBuildJourneys } from '../shared/journeys/program.js';
import { freshDb, runCli, testCaps } from './helpers/env.js';

const W = { start: '2023-08-29', end: '2023-09-07' };

/** An independent count: a plain join comparing concatenated timestamps, written without the build's SQL. */
async function independent(db: Knex, opts: { sameSecond: boolean; lookbackDays: number | null }) {
  const cmp = opts.sameSecond ? '<=' : '<';
  const lookback = opts.lookbackDays === null ? '' : `AND julianday(c.conv_date || ' ' || c.conv_time) - julianday(s.event_date || ' ' || s.event_time) <= ${opts.lookbackDays}`;
  const [conv] = (await db.raw(`SELECT COUNT(*) AS n FROM conversions WHERE conv_date >= ? AND conv_date <= ?`, [W.start, W.end])) as Array<{ n: number }>;
  const [pairs] = (await db.raw(
    `SELECT COUNT(*) AS rows_, COUNT(DISTINCT c.conv_id) AS journeys
       FROM conversions c, session_sources s
      WHERE c.conv_date >= ? AND c.conv_date <= ? AND s.user_id = c.user_id
        AND (s.event_date || ' ' || s.event_time) ${cmp} (c.conv_date || ' ' || c.conv_time) ${lookback}`,
    [W.start, W.end],
  )) as Array<{ rows_: number; journeys: number }>;
  return { conversions: Number(conv!.n), journeys: Number(pairs!.journeys), rows: Number(pairs!.rows_) };
}

test('scale 1 demo data: journeys, rows and conversions without journey match an independent count', async (t) => {
  const { db, config, dir, url, cleanup } = await freshDb();
  try {
    const csvDir = path.join(dir, 'csv');
    t.true(E.isRight(await writeDemoCsvs(csvDir, { scale: 1, seed: 7, startDate: W.start, endDate: W.end }, localFiles)()));
    const load = await runCli('load', ['--dir', csvDir], { DATABASE_URL: url, LOG_LEVEL: 'warn' }, { timeoutMs: 170_000 });
    t.is(load.code, 0, load.stderr);

    for (const opts of [
      { includeSameSecond: false, lookbackDays: null },
      { includeSameSecond: true, lookbackDays: null },
      { includeSameSecond: false, lookbackDays: 3 },
    ]) {
      const started = Date.now();
      const r = await runBuildJourneys({ window: W, ...opts }, testCaps(db, config))();
      const ms = Date.now() - started;
      if (E.isLeft(r)) return t.fail(JSON.stringify(r.left));
      const b = r.right.build;
      const want = await independent(db, { sameSecond: opts.includeSameSecond, lookbackDays: opts.lookbackDays });
      t.log(`${JSON.stringify(opts)}: ${b.journeys} journeys, ${b.sessions} rows, ${b.withoutSessions} without, ${b.conversions} conversions in ${ms} ms`);
      t.deepEqual(
        { conversions: b.conversions, journeys: b.journeys, rows: b.sessions, without: b.withoutSessions },
        { conversions: want.conversions, journeys: want.journeys, rows: want.rows, without: want.conversions - want.journeys },
      );
      t.is(b.invalid, 0);
      // the converting journeys' rows (the non-converting paths have their own tables)
      const [{ n: stored }] = (await db('journey_sessions as js')
        .join('journeys as j', 'j.conv_id', 'js.conv_id')
        .where('j.status', 'ok')
        .whereBetween('js.conv_date', [W.start, W.end])
        .count({ n: '*' })) as [{ n: number }];
      t.is(Number(stored), want.rows);
      t.is(r.right.insights.journeys, want.journeys);
      // every journey: positions 0..n-1, exactly one converting session, and it is the last
      const [bad] = (await db.raw(
        `SELECT COUNT(*) AS n FROM journeys j
          WHERE j.status = 'ok' AND j.conv_date BETWEEN ? AND ?
            AND ((SELECT MAX(position) + 1 FROM journey_sessions x WHERE x.conv_id = j.conv_id) <> j.session_count
              OR (SELECT SUM(conversion) FROM journey_sessions x WHERE x.conv_id = j.conv_id) <> 1
              OR (SELECT position FROM journey_sessions x WHERE x.conv_id = j.conv_id AND x.conversion = 1) <> j.session_count - 1)`,
        [W.start, W.end],
      )) as Array<{ n: number }>;
      t.is(Number(bad!.n), 0);
    }
  } finally {
    await cleanup();
  }
});
