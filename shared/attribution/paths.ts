import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { chronologicalOrder, type Stamped } from './journey.js';
import type { Journey } from './types.js';

/**
 * Aggregated paths: the interchange shape `path,total_conversions,total_conversion_value,total_null`, with
 * channels joined by `>`. One PathCount is one distinct path with how many journeys along it converted
 * (and their value) and how many did not.
 */
export interface PathCount {
  /** channels in journey order, never empty */
  readonly channels: readonly string[];
  readonly conversions: number;
  readonly value: number;
  readonly nulls: number;
}

export const PATH_SEPARATOR = '>';

/** PathAggregator's keys: the channels joined by this (the database's joined sequences use the same) */
export const PATH_KEY_SEPARATOR = '\u001f';

/** Splits `a > b>c` into channels, trimming blanks; empty channels are an error (named by position). */
export function splitPath(path: string): E.Either<string, string[]> {
  const parts = path.split(PATH_SEPARATOR).map((p) => p.trim());
  if (parts.length === 1 && parts[0] === '') return E.left('path is empty');
  const blank = parts.findIndex((p) => p === '');
  if (blank >= 0) return E.left(`channel ${blank + 1} of the path is empty`);
  return E.right(parts);
}

/** `a>a>b>a` -> `a>b>a`: consecutive repeats of a channel count once. */
export function collapseRepeats(channels: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of channels) if (out.length === 0 || out[out.length - 1] !== c) out.push(c);
  return out;
}

/** A count or amount written in a CSV cell: a finite number >= 0 (blank means 0 for the optional columns). */
const NonNegativeFromString = new t.Type<number, string, unknown>(
  'number >= 0',
  (u): u is number => typeof u === 'number' && Number.isFinite(u) && u >= 0,
  (u, c) => {
    const s = typeof u === 'string' ? u.trim() : u;
    const n = typeof s === 'number' ? s : typeof s === 'string' && s !== '' ? Number(s) : NaN;
    return Number.isFinite(n) && n >= 0 ? t.success(n) : t.failure(u, c);
  },
  String,
);

const OptionalAmount = t.union([t.undefined, t.literal(''), NonNegativeFromString]);

export const PathCsvRow = t.intersection([
  t.type({ path: t.string, total_conversions: NonNegativeFromString }),
  t.partial({ total_conversion_value: OptionalAmount, total_null: OptionalAmount }),
]);
export type PathCsvRow = t.TypeOf<typeof PathCsvRow>;

export const REQUIRED_PATH_COLUMNS = ['path', 'total_conversions'] as const;
export const OPTIONAL_PATH_COLUMNS = ['total_conversion_value', 'total_null'] as const;

const amount = (v: number | '' | undefined): number => (typeof v === 'number' ? v : 0);

export interface PathRowError {
  readonly file: string;
  readonly line: number;
  readonly field: string;
  readonly message: string;
}

export function describePathRowError(e: PathRowError): string {
  return `${e.file}, line ${e.line}, field "${e.field}": ${e.message}`;
}

/**
 * Decodes one CSV record (column name -> cell text). A bad row is reported with file, line and field.
 * `total_conversion_value` and `total_null` may be missing or blank (0).
 */
export function decodePathRow(record: Record<string, unknown>, file: string, line: number): E.Either<PathRowError, PathCount> {
  const decoded = PathCsvRow.decode(record);
  if (E.isLeft(decoded)) {
    const err = decoded.left[0];
    const field = err?.context.map((c) => c.key).filter((k) => k !== '' && !/^\d+$/.test(k))[0] ?? 'row';
    const got = err === undefined || err.value === undefined ? 'nothing' : JSON.stringify(err.value);
    const expected = field === 'path' ? 'text' : 'a number >= 0';
    return E.left({ file, line, field, message: `expected ${expected}, got ${got}` });
  }
  const row = decoded.right;
  const channels = splitPath(row.path);
  if (E.isLeft(channels)) return E.left({ file, line, field: 'path', message: channels.left });
  return E.right({
    channels: channels.right,
    conversions: row.total_conversions,
    value: amount(row.total_conversion_value),
    nulls: amount(row.total_null),
  });
}

/** Channels of a journey in journey order (timestamp, then sessionId). */
export function journeyChannels(journey: Journey): string[] {
  return channelsInOrder(journey.sessions);
}

/** The sessions' channels in journey order (timestamp, then sessionId), for sessions not yet made into a Journey. */
export function channelsInOrder(s: ReadonlyArray<Stamped & { readonly channel: string }>): string[] {
  const order = chronologicalOrder(s);
  return order === null ? s.map((x) => x.channel) : Array.from(order, (i) => s[i]!.channel);
}

/** A distinct path in PathAggregator: its counts, and in which of the two views it was added (VIEW_* bits). */
interface Slot {
  readonly channels: readonly string[];
  conversions: number;
  value: number;
  nulls: number;
  /** paths without an order counted once per user (the incremental model's unit), see PathAggregator.addKey */
  userNulls: number;
  views: number;
}

const VIEW_PATHS = 1;
const VIEW_USERS = 2;

/**
 * Merges paths with the same channel sequence. Stored journeys become paths with one conversion each and the
 * journey's revenue as value (`pathsFromJourneys`). Memory grows with the number of distinct paths, not journeys.
 *
 * It keeps two views of the paths without an order over one set of distinct paths: counted per path (`paths()`)
 * and counted per user (`userPaths()`, the incremental model's). The converting paths are the same in both and
 * most non-converting sequences are too: two aggregates held every sequence, its channels and its key twice.
 */
export class PathAggregator {
  private readonly byKey = new Map<string, Slot>();
  /**
   * one string per channel name: the caller's names are fresh strings of each database row, and a distinct path
   * that kept them held its own copy of every name for as long as the aggregate lived
   */
  private readonly names = new Map<string, string>();

  /** a path in both views (a converting journey, a path read from a file) */
  add(channels: readonly string[], conversions: number, value: number, nulls: number): void {
    if (channels.length === 0) return;
    const key = channels.join(PATH_KEY_SEPARATOR);
    const hit = this.byKey.get(key);
    if (hit === undefined) this.byKey.set(key, this.slot(channels.map((c) => this.name(c)), conversions, value, nulls, VIEW_PATHS | VIEW_USERS));
    else this.count(hit, conversions, value, nulls, VIEW_PATHS | VIEW_USERS);
  }

  /**
   * add() of `key.split(PATH_KEY_SEPARATOR)`, split only when the sequence is new: the non-converting paths come
   * from the database already joined, as distinct sequences, and most of them are in the aggregate already.
   * `view`, for paths without an order: the sequence and its nulls belong to the per-path view only (paths) or to
   * the per-user one (userPaths); conversions and value are the slot's, which both views show.
   */
  addKey(key: string, conversions: number, value: number, nulls: number, view: 'both' | 'paths' | 'users' = 'both'): void {
    const views = view === 'paths' ? VIEW_PATHS : view === 'users' ? VIEW_USERS : VIEW_PATHS | VIEW_USERS;
    const hit = this.byKey.get(key);
    if (hit === undefined) this.byKey.set(key, this.slot(key.split(PATH_KEY_SEPARATOR).map((c) => this.name(c)), conversions, value, nulls, views));
    else this.count(hit, conversions, value, nulls, views);
  }

  private slot(channels: readonly string[], conversions: number, value: number, nulls: number, views: number): Slot {
    return { channels, conversions, value, nulls: views & VIEW_PATHS ? nulls : 0, userNulls: views & VIEW_USERS ? nulls : 0, views };
  }

  private count(s: Slot, conversions: number, value: number, nulls: number, views: number): void {
    s.conversions += conversions;
    s.value += value;
    if (views & VIEW_PATHS) s.nulls += nulls;
    if (views & VIEW_USERS) s.userNulls += nulls;
    s.views |= views;
  }

  private name(c: string): string {
    const known = this.names.get(c);
    if (known !== undefined) return known;
    this.names.set(c, c);
    return c;
  }

  addJourney(journey: Journey): void {
    this.add(journeyChannels(journey), 1, journey.revenue ?? 0, 0);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** the paths added to the per-path view, in the order they were first added */
  paths(): PathCount[] {
    const out: PathCount[] = [];
    // the slots themselves (a PathCount with two more fields): a copy of each would be alive beside it through the fits
    for (const s of this.byKey.values()) if (s.views & VIEW_PATHS) out.push(s);
    return out;
  }

  /** the paths of the per-user view (their nulls counted per user), in the order they were first added */
  userPaths(): PathCount[] {
    const out: PathCount[] = [];
    for (const s of this.byKey.values()) if (s.views & VIEW_USERS) out.push({ channels: s.channels, conversions: s.conversions, value: s.value, nulls: s.userNulls });
    return out;
  }
}

export function pathsFromJourneys(journeys: Iterable<Journey>): PathCount[] {
  const agg = new PathAggregator();
  for (const j of journeys) agg.addJourney(j);
  return agg.paths();
}

export function aggregatePaths(paths: Iterable<PathCount>): PathCount[] {
  const agg = new PathAggregator();
  for (const p of paths) agg.add(p.channels, p.conversions, p.value, p.nulls);
  return agg.paths();
}
