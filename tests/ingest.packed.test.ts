import test from 'ava';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CsvSyntaxError, READ_CHUNK_BYTES, readCsvBatches } from '../shared/ingest/csv.js';
import { makeDecoder, type DecodedBatch } from '../shared/ingest/decode.js';
import { kindByName } from '../shared/ingest/kinds.js';
import { decodedBatches, packRows, unpackRows } from '../shared/ingest/packed.js';
import { tempDir } from './helpers/env.js';

const LIMITS = { maxFieldBytes: 1024, maxFields: 64 };

test('packed rows cross a thread boundary (structured clone) and come back value for value', (t) => {
  const value = fc.oneof(fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.constant(null));
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }).chain((w) => fc.array(fc.array(value, { minLength: w, maxLength: w }), { maxLength: 30 })), (rows) => {
      const p = packRows(rows);
      t.deepEqual(unpackRows(structuredClone(p, { transfer: [p.nums.buffer as ArrayBuffer, p.ends.buffer as ArrayBuffer, p.tags.buffer as ArrayBuffer] })), rows);
    }),
  );
});

async function inThisThread(file: string): Promise<DecodedBatch[]> {
  const decode = makeDecoder(kindByName('costs'));
  const out: DecodedBatch[] = [];
  for await (const b of readCsvBatches(file, LIMITS)) out.push(decode(b));
  return out;
}

async function onReaderThread(file: string): Promise<DecodedBatch[]> {
  const out: DecodedBatch[] = [];
  for await (const d of decodedBatches(file, kindByName('costs'), LIMITS)) out.push(d);
  return out;
}

test('the reader thread gives the batches, problems and lines that reading in this thread gives; a stop ends it', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'session_costs.csv');
  const lines = ['session_id,cost'];
  const id = (i: number): string => `s${i}`.padEnd(64, 'x');
  // several reads, so that more batches than may be in flight are posted; bad rows among them
  for (let i = 0; i < 60_000; i++) lines.push(i % 9973 === 0 ? `${id(i)},-1` : i % 7919 === 0 ? `${id(i)},x` : `${id(i)}${'é'.repeat(i % 3)},${(i % 500) / 7}`);
  lines.push('"s-last",');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const mine = await inThisThread(file);
  t.true(mine.length > 3);
  t.deepEqual(await onReaderThread(file), mine);
  t.true(mine.some((b) => b.problems.length > 0));

  // stopping after the first batch (an error while staging) ends the thread: the loop returns
  for await (const d of decodedBatches(file, kindByName('costs'), LIMITS)) {
    t.true(d.rows.length > 0);
    break;
  }

  const broken = path.join(dir, 'broken.csv');
  fs.writeFileSync(broken, lines.slice(0, 40_000).join('\n') + '\ns1,"open\n' + lines.slice(40_000, -1).join('\n'));
  const e = await t.throwsAsync(onReaderThread(broken), { instanceOf: CsvSyntaxError });
  const here = await t.throwsAsync(inThisThread(broken), { instanceOf: CsvSyntaxError });
  t.is(e?.message, here?.message);
  t.is(e?.line, 40_001);
});

test("a batch's packed text stays below V8's large-object size (128 KiB), so that dead batches die young", async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'session_sources.csv');
  const lines = ['session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction'];
  const id = (p: string, i: number): string => `${p}${i}`.padEnd(64, 'f');
  for (let i = 0; i < 20_000; i++) lines.push(`${id('s', i)},${id('u', i % 977)},2023-09-01,12:00:00,Paid Search,1,0,0`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  t.true(fs.statSync(file).size > 10 * READ_CHUNK_BYTES);
  const decode = makeDecoder(kindByName('sessions'));
  let batches = 0;
  let rows = 0;
  let largest = 0;
  for await (const b of readCsvBatches(file, LIMITS)) {
    const d = decode(b);
    largest = Math.max(largest, packRows(d.rows).text.length);
    rows += d.rows.length;
    batches++;
  }
  t.is(rows, 20_000);
  t.true(batches > 10);
  t.true(largest > 0 && largest < 128 * 1024, `largest packed text ${largest} characters`);
});
