/**
 * The largest of `values` and `floor`, in a loop: `Math.max(...xs)` passes every element as a call argument
 * and overflows the stack at some hundred thousand values (a two-century window has 73,000 days per series).
 */
export function maxOf(values: Iterable<number>, floor = -Infinity): number {
  let m = floor;
  for (const v of values) if (v > m) m = v;
  return m;
}
