import * as t from 'io-ts';
import { isIsoDate, isIsoTime } from '../window.js';

/**
 * Field codecs for CSV cells (strings in, typed values out). Each failure message starts with a reason
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
  'duplicate_key',
  'wrong_field_count',
] as const;
export type Reason = (typeof REASONS)[number];

const fail = (reason: Reason, text: string) => (u: unknown, c: t.Context) => t.failure<never>(u, c, `${reason}: ${text}`);

function cell<A>(name: string, decode: (s: string, u: unknown, c: t.Context) => t.Validation<A>) {
  return new t.Type<A, string, unknown>(
    name,
    (u): u is A => u !== undefined,
    (u, c) => (typeof u !== 'string' ? t.failure(u, c, 'missing_field: no value') : decode(u.trim(), u, c)),
    (a) => String(a),
  );
}

export const Id = cell<string>('id', (s, u, c) => (s === '' ? fail('empty_id', 'the id is empty')(u, c) : t.success(s)));

export const Text = cell<string>('text', (s, u, c) => (s === '' ? fail('missing_field', 'the value is empty')(u, c) : t.success(s)));

export const DateCell = cell<string>('date', (s, u, c) =>
  s === '' ? fail('missing_field', 'the date is empty')(u, c) : isIsoDate(s) ? t.success(s) : fail('bad_date', `"${s}" is not a date written YYYY-MM-DD`)(u, c),
);

export const TimeCell = cell<string>('time', (s, u, c) =>
  s === '' ? fail('missing_field', 'the time is empty')(u, c) : isIsoTime(s) ? t.success(s) : fail('bad_time', `"${s}" is not a time written HH:MM:SS`)(u, c),
);

export const Flag = cell<0 | 1>('flag', (s, u, c) =>
  s === '0' ? t.success(0) : s === '1' ? t.success(1) : s === '' ? fail('missing_field', 'the flag is empty')(u, c) : fail('bad_flag', `"${s}" is not 0 or 1`)(u, c),
);

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function amount(s: string, u: unknown, c: t.Context): t.Validation<number> {
  if (!NUMBER.test(s)) return fail('bad_number', `"${s}" is not a number (use a dot for decimals, no currency sign)`)(u, c);
  const n = Number(s);
  if (!Number.isFinite(n)) return fail('bad_number', `"${s}" is out of range`)(u, c);
  if (n < 0) return fail('negative_value', `${s} is negative`)(u, c);
  return t.success(n);
}

export const Money = cell<number>('amount', (s, u, c) => (s === '' ? fail('missing_field', 'the amount is empty')(u, c) : amount(s, u, c)));

/** An empty cost cell means "unknown cost": the challenge schema allows NULL there. */
export const OptionalMoney = cell<number | null>('amount or empty', (s, u, c) => (s === '' ? t.success(null) : amount(s, u, c)));

export function reasonOf(message: string | undefined): Reason {
  const code = message?.split(':')[0] ?? '';
  return (REASONS as readonly string[]).includes(code) ? (code as Reason) : 'missing_field';
}
