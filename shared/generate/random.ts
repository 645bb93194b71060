/**
 * A small seeded PRNG of our own, so that demo data is byte-identical for a seed on every machine and
 * Node version (Math.random cannot be seeded, and its algorithm is an engine detail).
 */

export interface Rng {
  /** uniform in [0, 1) with 32 bits of resolution */
  readonly next: () => number;
  /** uniform 32-bit unsigned integer */
  readonly nextU32: () => number;
}

/**
 * sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): 128-bit state, passes PractRand, and needs
 * only 32-bit integer operations, which V8 does exactly.
 */
export function sfc32(a: number, b: number, c: number, d: number): Rng {
  let s0 = a >>> 0;
  let s1 = b >>> 0;
  let s2 = c >>> 0;
  let s3 = d >>> 0;
  const nextU32 = (): number => {
    const t = (((s0 + s1) | 0) + s3) | 0;
    s3 = (s3 + 1) | 0;
    s0 = s1 ^ (s1 >>> 9);
    s1 = (s2 + (s2 << 3)) | 0;
    s2 = (s2 << 21) | (s2 >>> 11);
    s2 = (s2 + t) | 0;
    return t >>> 0;
  };
  return { nextU32, next: () => nextU32() / 4294967296 };
}

/** splitmix32 finaliser: spreads every input bit over the output, so neighbouring keys give unrelated streams. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * An independent stream for a tuple of keys (e.g. seed, user index). Keyed streams let the generator
 * replay any one user without replaying the users before it, which the two-pass cost allocation relies on.
 */
export function keyedRng(...keys: readonly number[]): Rng {
  let h = 0x2545f491;
  for (const k of keys) h = mix32(h ^ mix32(k >>> 0) ^ Math.floor(k / 4294967296));
  const rng = sfc32(mix32(h ^ 0x1), mix32(h ^ 0x2), mix32(h ^ 0x3), mix32(h ^ 0x4));
  // sfc32's first outputs still echo the seed words; the reference implementation discards a dozen.
  for (let i = 0; i < 12; i++) rng.nextU32();
  return rng;
}

/** integer in [lo, hi] */
export function uniformInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1));
}

export function bernoulli(rng: Rng, p: number): boolean {
  return rng.next() < p;
}

/** standard normal by Box-Muller; one draw per call keeps the stream position independent of history */
export function normal(rng: Rng): number {
  const u = 1 - rng.next(); // (0, 1], so log never sees 0
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function logNormal(rng: Rng, median: number, sigma: number): number {
  return median * Math.exp(sigma * normal(rng));
}

/** Draws an index with probability proportional to its weight. */
export interface WeightedSampler {
  readonly sample: (rng: Rng) => number;
  readonly size: number;
}

export function weightedSampler(weights: readonly number[]): WeightedSampler {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) {
    if (!(w >= 0) || !Number.isFinite(w)) throw new RangeError(`weights must be finite and >= 0, got ${w}`);
    total += w;
    cumulative.push(total);
  }
  if (total <= 0) throw new RangeError('at least one weight must be positive');
  return {
    size: weights.length,
    sample: (rng) => {
      const x = rng.next() * total;
      let lo = 0;
      let hi = cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((cumulative[mid] as number) > x) hi = mid;
        else lo = mid + 1;
      }
      // zero-weight entries share their predecessor's cumulative value and can never be the first > x
      return lo;
    },
  };
}

/**
 * Inverse CDF through published quantiles, linear in log(value) between them: reproduces each published
 * quantile exactly without assuming a parametric family the data may not follow.
 * `points` are [probability, value] pairs, probabilities from 0 to 1 ascending, values > 0 ascending.
 */
export function logQuantileSampler(points: readonly (readonly [number, number])[]): (rng: Rng) => number {
  if (points.length < 2 || points[0]?.[0] !== 0 || points[points.length - 1]?.[0] !== 1) {
    throw new RangeError('quantile points must start at probability 0 and end at 1');
  }
  const ps = points.map((p) => p[0]);
  const logs = points.map((p) => Math.log(p[1]));
  return (rng) => {
    const u = rng.next();
    let i = 1;
    while (i < ps.length - 1 && (ps[i] as number) <= u) i++;
    const p0 = ps[i - 1] as number;
    const p1 = ps[i] as number;
    const l0 = logs[i - 1] as number;
    const l1 = logs[i] as number;
    return Math.exp(l0 + ((u - p0) / (p1 - p0)) * (l1 - l0));
  };
}

const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex8 = (x: number): string => `${HEX2[x >>> 24]}${HEX2[(x >>> 16) & 255]}${HEX2[(x >>> 8) & 255]}${HEX2[x & 255]}`;

/**
 * A 64-hex-character id (the challenge's id format) that is unique for every (kind, user, k) under one
 * seed: the first 16 characters are a keyed 64-bit permutation (4-round Feistel) of the packed tuple, so
 * two tuples can never share them; the other 48 are derived noise so the ids look like hashes. Several
 * times faster than sha256, which dominated generation time. kind < 1024, user < 2^42, k < 4096.
 */
export function uniqueHexId(seed: number, kind: number, user: number, k: number): string {
  let lo = ((((user % 0x100000) << 12) | k) >>> 0);
  let hi = (((kind << 22) | Math.floor(user / 0x100000)) >>> 0);
  const s0 = mix32(seed >>> 0);
  const s1 = mix32(Math.floor(seed / 4294967296) ^ 0x51ed270b);
  for (let r = 0; r < 4; r++) {
    const f = mix32(lo ^ s0 ^ Math.imul(r + 1, 0x9e3779b1) ^ s1);
    const nlo = (hi ^ f) >>> 0;
    hi = lo;
    lo = nlo;
  }
  let out = hex8(hi) + hex8(lo);
  let h = mix32(hi ^ s1);
  for (let j = 0; j < 6; j++) {
    h = mix32(h ^ lo ^ Math.imul(j + 1, 0x85ebca6b));
    out += hex8(h);
  }
  return out;
}
