import test from 'ava';
import fc from 'fast-check';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { countDataLines, CsvParser, CsvSyntaxError, type CsvRecord } from '../shared/ingest/csv.js';
import { tempDir } from './helpers/env.js';

function parse(bytes: Buffer, chunk = bytes.length): CsvRecord[] {
  const p = new CsvParser({ maxFieldBytes: 64, maxFields: 8 });
  const out: CsvRecord[] = [];
  for (let i = 0; i < bytes.length; i += Math.max(1, chunk)) p.feed(bytes.subarray(i, i + Math.max(1, chunk)), out);
  p.end(out);
  return out;
}
const simple = (rs: CsvRecord[]) => rs.map((r) => [r.line, r.fieldCount, ...r.fields, ...(r.problems ?? []).map((p) => `${p.index}:${p.reason}:${p.detail}`)]);

test('quotes, doubled quotes, trimming, a BOM and line breaks inside quotes', (t) => {
  const rs = parse(Buffer.from('\ufeffa , "b,""c""" ,\r\n"x\r\ny",z\n', 'utf8'));
  t.deepEqual(simple(rs), [
    [1, 3, 'a', 'b,"c"', ''],
    [3, 2, 'x\\x0d\\x0ay', 'z', '0:control_character:"x\\x0d\\x0ay" holds a control character'],
  ]);
});

test('records are the same whatever the chunk borders (CRLF and multi-byte characters split across chunks)', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('a', 'é', ',', '"', '""', '\r', '\n', '\r\n', ' ', '\t', 'x'.repeat(30), '\u0000', '\xff'), { maxLength: 40 }),
      fc.integer({ min: 1, max: 7 }),
      (parts, chunk) => {
        const bytes = Buffer.concat(parts.map((p) => (p === '\xff' ? Buffer.from([0xff]) : Buffer.from(p, 'utf8'))));
        let whole: unknown;
        try {
          whole = simple(parse(bytes));
        } catch (e) {
          t.true(e instanceof CsvSyntaxError);
          t.throws(() => parse(bytes, chunk));
          return;
        }
        t.deepEqual(simple(parse(bytes, chunk)), whole);
      },
    ),
  );
});

test('an unclosed quote names the line where it opened', (t) => {
  const e = t.throws(() => parse(Buffer.from('a,b\n"c,d\ne,f\n')));
  t.regex(e!.message, /^line 2: a quoted field is not closed/);
});

test('more fields than kept are counted, not stored', (t) => {
  const [r] = parse(Buffer.from(`${Array.from({ length: 20 }, (_, i) => i).join(',')}\n`));
  t.is(r!.fieldCount, 20);
  t.is(r!.fields.length, 8);
});

test('countDataLines counts LF, CR and CRLF line ends once each, also where a CRLF straddles two reads', async (t) => {
  const dir = tempDir('count-lines-');
  try {
    const file = path.join(dir, 'x.csv');
    const ends = ['\n', '\r', '\r\n'];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('', 'a', 'b,c'), fc.constantFrom(...ends)), { maxLength: 12 }), fc.constantFrom('', 'z'), async (lines, tail) => {
        const text = lines.map(([s, e]) => s + e).join('') + tail;
        fs.writeFileSync(file, text);
        // what the parser counts as lines: a last line without its line end counts too
        const parts = text.split(/\r\n|\r|\n/);
        const counted = parts.length - (parts[parts.length - 1] === '' ? 1 : 0);
        t.is(await countDataLines(file), Math.max(0, counted - 1));
      }),
    );
    // the reader's chunks are 1 MiB: a CR ending one and its LF starting the next is still one line end
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc((1 << 20) - 1, 'a'), Buffer.from('\r\nb\r\n')]));
    t.is(await countDataLines(file), 1);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
