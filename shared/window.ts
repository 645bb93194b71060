import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { usageError, type AppError } from './errors.js';

/** A real calendar date written YYYY-MM-DD ("2023-02-30" is refused, not rolled over). */
export function isIsoDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

/** A real time of day written HH:MM:SS. */
export function isIsoTime(s: string): boolean {
  const m = /^(\d{2}):(\d{2}):(\d{2})$/.exec(s);
  return m !== null && Number(m[1]) < 24 && Number(m[2]) < 60 && Number(m[3]) < 60;
}

export interface IsoDateBrand {
  readonly IsoDate: unique symbol;
}
export const IsoDate = t.brand(t.string, (s): s is t.Branded<string, IsoDateBrand> => isIsoDate(s), 'IsoDate');
export type IsoDate = t.TypeOf<typeof IsoDate>;

/** An inclusive range of UTC dates. */
export interface Window {
  readonly start: string;
  readonly end: string;
}

export function decodeWindow(start: unknown, end: unknown): E.Either<AppError, Window> {
  for (const [flag, v] of [['--start-date', start], ['--end-date', end]] as const) {
    if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v)) {
      return E.left(usageError(`${flag} must be a date written YYYY-MM-DD, got ${JSON.stringify(v ?? null)}`));
    }
    if (!isIsoDate(v)) return E.left(usageError(`${flag} ${v} is not a real calendar date`));
  }
  const s = start as string;
  const e = end as string;
  if (s > e) return E.left(usageError(`--start-date ${s} is after --end-date ${e}`));
  return E.right({ start: s, end: e });
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Every date of the window, in order. */
export function datesOf(w: Window): string[] {
  const out: string[] = [];
  for (let d = w.start; d <= w.end; d = addDays(d, 1)) out.push(d);
  return out;
}

/** "YYYY-MM-DD", "HH:MM:SS" -> epoch seconds, UTC. */
export function toEpochSeconds(date: string, time: string): number {
  return Date.parse(`${date}T${time}Z`) / 1000;
}

/** A folder-friendly name of the window, for outputs. */
export function windowSlug(w: Window): string {
  return `${w.start}_${w.end}`;
}
