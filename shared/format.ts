import { maxOf } from './numbers.js';
/**
 * Numbers as they appear in CSVs and the report. One place decides rounding, so the CSV, the printed table and
 * the HTML report always show the same digits for the same value.
 */

export interface Precision {
  /** decimals of money columns (cost, revenue, CPO): config output.money_decimals */
  readonly money: number;
  /** decimals of credit (ihc, attributed orders) and ratios (ROAS): config output.ratio_decimals */
  readonly ratio: number;
}

/**
 * Half away from zero at the decimal digit a person reads: 1.005 -> "1.01" (plain toFixed gives "1.00" because
 * 1.005 is stored as 1.00499...). The exponent shift works on the shortest decimal representation of the number.
 * Negative zero and tiny float noise below the last digit print as "0.00", never "-0.00".
 */
export function fixed(value: number, decimals: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`cannot print ${value} as a fixed number`);
  const sign = value < 0 ? -1 : 1;
  const shifted = Math.round(Number(`${Math.abs(value)}e${decimals}`));
  const rounded = Number(`${shifted}e-${decimals}`);
  if (rounded === 0) return (0).toFixed(decimals);
  return (sign * rounded).toFixed(decimals);
}

/** a / b, or undefined when b is 0 (CPO with no attributed order, ROAS with no cost): an empty cell, never inf/NaN. */
export function ratio(numerator: number, divisor: number): number | undefined {
  if (divisor === 0 || !Number.isFinite(divisor) || !Number.isFinite(numerator)) return undefined;
  return numerator / divisor;
}

/** An optional number as a CSV cell: fixed decimals, or "" when there is no value. */
export function cell(value: number | undefined, decimals: number): string {
  return value === undefined ? '' : fixed(value, decimals);
}

/** For people: thousands separators and fixed decimals ("12,345.60"); "–" for no value. */
export function human(value: number | undefined, decimals: number): string {
  if (value === undefined) return '–';
  const s = fixed(value, decimals);
  const [int, frac] = s.split('.');
  const neg = int!.startsWith('-');
  const digits = neg ? int!.slice(1) : int!;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}${grouped}${frac !== undefined ? `.${frac}` : ''}`;
}

export const count = (n: number): string => human(n, 0);

/** Money for people: "€12,345.60". */
export function euros(value: number | undefined, decimals: number): string {
  return value === undefined ? '–' : `€${human(value, decimals)}`;
}

/** A plain-text table for the terminal: numbers right-aligned, text left-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], numeric: readonly boolean[]): string {
  const widths = header.map((h, i) => maxOf(rows.map((r) => (r[i] ?? '').length), h.length));
  const line = (r: readonly string[]): string =>
    r
      .map((v, i) => (numeric[i] === true ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
