import { parentPort, workerData } from 'node:worker_threads';
import { CsvSyntaxError, readCsvBatches, type CsvLimits } from './csv.js';
import { makeDecoder } from './decode.js';
import { kindByName, type Kind } from './kinds.js';
import { AHEAD, packRows, type FromReader } from './packed.js';

/**
 * The load's reader thread: parses and decodes one file and posts its batches to the loading thread, which
 * only stages them. At most AHEAD batches are on their way at once, so memory stays flat whatever the file.
 */
const { path, kind, limits } = workerData as { path: string; kind: Kind['name']; limits: CsvLimits };
const port = parentPort!;
let credits = AHEAD;
let wake: (() => void) | undefined;
port.on('message', () => {
  credits++;
  wake?.();
  wake = undefined;
});

const post = (m: FromReader, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

try {
  const decode = makeDecoder(kindByName(kind));
  for await (const batch of readCsvBatches(path, limits)) {
    const d = decode(batch);
    if (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
    credits--;
    const rows = packRows(d.rows);
    post({ tag: 'batch', rows, problems: d.problems, read: d.read }, [rows.nums.buffer as ArrayBuffer, rows.ends.buffer as ArrayBuffer, rows.tags.buffer as ArrayBuffer]);
  }
  post({ tag: 'done' });
} catch (e) {
  post(e instanceof CsvSyntaxError ? { tag: 'syntax', line: e.line, detail: e.detail } : { tag: 'failed', message: e instanceof Error ? e.message : String(e) });
} finally {
  port.close();
}
