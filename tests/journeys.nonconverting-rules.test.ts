import test from 'ava';
import { userPaths, type PathRules, type UserSession } from '../shared/journeys/nonconverting.js';

const W = { start: '2023-09-01', end: '2023-09-10' };
const RULES: PathRules = { closeAfterDays: 7, lookbackDays: null, includeSameSecond: false };

/** sessions as "id date time" (channel = id), orders as "date time" */
const s = (spec: string): UserSession => {
  const [session_id, event_date, event_time] = spec.split(' ') as [string, string, string];
  return { session_id, event_date, event_time, channel_name: session_id };
};
const o = (spec: string) => {
  const [date, time] = spec.split(' ') as [string, string];
  return { date, time };
};

interface Case {
  readonly name: string;
  readonly sessions: readonly string[];
  readonly orders?: readonly string[];
  readonly rules?: Partial<PathRules>;
  /** each path as its session ids, then its last date and time */
  readonly paths: ReadonlyArray<readonly [string, string]>;
}

const CASES: readonly Case[] = [
  { name: 'no order: one path while the gaps stay within close_after_days', sessions: ['a 2023-09-01 10:00:00', 'b 2023-09-05 10:00:00'], paths: [['a b', '2023-09-05 10:00:00']] },
  {
    name: 'a gap of exactly close_after_days keeps the path open, one second more closes it',
    sessions: ['a 2023-09-01 10:00:00', 'b 2023-09-08 10:00:00', 'c 2023-09-15 10:00:01'],
    // c alone ends after the window
    paths: [['a b', '2023-09-08 10:00:00']],
  },
  {
    name: 'the closed path stays in the window, the one after the gap belongs to a later window',
    sessions: ['a 2023-09-01 10:00:00', 'b 2023-09-02 10:00:00', 'c 2023-09-09 10:00:01'],
    paths: [['a b', '2023-09-02 10:00:00'], ['c', '2023-09-09 10:00:01']],
  },
  {
    name: 'an order claims every earlier session; the sessions after it form a path',
    sessions: ['a 2023-08-20 10:00:00', 'b 2023-09-02 10:00:00', 'c 2023-09-03 10:00:00', 'd 2023-09-04 10:00:00'],
    orders: ['2023-09-02 12:00:00'],
    paths: [['c d', '2023-09-04 10:00:00']],
  },
  {
    name: 'a session in the order\'s second is not before it by default',
    sessions: ['a 2023-09-02 10:00:00', 'b 2023-09-02 12:00:00'],
    orders: ['2023-09-02 12:00:00'],
    paths: [['b', '2023-09-02 12:00:00']],
  },
  {
    name: 'with include_same_second the order claims the session in its second',
    sessions: ['a 2023-09-02 10:00:00', 'b 2023-09-02 12:00:00'],
    orders: ['2023-09-02 12:00:00'],
    rules: { includeSameSecond: true },
    paths: [],
  },
  {
    name: 'a lookback leaves older sessions unclaimed: a path of their own, cut where the journey begins',
    sessions: ['x 2023-09-01 09:00:00', 'y 2023-09-02 12:00:00', 'z 2023-09-03 12:00:00', 'q 2023-09-04 09:00:00'],
    orders: ['2023-09-03 12:00:00'],
    rules: { lookbackDays: 1 },
    // y is exactly one day before the order (claimed, at the lookback's edge); z is in the order's second
    paths: [['x', '2023-09-01 09:00:00'], ['z q', '2023-09-04 09:00:00']],
  },
  {
    name: 'the nearest following order decides: a far one does not claim under a lookback',
    sessions: ['a 2023-09-01 10:00:00', 'b 2023-09-05 10:00:00'],
    orders: ['2023-09-01 11:00:00', '2023-09-20 10:00:00'],
    rules: { lookbackDays: 3 },
    paths: [['b', '2023-09-05 10:00:00']],
  },
  {
    name: 'a path reaching across the window\'s end belongs to the window of its last session',
    sessions: ['a 2023-09-09 10:00:00', 'b 2023-09-12 10:00:00'],
    paths: [],
  },
  {
    name: 'a path that began before the window and ends in it is the window\'s, whole',
    sessions: ['a 2023-08-28 10:00:00', 'b 2023-08-31 10:00:00', 'c 2023-09-01 10:00:00'],
    paths: [['a b c', '2023-09-01 10:00:00']],
  },
  { name: 'no sessions, no path', sessions: [], orders: ['2023-09-02 12:00:00'], paths: [] },
];

for (const c of CASES) {
  test(`userPaths: ${c.name}`, (t) => {
    const got = userPaths(c.sessions.map(s), (c.orders ?? []).map(o), { ...RULES, ...c.rules }, W);
    t.deepEqual(
      got.map((p) => [p.sessions.map((x) => x.session_id).join(' '), `${p.last_date} ${p.last_time}`]),
      c.paths.map((p) => [...p]),
    );
  });
}
