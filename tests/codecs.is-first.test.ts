import test from 'ava';
import * as E from 'fp-ts/lib/Either.js';
import * as io from 'io-ts';
import { isFirst } from '../shared/codecs/is-first.js';
import { describeErrors } from '../shared/codecs/report.js';
import { strict, strictPartial, strictWithOptional } from '../shared/codecs/strict.js';
import { DbBit, DbNumber, DbSum, DbText } from '../shared/db/db.js';

/**
 * isFirst hands back what `is` accepts without decoding it, so it is only right for codecs whose `is` holds
 * exactly when decoding succeeds and whose decoding converts nothing: these tests hold each kind it wraps to that.
 */

/** the same result as the codec, value for value, and the same words for a refused value */
function sameAsCodec<A>(t: import('ava').ExecutionContext, codec: io.Type<A, unknown, unknown>, values: readonly unknown[]): void {
  const fast = isFirst(codec);
  for (const v of values) {
    const a = codec.decode(v);
    const b = fast.decode(v);
    t.is(codec.is(v), E.isRight(a), `is and decode agree on ${JSON.stringify(v)}`);
    if (E.isLeft(a) || E.isLeft(b)) t.deepEqual(E.mapLeft(describeErrors)(b), E.mapLeft(describeErrors)(a), JSON.stringify(v));
    else t.deepEqual(b.right, a.right, JSON.stringify(v));
  }
}

test('isFirst decodes every database row exactly as its codec does, handing back the accepted rows themselves', (t) => {
  const inner = io.type({ id: DbText, flag: DbBit, revenue: io.union([DbNumber, io.null]) }, 'row');
  const fast = isFirst(inner);
  const rows: unknown[] = [
    { id: 'a', flag: 1, revenue: 12.5 },
    { id: 'b', flag: 0, revenue: null, extra: 'kept, as the codec keeps it' },
    { id: 'c', flag: '1', revenue: '3' },
    { id: 'd', flag: true, revenue: 1 },
    { id: 'e', flag: 2, revenue: 1 },
    { id: 'f', flag: 1, revenue: Number.NaN },
    { id: 'g', flag: 1, revenue: 'NaN' },
    { id: 7, flag: 1, revenue: 1 },
    { flag: 1, revenue: 1 },
    null,
    [],
  ];
  for (const r of rows) {
    const a = inner.decode(r);
    const b = fast.decode(r);
    // a refused row: the same words for the user (the error context's root is the wrapper, not the inner codec)
    if (E.isLeft(a) || E.isLeft(b)) t.deepEqual(E.mapLeft(describeErrors)(b), E.mapLeft(describeErrors)(a), JSON.stringify(r));
    else t.deepEqual(b, a, JSON.stringify(r));
  }
  const good = rows[0];
  const decoded = fast.decode(good);
  t.true(E.isRight(decoded) && decoded.right === good);
  // a value the codec converts still comes back converted
  t.deepEqual(fast.decode(rows[2]), E.right({ id: 'c', flag: 1, revenue: 3 }));
  t.false(DbNumber.is(Number.NaN));
  t.false(DbSum.is(Number.NaN));
});


test('strict codecs refuse an unknown key in `is` as their decoder does, so isFirst can wrap them', (t) => {
  const plain = strict({ a: io.number, b: io.string }, 'plain');
  sameAsCodec(t, plain, [{ a: 1, b: 'x' }, { a: 1, b: 'x', c: 2 }, { a: 1 }, { a: '1', b: 'x' }, null, [], 'x']);
  const partial = strictPartial({ a: io.number }, 'partial');
  sameAsCodec(t, partial, [{}, { a: 1 }, { a: 1, typo: 2 }, { a: 'x' }]);
  const mixed = strictWithOptional({ items: io.array(io.unknown) }, { extra: strict({ n: io.number }, 'inner') }, 'mixed');
  sameAsCodec(t, mixed, [
    { items: [] },
    { items: [1, 'a'], extra: { n: 1 } },
    { items: [], extra: { n: 1, m: 2 } },
    { items: [], other: 1 },
    { items: 'x' },
    { extra: { n: 1 } },
  ]);
  t.false(plain.is({ a: 1, b: 'x', c: 2 }));
  t.false(mixed.is({ items: [], extra: { n: 1, m: 2 } }));
  const good = { items: [1] };
  const decoded = isFirst(mixed).decode(good);
  t.true(E.isRight(decoded) && decoded.right === good);
});
