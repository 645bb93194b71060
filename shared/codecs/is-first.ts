import * as t from 'io-ts';

/**
 * The same codec, asking `is` before decoding: a value `is` accepts is handed back as it is, and only a refused
 * value is decoded, to say what is wrong with it. For codecs whose accepted values decode to themselves (their
 * `is` holds exactly when decoding succeeds without converting anything): t.type/t.intersection/t.array of
 * primitives, refinements, the database codecs DbText, DbBit, DbNumber and unions of these, and the strict codecs
 * of strict.ts. Never for codecs that convert (DbSum turns NULL into 0, t.exact drops keys).
 *
 * Why: `is` allocates nothing, where decoding builds an io-ts context for every value of every row: reading the
 * window's journeys at scale 10 decodes 57,000 rows, and send-to-api checks every session it sends and answers.
 */
export function isFirst<A, O>(codec: t.Type<A, O, unknown>): t.Type<A, O, unknown> {
  const wrapper: t.Type<A, O, unknown> = new t.Type<A, O, unknown>(
    codec.name,
    codec.is,
    // a refused value is reported as the codec itself would report it: its own type at the top of the context
    (u, c) => (codec.is(u) ? t.success(u) : codec.validate(u, c.map((e, i) => (i === c.length - 1 && e.type === wrapper ? { ...e, type: codec } : e)))),
    codec.encode,
  );
  return wrapper;
}
