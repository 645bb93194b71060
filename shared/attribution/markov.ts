import type { PathCount } from './paths.js';
import { collapseRepeats } from './paths.js';

/**
 * Markov-chain removal effect, solved exactly (a linear system over the absorbing chain, no simulation).
 *
 * States: START, CONVERSION, NULL and one state per channel (order 1) or per run of up to `order` consecutive
 * channels (order k: the state after the i-th touch is the tuple of touches max(0, i-k+1)..i). Transition
 * probabilities are the observed transition counts, weighted by each path's conversions + non-conversions;
 * a path's last state goes to CONVERSION `conversions` times and to NULL `nulls` times. So non-converting
 * paths count when present; with converting paths only, P(conversion) is 1 and removal effects say how much
 * conversion probability survives without the channel.
 *
 * Removing channel c sends every state that contains c to NULL. removal effect(c) = 1 - P_without_c / P;
 * shares are removal effects divided by their sum; a channel's attributed conversions (value) are its share
 * of all conversions (value).
 */

export interface MarkovOptions {
  readonly order: number;
  readonly collapseRepeats: boolean;
}

export interface MarkovFit {
  /** probability of reaching CONVERSION from START */
  readonly conversionProbability: number;
  readonly removalEffects: ReadonlyMap<string, number>;
  /** removal effects normalised to sum to 1 (all 0 when nothing converts) */
  readonly shares: ReadonlyMap<string, number>;
  readonly totalConversions: number;
  readonly totalValue: number;
  /** number of chain states, START/CONVERSION/NULL included */
  readonly states: number;
}

const START = 0;
const CONV = 1;
const NULL = 2;
/** dense Gaussian elimination up to this many transient states; above it, Gauss-Seidel to round-off */
const DENSE_LIMIT = 400;

interface Chain {
  /** CSR over states: row s has targets to[rowStart[s]..rowStart[s+1]) with probabilities p */
  rowStart: Int32Array;
  to: Int32Array;
  p: Float64Array;
  /** channels (ids) per state */
  stateChannels: number[][];
  channelNames: string[];
}

function buildChain(paths: Iterable<PathCount>, opts: MarkovOptions, totals: { conv: number; value: number }): Chain {
  const channelId = new Map<string, number>();
  const channelNames: string[] = [];
  const stateId = new Map<string, number>();
  const stateChannels: number[][] = [[], [], []];
  const edges: Map<number, number>[] = [new Map(), new Map(), new Map()];
  const k = opts.order;
  const ids: number[] = [];
  const addEdge = (from: number, to: number, w: number): void => {
    const m = edges[from]!;
    m.set(to, (m.get(to) ?? 0) + w);
  };
  for (const path of paths) {
    totals.conv += path.conversions;
    totals.value += path.value;
    const w = path.conversions + path.nulls;
    if (!(w > 0) || path.channels.length === 0) continue;
    const chans = opts.collapseRepeats ? collapseRepeats(path.channels) : path.channels;
    ids.length = 0;
    for (const c of chans) {
      let id = channelId.get(c);
      if (id === undefined) {
        id = channelNames.length;
        channelId.set(c, id);
        channelNames.push(c);
      }
      ids.push(id);
    }
    let prev = START;
    for (let i = 0; i < ids.length; i++) {
      const lo = Math.max(0, i - k + 1);
      const key = k === 1 ? String(ids[i]) : ids.slice(lo, i + 1).join(',');
      let s = stateId.get(key);
      if (s === undefined) {
        s = stateChannels.length;
        stateId.set(key, s);
        stateChannels.push(Array.from(new Set(ids.slice(lo, i + 1))));
        edges.push(new Map());
      }
      addEdge(prev, s, w);
      prev = s;
    }
    if (path.conversions > 0) addEdge(prev, CONV, path.conversions);
    if (path.nulls > 0) addEdge(prev, NULL, path.nulls);
  }
  const n = stateChannels.length;
  const rowStart = new Int32Array(n + 1);
  let nnz = 0;
  for (let s = 0; s < n; s++) {
    rowStart[s] = nnz;
    nnz += edges[s]!.size;
  }
  rowStart[n] = nnz;
  const to = new Int32Array(nnz);
  const p = new Float64Array(nnz);
  for (let s = 0; s < n; s++) {
    const m = edges[s]!;
    let total = 0;
    for (const w of m.values()) total += w;
    let e = rowStart[s]!;
    for (const [t, w] of m) {
      to[e] = t;
      p[e] = w / total;
      e++;
    }
  }
  return { rowStart, to, p, stateChannels, channelNames };
}

/** P(reach CONVERSION from START) with the states flagged in `removed` sent to NULL. */
function conversionProbability(chain: Chain, removed: Uint8Array): number {
  const n = chain.stateChannels.length;
  if (chain.rowStart[START + 1] === chain.rowStart[START]) return 0; // nothing starts
  // transient, kept states get an unknown; CONV is 1, NULL and removed states 0
  const index = new Int32Array(n).fill(-1);
  const kept: number[] = [];
  for (let s = 0; s < n; s++) {
    if (s === CONV || s === NULL || removed[s] === 1) continue;
    index[s] = kept.length;
    kept.push(s);
  }
  return kept.length <= DENSE_LIMIT ? solveDense(chain, kept, index) : solveIterative(chain, kept, index);
}

function solveDense(chain: Chain, kept: number[], index: Int32Array): number {
  const m = kept.length;
  const a = new Float64Array(m * m);
  const b = new Float64Array(m);
  for (let r = 0; r < m; r++) {
    const s = kept[r]!;
    a[r * m + r] = 1;
    for (let e = chain.rowStart[s]!; e < chain.rowStart[s + 1]!; e++) {
      const t = chain.to[e]!;
      if (t === CONV) b[r] = b[r]! + chain.p[e]!;
      else {
        const c = index[t]!;
        if (c >= 0) a[r * m + c] = a[r * m + c]! - chain.p[e]!;
      }
    }
  }
  // Gaussian elimination with partial pivoting; (I - Q) is non-singular since every kept state can be absorbed
  for (let col = 0; col < m; col++) {
    let piv = col;
    for (let r = col + 1; r < m; r++) if (Math.abs(a[r * m + col]!) > Math.abs(a[piv * m + col]!)) piv = r;
    if (piv !== col) {
      for (let c = col; c < m; c++) {
        const tmp = a[col * m + c]!;
        a[col * m + c] = a[piv * m + c]!;
        a[piv * m + c] = tmp;
      }
      const tb = b[col]!;
      b[col] = b[piv]!;
      b[piv] = tb;
    }
    const d = a[col * m + col]!;
    if (d === 0) continue;
    for (let r = col + 1; r < m; r++) {
      const f = a[r * m + col]! / d;
      if (f === 0) continue;
      for (let c = col; c < m; c++) a[r * m + c] = a[r * m + c]! - f * a[col * m + c]!;
      b[r] = b[r]! - f * b[col]!;
    }
  }
  const x = new Float64Array(m);
  for (let r = m - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let c = r + 1; c < m; c++) s -= a[r * m + c]! * x[c]!;
    const d = a[r * m + r]!;
    x[r] = d === 0 ? 0 : s / d;
  }
  const start = x[index[START]!]!;
  return Math.min(1, Math.max(0, start));
}

/**
 * Gauss-Seidel on x = Qx + r, self-loops solved in closed form, states swept latest-created first (values flow
 * back from CONVERSION). Monotone from 0 towards the solution; stops when a sweep changes nothing beyond
 * round-off (1e-15 relative), i.e. the same answer as a direct solve to double precision.
 */
function solveIterative(chain: Chain, kept: number[], index: Int32Array): number {
  const n = chain.stateChannels.length;
  const x = new Float64Array(n);
  x[CONV] = 1;
  for (let sweep = 0; sweep < 1_000_000; sweep++) {
    let delta = 0;
    for (let r = kept.length - 1; r >= 0; r--) {
      const s = kept[r]!;
      let acc = 0;
      let self = 0;
      for (let e = chain.rowStart[s]!; e < chain.rowStart[s + 1]!; e++) {
        const t = chain.to[e]!;
        if (t === s) self += chain.p[e]!;
        else if (t === CONV || index[t]! >= 0) acc += chain.p[e]! * x[t]!;
      }
      const v = self < 1 ? acc / (1 - self) : 0;
      const d = Math.abs(v - x[s]!);
      if (d > delta) delta = d;
      x[s] = v;
    }
    if (delta <= 1e-15) break;
  }
  return Math.min(1, Math.max(0, x[START]!));
}

export function fitMarkov(paths: Iterable<PathCount>, opts: MarkovOptions): MarkovFit {
  const totals = { conv: 0, value: 0 };
  const chain = buildChain(paths, opts, totals);
  const n = chain.stateChannels.length;
  const removed = new Uint8Array(n);
  const base = conversionProbability(chain, removed);
  const removalEffects = new Map<string, number>();
  const statesOf: number[][] = chain.channelNames.map(() => []);
  for (let s = 3; s < n; s++) for (const c of chain.stateChannels[s]!) statesOf[c]!.push(s);
  let sum = 0;
  chain.channelNames.forEach((name, c) => {
    let re = 0;
    if (base > 0) {
      removed.fill(0);
      for (const s of statesOf[c]!) removed[s] = 1;
      const without = conversionProbability(chain, removed);
      re = Math.min(1, Math.max(0, 1 - without / base));
    }
    removalEffects.set(name, re);
    sum += re;
  });
  const shares = new Map<string, number>();
  for (const [name, re] of removalEffects) shares.set(name, sum > 0 ? re / sum : 0);
  return {
    conversionProbability: base,
    removalEffects,
    shares,
    totalConversions: totals.conv,
    totalValue: totals.value,
    states: n,
  };
}
