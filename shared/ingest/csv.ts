import * as fs from 'node:fs';
import { isUtf8 } from 'node:buffer';

/**
 * A CSV reader that works on bytes, not on decoded text: decoding first would turn invalid UTF-8 into
 * U+FFFD and make different byte strings equal (two keys colliding into one row). Records end at LF,
 * CRLF or a lone CR, each on its own, so a file with mixed line endings never merges two rows. Fields are
 * trimmed of spaces and tabs; quoted fields follow RFC 4180 ("" is a quote). Memory stays flat: a field
 * longer than the limit is flagged and not kept, and so are fields beyond the field limit.
 */

export type FieldProblemReason = 'bad_encoding' | 'control_character' | 'field_too_long';

export interface FieldProblem {
  /** 0-based position of the field in the record */
  readonly index: number;
  readonly reason: FieldProblemReason;
  readonly detail: string;
}

export interface CsvRecord {
  readonly fields: readonly string[];
  /** line of the file where the record ends (1-based) */
  readonly line: number;
  /** fields that cannot be stored faithfully; their value in `fields` is a printable stand-in */
  readonly problems?: readonly FieldProblem[];
  /** fields counted, when more than `maxFields` were found (the rest were not kept) */
  readonly fieldCount: number;
}

export interface CsvLimits {
  /** bytes per field after trimming; longer fields are flagged field_too_long */
  readonly maxFieldBytes: number;
  /** fields kept per record; more are counted only */
  readonly maxFields: number;
}

export const DEFAULT_LIMITS: CsvLimits = { maxFieldBytes: 1 << 20, maxFields: 1000 };

export class CsvSyntaxError extends Error {
  constructor(readonly line: number, readonly detail: string) {
    super(`line ${line}: ${detail}`);
  }
}

const COMMA = 0x2c;
const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;

const enum S {
  FieldStart,
  Unquoted,
  Quoted,
  QuoteInQuoted,
  AfterQuoted,
}

/** Printable stand-in for bytes that cannot be stored: ASCII as is, anything else as \xNN. */
export function escapeBytes(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return s;
}

/** Incremental parser: feed chunks, get whole records back. */
export class CsvParser {
  private state = S.FieldStart;
  private buf: Buffer;
  private len = 0;
  /** bytes of the field seen (may exceed what is kept) */
  private seen = 0;
  /** length of buf without trailing spaces/tabs, for trimming unquoted fields */
  private trimmedLen = 0;
  private high = false;
  private ctrl = false;
  private quoted = false;
  private fields: string[] = [];
  private fieldCount = 0;
  private problems: FieldProblem[] | undefined;
  private line = 1;
  private quoteLine = 0;
  private pendingCR = false;
  private crInQuoted = false;
  private atFileStart = true;
  private recordHasContent = false;

  constructor(private readonly limits: CsvLimits = DEFAULT_LIMITS) {
    this.buf = Buffer.allocUnsafe(Math.min(4096, limits.maxFieldBytes));
  }

  private push(c: number): void {
    this.seen++;
    if (this.len >= this.limits.maxFieldBytes) return;
    if (this.len === this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.min(this.buf.length * 2, this.limits.maxFieldBytes));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    this.buf[this.len++] = c;
    if (c >= 0x80) this.high = true;
    else if (c < 0x20 || c === 0x7f) this.ctrl = true;
  }

  private endField(): void {
    const len = this.quoted ? this.len : this.trimmedLen;
    const seen = this.quoted ? this.seen : this.seen - (this.len - this.trimmedLen);
    this.addField(this.buf, 0, len, seen, this.high, this.ctrl);
    this.len = 0;
    this.seen = 0;
    this.trimmedLen = 0;
    this.high = false;
    this.ctrl = false;
    this.quoted = false;
  }

  /** The field held by src[start, end): `seen` bytes long before the limit cut it, with bytes >= 0x80 (high) or control bytes. */
  private addField(src: Buffer, start: number, end: number, seen: number, high: boolean, ctrl: boolean): void {
    const index = this.fieldCount++;
    if (index >= this.limits.maxFields) return;
    let value: string;
    let problem: FieldProblem | undefined;
    if (seen > this.limits.maxFieldBytes) {
      value = `${escapeBytes(src.subarray(start, Math.min(end, start + 40)))}...`;
      problem = { index, reason: 'field_too_long', detail: `the field has ${seen.toLocaleString('en-US')} bytes, more than the limit of ${this.limits.maxFieldBytes.toLocaleString('en-US')}` };
    } else if (high && !isUtf8(src.subarray(start, end))) {
      value = escapeBytes(src.subarray(start, end));
      problem = { index, reason: 'bad_encoding', detail: `"${value}" is not valid UTF-8` };
    } else if (ctrl) {
      value = escapeBytes(src.subarray(start, end));
      problem = { index, reason: 'control_character', detail: `"${value}" holds a control character` };
    } else {
      value = src.toString(high ? 'utf8' : 'latin1', start, end);
    }
    this.fields.push(value);
    if (problem !== undefined) (this.problems ??= []).push(problem);
  }

  private endRecord(out: CsvRecord[]): void {
    this.endField();
    this.finishRecord(out);
  }

  /** The record's last field is already added. */
  private finishRecord(out: CsvRecord[]): void {
    const empty = this.fieldCount === 1 && !this.recordHasContent;
    if (!empty) {
      out.push(
        this.problems === undefined
          ? { fields: this.fields, line: this.line, fieldCount: this.fieldCount }
          : { fields: this.fields, line: this.line, fieldCount: this.fieldCount, problems: this.problems },
      );
    }
    this.fields = [];
    this.fieldCount = 0;
    this.problems = undefined;
    this.recordHasContent = false;
    this.state = S.FieldStart;
  }

  /**
   * Fast path for an unquoted field that ends inside this chunk (most fields): one scan for its end, the value
   * taken from the chunk itself, the same checks as byte by byte. Returns the index of the byte that ended
   * it (a comma or a line break, already handled), or -1 when the byte-by-byte path must take the field
   * (it runs past the chunk, meets a quote, or is longer than the limit).
   */
  private unquotedField(chunk: Buffer, i: number, out: CsvRecord[]): number {
    const n = chunk.length;
    let high = false;
    let ctrl = false;
    let j = i;
    for (; j < n; j++) {
      const d = chunk[j]!;
      if (d === COMMA || d === LF || d === CR || d === QUOTE) break;
      if (d >= 0x80) high = true;
      else if (d < 0x20 || d === 0x7f) ctrl = true;
    }
    if (j === n || chunk[j] === QUOTE || j - i > this.limits.maxFieldBytes) return -1;
    let end = j;
    while (chunk[end - 1] === SPACE || chunk[end - 1] === TAB) end--;
    this.recordHasContent = true;
    this.addField(chunk, i, end, end - i, high, ctrl);
    const c = chunk[j]!;
    if (c !== COMMA) {
      this.finishRecord(out);
      this.line++;
      if (c === CR) this.pendingCR = true;
    }
    return j;
  }

  /** Parses one chunk; records completed in it are appended to `out`. */
  feed(bytes: Uint8Array, out: CsvRecord[]): void {
    const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let i = 0;
    if (this.atFileStart && chunk.length > 0) {
      // a UTF-8 byte order mark is not part of the first column's name
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) i = 3;
      this.atFileStart = false;
    }
    const n = chunk.length;
    for (; i < n; i++) {
      const c = chunk[i]!;
      if (this.pendingCR) {
        this.pendingCR = false;
        if (c === LF) continue; // CRLF: the CR already ended the record and counted the line
      }
      switch (this.state) {
        case S.FieldStart:
          if (c === SPACE || c === TAB) break;
          if (c === QUOTE) {
            this.state = S.Quoted;
            this.quoted = true;
            this.quoteLine = this.line;
            this.recordHasContent = true;
          } else if (c === COMMA) {
            this.recordHasContent = true;
            this.endField();
          } else if (c === LF || c === CR) {
            this.lineBreak(c, out);
          } else {
            const ended = this.unquotedField(chunk, i, out);
            if (ended >= 0) {
              i = ended;
              break;
            }
            this.state = S.Unquoted;
            this.recordHasContent = true;
            this.push(c);
            this.trimmedLen = this.len;
          }
          break;
        case S.Unquoted:
          if (c === COMMA) {
            this.endField();
            this.state = S.FieldStart;
          } else if (c === LF || c === CR) {
            this.lineBreak(c, out);
          } else if (c === QUOTE) {
            throw new CsvSyntaxError(this.line, `a quote inside an unquoted field (field ${this.fieldCount + 1}); quote the whole field and double the quote`);
          } else {
            this.push(c);
            if (c !== SPACE && c !== TAB) this.trimmedLen = this.len;
          }
          break;
        case S.Quoted:
          if (c === QUOTE) this.state = S.QuoteInQuoted;
          else {
            // a line break inside quotes still counts as a line (CRLF once), so later line numbers stay right
            if (c === CR || (c === LF && !this.crInQuoted)) this.line++;
            this.crInQuoted = c === CR;
            this.push(c);
          }
          break;
        case S.QuoteInQuoted:
          if (c === QUOTE) {
            this.push(c);
            this.state = S.Quoted;
          } else if (c === COMMA) {
            this.endField();
            this.state = S.FieldStart;
          } else if (c === LF || c === CR) {
            this.lineBreak(c, out);
          } else if (c === SPACE || c === TAB) {
            this.state = S.AfterQuoted;
          } else {
            throw new CsvSyntaxError(this.line, `unexpected character after the closing quote of field ${this.fieldCount + 1}`);
          }
          break;
        case S.AfterQuoted:
          if (c === COMMA) {
            this.endField();
            this.state = S.FieldStart;
          } else if (c === LF || c === CR) {
            this.lineBreak(c, out);
          } else if (c !== SPACE && c !== TAB) {
            throw new CsvSyntaxError(this.line, `unexpected character after the closing quote of field ${this.fieldCount + 1}`);
          }
          break;
      }
    }
  }

  private lineBreak(c: number, out: CsvRecord[]): void {
    this.endRecord(out);
    this.line++;
    if (c === CR) this.pendingCR = true;
  }

  /** End of input: the last record may lack a line break; an open quote is an error. */
  end(out: CsvRecord[]): void {
    if (this.state === S.Quoted) throw new CsvSyntaxError(this.quoteLine, 'a quoted field is not closed before the end of the file');
    if (this.state !== S.FieldStart || this.fieldCount > 0 || this.recordHasContent) {
      this.endRecord(out);
    }
  }
}

/**
 * Bytes read per batch. Small enough that a batch's packed text (packed.ts: its string values as one string)
 * stays below V8's large-object size (128 KiB): a larger string is allocated outside the young generation and
 * freed only by a full collection, so with 1 MiB chunks both the reader thread and the loading thread piled up
 * dead batch strings between full collections, and V8 let that pile grow with the run (the load's peak RSS at
 * scale 10: 292-302 MB with 1 MiB, 275 with 256 KiB, 191-193 with 64 or 128 KiB, at the same CPU).
 */
export const READ_CHUNK_BYTES = 1 << 16;

/** Streams records in batches (one per chunk read); memory stays flat whatever the file size. */
export async function* readCsvBatches(file: string, limits: CsvLimits = DEFAULT_LIMITS): AsyncGenerator<CsvRecord[]> {
  const parser = new CsvParser(limits);
  for await (const chunk of fs.createReadStream(file, { highWaterMark: READ_CHUNK_BYTES }) as AsyncIterable<Buffer>) {
    const out: CsvRecord[] = [];
    parser.feed(chunk, out);
    if (out.length > 0) yield out;
  }
  const out: CsvRecord[] = [];
  parser.end(out);
  if (out.length > 0) yield out;
}

/** Records one by one; a field that cannot be read faithfully is an error here (callers without a quarantine). */
export async function* readCsv(file: string, limits: CsvLimits = DEFAULT_LIMITS): AsyncGenerator<CsvRecord> {
  for await (const batch of readCsvBatches(file, limits)) {
    for (const rec of batch) {
      const p = rec.problems?.[0];
      if (p !== undefined) throw new CsvSyntaxError(rec.line, `field ${p.index + 1}: ${p.reason}: ${p.detail}`);
      yield rec;
    }
  }
}

/** The header alone, read before anything is written so a wrong file stops the load early. */
export async function readHeader(file: string): Promise<string[] | undefined> {
  for await (const rec of readCsv(file)) return [...rec.fields];
  return undefined;
}

/** Data lines in a file (line breaks minus the header), for progress totals; cheap next to parsing. */
export async function countDataLines(file: string): Promise<number> {
  let lines = 0;
  let last = LF;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    if (chunk.length === 0) continue;
    // indexOf is a native memchr: a line is a LF, a CR, or a CRLF counted once (by its CR)
    for (let i = chunk.indexOf(LF); i >= 0; i = chunk.indexOf(LF, i + 1)) if ((i > 0 ? chunk[i - 1] : last) !== CR) lines++;
    for (let i = chunk.indexOf(CR); i >= 0; i = chunk.indexOf(CR, i + 1)) lines++;
    last = chunk[chunk.length - 1]!;
  }
  if (last !== LF && last !== CR) lines++;
  return Math.max(0, lines - 1);
}
