import { Worker } from 'node:worker_threads';
import { CsvSyntaxError, type CsvLimits } from './csv.js';
import type { DecodedBatch, Problem } from './decode.js';
import type { Kind } from './kinds.js';

/** Batches the reader thread may have posted that the loading thread has not yet taken. */
export const AHEAD = 3;

/**
 * Checked rows in a form that crosses to another thread cheaply: a row array per record cost the loading
 * thread about as much to receive (structured clone, value by value) as parsing it. Here every string
 * value is a range of one string and every number a slot of a typed array, so receiving a batch is one
 * string copy and three moved buffers, and the strings taken out of it are slices that copy nothing.
 */
export interface PackedRows {
  readonly width: number;
  /** the string values, one after the other */
  readonly text: string;
  /** per value: 0 NULL, 1 number (in nums), 2 string (the next range of text) */
  readonly tags: Uint8Array;
  readonly nums: Float64Array;
  /** where each string value ends in text, in order */
  readonly ends: Uint32Array;
}

const NULL = 0;
const NUMBER = 1;
const STRING = 2;

export function packRows(rows: readonly (readonly unknown[])[]): PackedRows {
  const width = rows[0]?.length ?? 0;
  const n = rows.length * width;
  const tags = new Uint8Array(n);
  const nums = new Float64Array(n);
  const ends = new Uint32Array(n);
  // appended one by one (V8 keeps the pieces until the string is sent): a little faster than a join
  let text = '';
  let s = 0;
  let i = 0;
  for (const row of rows) {
    if (row.length !== width) throw new Error(`packRows: a row of ${row.length} values among rows of ${width}`);
    for (const v of row) {
      if (typeof v === 'string') {
        tags[i] = STRING;
        text += v;
        ends[s++] = text.length;
      } else if (typeof v === 'number') {
        tags[i] = NUMBER;
        nums[i] = v;
      } else if (v === null || v === undefined) tags[i] = NULL;
      else throw new Error(`packRows: a value of type ${typeof v}`);
      i++;
    }
  }
  return { width, text, tags, nums, ends: ends.slice(0, s) };
}

export function unpackRows(p: PackedRows): unknown[][] {
  const rows: unknown[][] = [];
  let s = 0;
  let from = 0;
  for (let i = 0; i < p.tags.length; ) {
    const row: unknown[] = new Array(p.width);
    for (let j = 0; j < p.width; j++, i++) {
      const tag = p.tags[i];
      if (tag === STRING) {
        const to = p.ends[s++]!;
        row[j] = p.text.slice(from, to);
        from = to;
      } else row[j] = tag === NUMBER ? p.nums[i] : null;
    }
    rows.push(row);
  }
  return rows;
}

/** What the reader thread posts: a batch, the end of the file, or why it stopped. */
export type FromReader =
  | { readonly tag: 'batch'; readonly rows: PackedRows; readonly problems: Problem[]; readonly read: number }
  | { readonly tag: 'done' }
  | { readonly tag: 'syntax'; readonly line: number; readonly detail: string }
  | { readonly tag: 'failed'; readonly message: string };

/**
 * A file's decoded batches, parsed and checked on a reader thread (read-worker.ts) while this thread stages
 * the batches before them: the load used one of the machine's cores. A CSV that cannot be parsed throws
 * CsvSyntaxError here, as the reader would in this thread; stopping early (an error while staging) ends the
 * reader thread.
 */
export async function* decodedBatches(path: string, kind: Kind, limits: CsvLimits): AsyncGenerator<DecodedBatch> {
  const worker = new Worker(new URL('./read-worker.js', import.meta.url), { workerData: { path, kind: kind.name, limits } });
  const queue: FromReader[] = [];
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const woken = (): void => {
    wake?.();
    wake = undefined;
  };
  worker.on('message', (m: FromReader) => {
    queue.push(m);
    woken();
  });
  worker.on('error', (e: Error) => {
    failed = e;
    woken();
  });
  worker.on('exit', () => {
    failed ??= new Error('the CSV reader thread stopped before the end of the file');
    woken();
  });
  try {
    for (;;) {
      const m = queue.shift();
      if (m === undefined) {
        if (failed !== undefined) throw failed;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (m.tag === 'done') return;
      if (m.tag === 'syntax') throw new CsvSyntaxError(m.line, m.detail);
      if (m.tag === 'failed') throw new Error(m.message);
      worker.postMessage(1);
      yield { rows: unpackRows(m.rows), problems: m.problems, read: m.read };
    }
  } finally {
    await worker.terminate();
  }
}
