import * as E from 'fp-ts/lib/Either.js';
import { usageError, type AppError } from '../errors.js';

/**
 * `--shard I/N`: this process sends only the journeys whose conversion id hashes to shard I of N (1-based, as
 * jest and playwright count shards). The hash is FNV-1a over the id's UTF-8 bytes: stable across processes,
 * machines, Node versions and databases, so a shard re-run after a kill builds the same batches as before and
 * skips the ones already answered, and N shards together send every journey exactly once.
 */
export interface Shard {
  /** 1..count */
  readonly index: number;
  readonly count: number;
}

export function parseShard(text: string): E.Either<AppError, Shard> {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = m === null ? NaN : Number(m[1]);
  const count = m === null ? NaN : Number(m[2]);
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index < 1 || index > count) {
    return E.left(usageError(`--shard ${JSON.stringify(text)}: expected I/N with 1 <= I <= N, e.g. --shard 2/4`));
  }
  return E.right({ index, count });
}

const encoder = new TextEncoder();

/** FNV-1a, 32 bits. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of encoder.encode(text)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The 1-based shard a conversion belongs to. */
export const shardOf = (convId: string, count: number): number => (fnv1a(convId) % count) + 1;

export const inShard = (convId: string, shard: Shard | undefined): boolean => shard === undefined || shard.count === 1 || shardOf(convId, shard.count) === shard.index;

export const describeShard = (s: Shard | undefined): string => (s === undefined ? '' : ` (shard ${s.index}/${s.count})`);
