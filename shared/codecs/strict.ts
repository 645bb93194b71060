import * as t from 'io-ts';

/**
 * io-ts `exact` strips unknown keys silently; for config a typo must be an error, so these codecs
 * reject keys they do not know, naming them.
 */
function rejectUnknownKeys(props: t.Props, u: unknown, c: t.Context): t.Errors {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return [];
  const errors: t.Errors = [];
  for (const key of Object.keys(u)) {
    if (!Object.prototype.hasOwnProperty.call(props, key)) {
      errors.push({
        value: (u as Record<string, unknown>)[key],
        context: [...c, { key, type: t.never, actual: (u as Record<string, unknown>)[key] }],
        message: `unknown key "${key}" (known keys: ${Object.keys(props).join(', ')})`,
      });
    }
  }
  return errors;
}

/** No key outside `props` (`u` already known to be a record): what `is` must add to t.exact's, which ignores them. */
function knownKeysOnly(props: t.Props, u: object): boolean {
  for (const key of Object.keys(u)) if (!Object.prototype.hasOwnProperty.call(props, key)) return false;
  return true;
}

function strictOf<C extends t.Any>(props: t.Props, inner: C, name: string): t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown> {
  const exact = t.exact(inner as unknown as t.HasProps);
  return new t.Type<t.TypeOf<C>, t.OutputOf<C>, unknown>(
    name,
    // `is` holds exactly when decoding succeeds (an unknown key fails both), so isFirst can wrap these codecs
    (u): u is t.TypeOf<C> => exact.is(u) && knownKeysOnly(props, u as object),
    (u, c) => {
      const unknownKeys = rejectUnknownKeys(props, u, c);
      const decoded = exact.validate(u, c);
      if (unknownKeys.length === 0) return decoded as t.Validation<t.TypeOf<C>>;
      return t.failures(decoded._tag === 'Left' ? [...unknownKeys, ...decoded.left] : unknownKeys);
    },
    (a) => exact.encode(a) as t.OutputOf<C>,
  );
}

export function strict<P extends t.Props>(props: P, name?: string): t.Type<t.TypeOfProps<P>, t.OutputOfProps<P>, unknown> {
  return strictOf(props, t.type(props), name ?? 'object');
}

export function strictPartial<P extends t.Props>(
  props: P,
  name?: string,
): t.Type<t.TypeOfPartialProps<P>, t.OutputOfPartialProps<P>, unknown> {
  return strictOf(props, t.partial(props), name ?? 'object');
}

/** `required` keys must be present, `optional` ones may be absent; anything else is an error. */
export function strictWithOptional<R extends t.Props, O extends t.Props>(
  required: R,
  optional: O,
  name?: string,
): t.Type<t.TypeOfProps<R> & t.TypeOfPartialProps<O>, t.OutputOfProps<R> & t.OutputOfPartialProps<O>, unknown> {
  type Inner = t.TypeOf<t.IntersectionC<[t.TypeC<R>, t.PartialC<O>]>>;
  const all = { ...required, ...optional };
  const exact = t.intersection([t.exact(t.type(required)), t.exact(t.partial(optional))]);
  return new t.Type(
    name ?? 'object',
    (u): u is Inner => exact.is(u) && knownKeysOnly(all, u as object),
    (u, c) => {
      const unknownKeys = rejectUnknownKeys(all, u, c);
      // the intersection's entry in the context lets error reports skip its member numbers ("0.customer_journeys")
      const decoded = exact.validate(u, [...c, { key: '', type: exact, actual: u }]);
      if (unknownKeys.length === 0) return decoded;
      return t.failures(decoded._tag === 'Left' ? [...unknownKeys, ...decoded.left] : unknownKeys);
    },
    (a) => exact.encode(a),
  );
}

/** Refinement helpers used by config and row codecs; the names become the "expected" part of messages. */
export const NonNegativeNumber = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'a number >= 0');
export const PositiveNumber = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'a number > 0');
export const UnitInterval = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0 && n <= 1, 'a number in [0, 1]');
export const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, 'a whole number > 0');
export const NonNegativeInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'a whole number >= 0');
export function intBetween(lo: number, hi: number) {
  return t.refinement(t.number, (n) => Number.isInteger(n) && n >= lo && n <= hi, `a whole number from ${lo} to ${hi}`);
}
