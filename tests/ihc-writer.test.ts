import test from 'ava';
import { StagingWriter } from '../shared/ihc/writer.js';

/** send-to-api's group commit (shared/ihc/writer.ts) with a recording write instead of the database. */
type Rec = { readonly convIds: readonly string[]; readonly name: string };
const rec = (name: string, journeys = 1): Rec => ({ name, convIds: Array.from({ length: journeys }, (_, i) => `${name}-${i}`) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder(delayMs = 0, failOn?: string) {
  const groups: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const write = async (group: readonly Rec[]): Promise<void> => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await sleep(delayMs);
    inFlight -= 1;
    if (failOn !== undefined && group.some((r) => r.name === failOn)) throw new Error(`cannot write ${failOn}`);
    groups.push(group.map((r) => r.name));
  };
  return { groups, write, maxInFlight: () => maxInFlight };
}

test('batches finished together share a transaction, in order, never more conversions than the limit, one write at a time', async (t) => {
  const r = recorder(5);
  const w = new StagingWriter<Rec>(r.write, { maxPending: 100, maxGroupJourneys: 5, lingerMs: 20 });
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) await w.add(rec(name, 2));
  await w.close();
  t.deepEqual(r.groups.flat(), ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  t.deepEqual(r.groups, [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g']]);
  t.is(r.maxInFlight(), 1);
});

test('a batch larger than the group limit is written alone', async (t) => {
  const r = recorder();
  const w = new StagingWriter<Rec>(r.write, { maxPending: 100, maxGroupJourneys: 3, lingerMs: 10 });
  await w.add(rec('big', 10));
  await w.add(rec('small', 1));
  await w.close();
  t.deepEqual(r.groups, [['big'], ['small']]);
});

test('a lone answer is stored after the linger, without waiting for more or for close (a slow provider)', async (t) => {
  const r = recorder();
  const w = new StagingWriter<Rec>(r.write, { maxPending: 100, maxGroupJourneys: 1000, lingerMs: 30 });
  await w.add(rec('only'));
  t.deepEqual(r.groups, [], 'not before the linger');
  await sleep(200);
  t.deepEqual(r.groups, [['only']]);
  await w.close();
});

test('add waits while more than maxPending batches are queued, so memory stays bounded', async (t) => {
  const r = recorder(40);
  const w = new StagingWriter<Rec>(r.write, { maxPending: 2, maxGroupJourneys: 1, lingerMs: 1000 });
  const started = Date.now();
  for (const name of ['a', 'b', 'c', 'd', 'e']) await w.add(rec(name));
  // with 2 pending allowed, the fifth add returns only after earlier writes (40 ms each) made room
  t.true(Date.now() - started >= 40, `add returned after ${Date.now() - started} ms`);
  t.true(r.groups.length >= 1);
  await w.close();
  t.deepEqual(r.groups.flat(), ['a', 'b', 'c', 'd', 'e']);
});

test('a failed write is thrown by close and by the next add; what followed it is not written', async (t) => {
  const r = recorder(1, 'b');
  const w = new StagingWriter<Rec>(r.write, { maxPending: 100, maxGroupJourneys: 1, lingerMs: 5 });
  await w.add(rec('a'));
  await w.add(rec('b'));
  await w.add(rec('c'));
  await t.throwsAsync(() => w.close(), { message: 'cannot write b' });
  await t.throwsAsync(() => w.add(rec('d')), { message: 'cannot write b' });
  t.deepEqual(r.groups, [['a']]);
});

test('with maxWriters, a second group is written while the first is, each batch once; never more writes than allowed', async (t) => {
  const r = recorder(30);
  const w = new StagingWriter<Rec>(r.write, { maxPending: 100, maxGroupJourneys: 2, lingerMs: 5, maxWriters: 2 });
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
  for (const name of names) await w.add(rec(name));
  await w.close();
  t.deepEqual([...r.groups.flat()].sort(), names);
  t.true(r.groups.every((g) => g.length <= 2), JSON.stringify(r.groups));
  t.is(r.maxInFlight(), 2);
});

test('with maxWriters, a failed write is thrown by close and no group starts after it', async (t) => {
  const r = recorder(20, 'a');
  const w = new StagingWriter<Rec>(r.write, { maxPending: 100, maxGroupJourneys: 1, lingerMs: 1, maxWriters: 2 });
  for (const name of ['a', 'b', 'c', 'd', 'e']) await w.add(rec(name));
  await t.throwsAsync(() => w.close(), { message: 'cannot write a' });
  // 'b' was already being written beside 'a'; nothing was taken after the failure
  t.deepEqual(r.groups, [['b']]);
});
