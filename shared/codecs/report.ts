import * as t from 'io-ts';

export interface DescribeOptions {
  /** prefix of every path ("customer_journeys[3]") */
  readonly root?: string;
  /** how a path is shown to the user, e.g. yargs' `lookbackDays` as the flag `--lookback-days` */
  readonly rename?: (path: string) => string;
  /** the text the user typed for a path, when the decoded value lost it (yargs turns `abc` into NaN) */
  readonly typed?: (path: string) => string | undefined;
}

/**
 * Turns io-ts errors into lines a user can act on: "provider.concurrency: expected a whole number > 0, got 0".
 * io-ts names its types for programmers (`Array<unknown>`, `(undefined | number)`) and reports each member of
 * a union as a separate failure; this says what the user may write, once per key, with the value they wrote.
 */
export function describeErrors(errors: t.Errors, opts: string | DescribeOptions = {}): string[] {
  const o: DescribeOptions = typeof opts === 'string' ? { root: opts } : opts;
  const byPath = new Map<string, { expected: string[]; value: unknown; message?: string }>();
  for (const e of errors) {
    const path = pathOf(e.context);
    const entry = byPath.get(path) ?? { expected: [], value: e.value };
    if (e.message !== undefined) entry.message ??= e.message;
    else {
      const leaf = e.context[e.context.length - 1]?.type;
      // an optional flag or key is `undefined | T`: that it may be absent is no help when a value is present
      if (!(leaf instanceof t.UndefinedType && e.value !== undefined)) entry.expected.push(leaf === undefined ? 'a valid value' : expectedOf(leaf));
    }
    byPath.set(path, entry);
  }
  const lines: string[] = [];
  for (const [path, entry] of byPath) {
    const shown = o.rename !== undefined && path !== '' ? o.rename(path) : path;
    const where = [o.root ?? '', shown].filter((s) => s !== '').join('.') || '(top level)';
    if (entry.message !== undefined) {
      lines.push(`${where}: ${entry.message}`);
      continue;
    }
    const expected = [...new Set(entry.expected)].join(' or ') || 'a valid value';
    const typed = o.typed?.(path);
    if (entry.value === undefined && typed === undefined) lines.push(`${where}: missing, expected ${expected}`);
    else lines.push(`${where}: expected ${expected}, got ${typed !== undefined ? JSON.stringify(typed) : show(entry.value)}`);
  }
  return lines;
}

/** What a type accepts, in words. Refinements and the strict codecs carry a readable name already. */
export function expectedOf(type: t.Decoder<unknown, unknown>): string {
  if (type instanceof t.StringType) return 'a string';
  if (type instanceof t.NumberType) return 'a number';
  if (type instanceof t.BooleanType) return 'true or false';
  if (type instanceof t.NullType) return 'null';
  if (type instanceof t.UndefinedType) return 'nothing';
  if (type instanceof t.UnknownType) return 'a value';
  if (type instanceof t.ArrayType) return 'a list';
  if (type instanceof t.LiteralType) return JSON.stringify(type.value);
  if (type instanceof t.KeyofType) return `one of ${Object.keys(type.keys as object).map((k) => JSON.stringify(k)).join(', ')}`;
  if (type instanceof t.UnionType) return (type.types as Array<t.Decoder<unknown, unknown>>).map(expectedOf).join(' or ');
  if (type instanceof t.InterfaceType || type instanceof t.PartialType || type instanceof t.ExactType || type instanceof t.DictionaryType) return 'an object';
  if (type instanceof t.IntersectionType) return 'an object';
  // io-ts' generated names are code ({ a: string }, Array<...>, (A | B)); hand-written names are words
  return /^[{(]|[<|]/.test(type.name) ? 'a valid value' : type.name;
}

function pathOf(context: t.Context): string {
  const parts: string[] = [];
  for (let i = 1; i < context.length; i++) {
    const entry = context[i]!;
    const parent = context[i - 1]!.type;
    // members of unions/intersections are numbered by io-ts; they are not part of the user's path
    if (parent instanceof t.UnionType || parent instanceof t.IntersectionType) continue;
    if (entry.key === '') continue;
    parts.push(entry.key);
  }
  return parts.join('.');
}

/** A short preview of a value, bounded in depth and length: a 2 MB body of nested arrays must not recurse. */
export function show(value: unknown, depth = 2): string {
  const s = preview(value, depth);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function preview(v: unknown, depth: number): string {
  // JSON.stringify would write NaN as null
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}...` : v);
  if (v === null || typeof v === 'boolean') return String(v);
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) {
    if (depth <= 0) return v.length === 0 ? '[]' : '[...]';
    const items = v.slice(0, 5).map((x) => preview(x, depth - 1));
    return `[${items.join(',')}${v.length > 5 ? ',...' : ''}]`;
  }
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    if (depth <= 0) return keys.length === 0 ? '{}' : '{...}';
    const items = keys.slice(0, 5).map((k) => `${JSON.stringify(k)}:${preview((v as Record<string, unknown>)[k], depth - 1)}`);
    return `{${items.join(',')}${keys.length > 5 ? ',...' : ''}}`;
  }
  return typeof v;
}
