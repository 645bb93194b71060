import type { CsvRecord } from './csv.js';
import { Bad, Id, Text, trimCell, type Reason } from './fields.js';
import type { Kind } from './kinds.js';

/** Why one row of a file is not loaded, with what the quarantine table stores about it. */
export interface Problem {
  readonly line: number;
  readonly field: string | null;
  readonly reason: Reason;
  readonly detail: string;
  readonly key: string | null;
  readonly raw: string | null;
}

/** What one batch of records decodes to: checked rows ([line, ...columns in the kind's order]) and the rest. */
export interface DecodedBatch {
  readonly rows: unknown[][];
  readonly problems: Problem[];
  /** data records read (the header is not one) */
  readonly read: number;
}

/**
 * Decodes a file's records batch by batch: the first record is the header (already checked against the
 * kind), every later one becomes a row of typed values or a Problem naming line, field and reason. Plain
 * data in and out, so it runs on either side of a worker thread.
 */
export function makeDecoder(kind: Kind): (batch: readonly CsvRecord[]) => DecodedBatch {
  const cols = Object.keys(kind.columns);
  const checks = cols.map((c) => kind.columns[c]!);
  // Ids and names are stored as given: trimming them would make " x" and "x" (or "x" with a trailing
  // no-break space) one key, a silent collision. The reader already drops unquoted spaces around a field;
  // dates, flags and amounts are trimmed because no two of their readings collide.
  const trims = checks.map((c) => c !== Id && c !== Text);
  let header: string[] | undefined;
  let colIndex: number[] = [];
  let keyIndex = -1;
  return (batch) => {
    const rows: unknown[][] = [];
    const problems: Problem[] = [];
    let read = 0;
    for (const rec of batch) {
      if (header === undefined) {
        header = rec.fields.map((h) => h.trim());
        colIndex = cols.map((c) => header!.indexOf(c));
        keyIndex = header.indexOf(kind.key);
        continue;
      }
      read++;
      const fields = rec.fields;
      const h = header;
      const rawObj = (): string => JSON.stringify(Object.fromEntries(h.map((name, i) => [name, fields[i] ?? ''])));
      const keyValue = (): string | null => trimCell(fields[keyIndex] ?? '') || null;
      if (rec.fieldCount !== h.length) {
        problems.push({ line: rec.line, field: null, reason: 'wrong_field_count', detail: `${rec.fieldCount} fields, the header has ${h.length}`, key: keyValue(), raw: JSON.stringify(fields) });
      } else if (rec.problems !== undefined) {
        const first = rec.problems[0]!;
        problems.push({
          line: rec.line,
          field: h[first.index] ?? null,
          reason: first.reason,
          detail: rec.problems.map((p) => `${h[p.index] ?? `field ${p.index + 1}`}: ${p.detail}`).join('; '),
          key: keyValue(),
          raw: rawObj(),
        });
      } else {
        const row: unknown[] = new Array(cols.length + 1);
        row[0] = rec.line;
        let errors: { field: string; bad: Bad }[] | undefined;
        for (let j = 0; j < checks.length; j++) {
          const raw = fields[colIndex[j]!]!;
          const v = checks[j]!(trims[j] ? trimCell(raw) : raw);
          if (v instanceof Bad) (errors ??= []).push({ field: cols[j]!, bad: v });
          else row[j + 1] = v;
        }
        if (errors === undefined) rows.push(row);
        else {
          problems.push({
            line: rec.line,
            field: errors[0]!.field,
            reason: errors[0]!.bad.reason,
            detail: errors.map((e) => `${e.field}: ${e.bad.detail}`).join('; '),
            key: keyValue(),
            raw: rawObj(),
          });
        }
      }
    }
    return { rows, problems, read };
  };
}
