import { isIsoDate, isIsoTime } from '../window.js';

/**
 * Cell checks for CSV fields (strings in, typed values out), plain functions built once and called per
 * cell: a load checks millions of cells, so they allocate nothing on success. A failure carries a reason
 * code, which is what the quarantine table and the summary count by.
 */
export const REASONS = [
  'empty_id',
  'missing_field',
  'bad_date',
  'bad_time',
  'bad_flag',
  'bad_number',
  'negative_value',
  'amount_out_of_range',
  'bad_encoding',
  'control_character',
  'field_too_long',
  'duplicate_key',
  'wrong_field_count',
] as const;
export type Reason = (typeof REASONS)[number];

/**
 * Largest amount (revenue or cost) accepted: beyond it sums over a window could overflow to Infinity or
 * lose every cent, and no single order or session costs that much.
 */
export const MAX_AMOUNT = 1e9;

/** Bytes per field: ids are hashes of 64 characters, names are short; a longer field is a broken file. */
export const MAX_FIELD_BYTES = 1024;

export class Bad {
  constructor(readonly reason: Reason, readonly detail: string) {}
}

export type Cell<A> = (s: string) => A | Bad;

export const Id: Cell<string> = (s) => (s === '' ? new Bad('empty_id', 'the id is empty') : s);

export const Text: Cell<string> = (s) => (s === '' ? new Bad('missing_field', 'the value is empty') : s);

// A file holds few distinct dates: remembering the valid ones skips the calendar check for most cells.
const validDates = new Set<string>();
export const DateCell: Cell<string> = (s) =>
  validDates.has(s) ? s : isIsoDate(s) ? (validDates.size < 100_000 && validDates.add(s), s) : s === '' ? new Bad('missing_field', 'the date is empty') : new Bad('bad_date', `"${s}" is not a date written YYYY-MM-DD`);

export const TimeCell: Cell<string> = (s) =>
  isIsoTime(s) ? s : s === '' ? new Bad('missing_field', 'the time is empty') : new Bad('bad_time', `"${s}" is not a time written HH:MM:SS`);

export const Flag: Cell<0 | 1> = (s) =>
  s === '0' ? 0 : s === '1' ? 1 : s === '' ? new Bad('missing_field', 'the flag is empty') : new Bad('bad_flag', `"${s}" is not 0 or 1`);

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function amount(s: string): number | Bad {
  if (!NUMBER.test(s)) return new Bad('bad_number', `"${s}" is not a number (use a dot for decimals, no currency sign)`);
  const n = Number(s);
  if (n < 0) return new Bad('negative_value', `${s} is negative`);
  if (!(n <= MAX_AMOUNT)) return new Bad('amount_out_of_range', `${s} is above the largest amount accepted, ${MAX_AMOUNT.toLocaleString('en-US')}`);
  return n;
}

export const Money: Cell<number> = (s) => (s === '' ? new Bad('missing_field', 'the amount is empty') : amount(s));

/** An empty cost cell means "unknown cost": the challenge schema allows NULL there. */
export const OptionalMoney: Cell<number | null> = (s) => (s === '' ? null : amount(s));

/** Trims like String.prototype.trim, but only allocates when there is something to trim. */
export function trimCell(s: string): string {
  const n = s.length;
  if (n === 0) return s;
  const a = s.charCodeAt(0);
  const b = s.charCodeAt(n - 1);
  return a > 32 && a < 127 && b > 32 && b < 127 ? s : s.trim();
}
