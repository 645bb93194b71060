import * as fs from 'node:fs';
import { parse, type Options } from 'csv-parse';

const OPTIONS: Options = { bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, info: true };

export interface CsvRecord {
  readonly fields: readonly string[];
  /** line of the file where the record ends (1-based) */
  readonly line: number;
}

/** Streams records; memory stays flat whatever the file size. */
export async function* readCsv(file: string): AsyncGenerator<CsvRecord> {
  const parser = fs.createReadStream(file).pipe(parse(OPTIONS));
  for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    yield { fields: item.record, line: item.info.lines };
  }
}

/** The header alone, read before anything is written so a wrong file stops the load early. */
export async function readHeader(file: string): Promise<string[] | undefined> {
  for await (const rec of readCsv(file)) return [...rec.fields];
  return undefined;
}

/** Data lines in a file (newlines minus the header), for progress totals; cheap next to parsing. */
export async function countDataLines(file: string): Promise<number> {
  let lines = 0;
  let last = 10;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
    if (chunk.length > 0) last = chunk[chunk.length - 1]!;
  }
  if (last !== 10) lines++;
  return Math.max(0, lines - 1);
}
