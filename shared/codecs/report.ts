import * as t from 'io-ts';

/**
 * Turns io-ts errors into lines a user can act on: "provider.concurrency: expected a whole number > 0, got 0".
 * PathReporter's output names io-ts internals; this names the key the user wrote.
 */
export function describeErrors(errors: t.Errors, root = ''): string[] {
  const lines = errors.map((e) => {
    const path = pathOf(e.context);
    const where = [root, path].filter((s) => s !== '').join('.') || '(top level)';
    if (e.message !== undefined) return `${where}: ${e.message}`;
    const expected = e.context[e.context.length - 1]?.type.name ?? 'a valid value';
    return e.value === undefined
      ? `${where}: missing, expected ${expected}`
      : `${where}: expected ${expected}, got ${show(e.value)}`;
  });
  return [...new Set(lines)];
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

function show(value: unknown): string {
  const s = JSON.stringify(value);
  if (s === undefined) return String(value);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
