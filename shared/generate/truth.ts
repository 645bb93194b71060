/**
 * Planted-truth scenarios: users whose orders come from a known causal model, so that every channel's true
 * incremental orders are known and each attribution model can be scored against them (`make accuracy`).
 *
 * The causal model (the same for every scenario; only its figures differ):
 *   P(order | touches) = min(1, baseline + sum over the user's touches of lift(channel of the touch))
 * One uniform draw u per user decides: the user orders when u < P. A channel's true incremental orders are
 * the users who order with their touches and would not without that channel's touches, with the same u
 * (removal with the same random draws); its incremental revenue is their revenue. Orders with u < baseline
 * would have happened with no touch at all.
 *
 * Exposure never depends on u: closers (retargeting, direct returns) follow the earlier touches, which is the
 * trap for models that read the last touch as the cause.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { keyedRng, logNormal, uniformInt, weightedSampler, type Rng } from './random.js';
import { DEMO_FILE_NAMES, DEMO_HEADERS } from './demo.js';
import { csvField, writeLinesAtomic, type LineOut } from '../files.js';

export interface ScenarioChannel {
  readonly name: string;
  /** added to the order chance by each touch of this channel */
  readonly lift: number;
  /** how often the channel is drawn for a touch after the first */
  readonly weight: number;
  /** how often the channel is drawn for the first touch (default: weight) */
  readonly first?: number;
  /** EUR per session, written to session_costs */
  readonly cost?: number;
}

/**
 * A channel appended as the last touch, the more often the more the user has already visited (retargeting
 * follows visitors, returning users come in directly): it closes many journeys of users whom earlier touches
 * brought close to ordering. Exposure depends only on what the data shows (earlier touches), never on the
 * hidden draw: no model can recover a confounder that leaves no trace in the data.
 */
export interface ScenarioCloser {
  readonly channel: string;
  /** chance with one earlier touch */
  readonly chance: number;
  /** added per further earlier touch (capped at 0.95 in all) */
  readonly perTouch: number;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly baseline: number;
  /** users at scale 1 */
  readonly users: number;
  /** touches drawn per user before closers, uniform in [min, max] */
  readonly touches: { readonly min: number; readonly max: number };
  readonly channels: readonly ScenarioChannel[];
  readonly closers: readonly ScenarioCloser[];
  /** median order value in EUR (log-normal, sigma 0.6) */
  readonly revenueMedian: number;
}

const ch = (name: string, lift: number, weight: number, first?: number, cost = 0.4): ScenarioChannel =>
  first === undefined ? { name, lift, weight, cost } : { name, lift, weight, first, cost };

/** The named scenarios of `generate-data --truth --scenario NAME`. Each is a realistic trap for some model. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'direct_heavy',
    description: 'Direct Traffic closes many journeys of returning users and adds nothing.',
    baseline: 0.04,
    users: 30000,
    touches: { min: 1, max: 4 },
    channels: [
      ch('Paid Search Non Brand', 0.03, 3),
      ch('Organic Traffic', 0.02, 3, undefined, 0),
      ch('Newsletter & Email', 0.04, 2, 0.5, 0.05),
      ch('FB & IG Ads', 0.01, 2),
    ],
    closers: [{ channel: 'Direct Traffic', chance: 0.3, perTouch: 0.2 }],
    revenueMedian: 60,
  },
  {
    name: 'retargeting',
    description: 'A paid retargeting channel shows up last for users whom earlier touches brought close to ordering; it adds nothing.',
    baseline: 0.05,
    users: 30000,
    touches: { min: 1, max: 5 },
    channels: [
      ch('Paid Search Non Brand', 0.025, 3),
      ch('YouTube Ads', 0.02, 1, 2),
      ch('Organic Traffic', 0.015, 3, undefined, 0),
      ch('Newsletter & Email', 0.03, 2, 0.5, 0.05),
    ],
    closers: [{ channel: 'Performance Max', chance: 0.2, perTouch: 0.2 }],
    revenueMedian: 80,
  },
  {
    name: 'upper_funnel',
    description: 'Video and social start journeys and rarely close them, yet cause most orders; search and direct close them.',
    baseline: 0.03,
    users: 30000,
    touches: { min: 1, max: 4 },
    channels: [
      ch('YouTube Ads', 0.045, 0.5, 4),
      ch('TikTok Ads', 0.035, 0.5, 3),
      ch('Paid Search Brand', 0.005, 3, 0.5),
      ch('Organic Traffic', 0.005, 2, 1, 0),
    ],
    closers: [
      { channel: 'Paid Search Brand', chance: 0.3, perTouch: 0.15 },
      { channel: 'Direct Traffic', chance: 0.2, perTouch: 0.15 },
    ],
    revenueMedian: 70,
  },
  {
    name: 'long_journeys',
    description: 'Long journeys (6 to 20 touches) with many repeated touches of the same channels.',
    baseline: 0.03,
    users: 20000,
    touches: { min: 6, max: 20 },
    channels: [
      ch('Paid Search Non Brand', 0.012, 4),
      ch('Organic Traffic', 0.002, 4, undefined, 0),
      ch('Newsletter & Email', 0.008, 2, 0.5, 0.05),
      ch('FB & IG Ads', 0.004, 3),
      ch('Direct Traffic', 0, 3, 1, 0),
    ],
    closers: [],
    revenueMedian: 90,
  },
  {
    name: 'no_effect',
    description: 'No channel changes anything (every lift 0): every order would have happened anyway.',
    baseline: 0.06,
    users: 20000,
    touches: { min: 1, max: 5 },
    channels: [
      ch('Paid Search Non Brand', 0, 3),
      ch('Organic Traffic', 0, 3, undefined, 0),
      ch('FB & IG Ads', 0, 2),
      ch('Newsletter & Email', 0, 1, 0.5, 0.05),
    ],
    closers: [{ channel: 'Direct Traffic', chance: 0.3, perTouch: 0.15 }],
    revenueMedian: 60,
  },
  {
    name: 'tiny',
    description: 'Eight users over three channels, small enough to check the truth by hand.',
    baseline: 0.1,
    users: 8,
    touches: { min: 1, max: 3 },
    channels: [ch('A', 0.2, 1), ch('B', 0.1, 1), ch('C', 0, 1)],
    closers: [],
    revenueMedian: 50,
  },
];

export const SCENARIO_NAMES = SCENARIOS.map((s) => s.name);

export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}

/** One simulated user: the channels of the touches in order, the order draw and the order value. */
export interface SimUser {
  readonly touches: readonly string[];
  readonly u: number;
  readonly revenue: number;
}

export interface ChannelTruth {
  readonly channel: string;
  readonly orders: number;
  readonly revenue: number;
  /** orders / the sum of every channel's orders (0 when no channel causes anything) */
  readonly share: number;
}

export interface Truth {
  readonly channels: readonly ChannelTruth[];
  /** users who order */
  readonly orders: number;
  /** orders that would have happened with no touch (u < baseline) */
  readonly baselineOrders: number;
}

export function orderChance(baseline: number, lift: (channel: string) => number, touches: readonly string[], without?: string): number {
  let p = baseline;
  for (const c of touches) if (c !== without) p += lift(c);
  return Math.min(1, p);
}

export function orders(s: Pick<Scenario, 'baseline' | 'channels'>, user: SimUser): boolean {
  return user.u < orderChance(s.baseline, liftOf(s), user.touches);
}

function liftOf(s: Pick<Scenario, 'channels'>): (c: string) => number {
  const m = new Map(s.channels.map((c) => [c.name, c.lift]));
  return (c) => m.get(c) ?? 0;
}

/** True incremental orders and revenue per channel: removal of the channel with the same draws. */
export class TruthTally {
  private readonly lift: (c: string) => number;
  private readonly inc = new Map<string, { orders: number; revenue: number }>();
  private total = 0;
  private base = 0;

  constructor(private readonly s: Pick<Scenario, 'baseline' | 'channels' | 'closers'>) {
    this.lift = liftOf(s);
    for (const c of s.channels) this.inc.set(c.name, { orders: 0, revenue: 0 });
    for (const c of s.closers) if (!this.inc.has(c.channel)) this.inc.set(c.channel, { orders: 0, revenue: 0 });
  }

  add(user: SimUser): boolean {
    const converts = user.u < orderChance(this.s.baseline, this.lift, user.touches);
    if (!converts) return false;
    this.total++;
    if (user.u < this.s.baseline) this.base++;
    for (const c of new Set(user.touches)) {
      if (!(user.u < orderChance(this.s.baseline, this.lift, user.touches, c))) {
        const slot = this.inc.get(c) ?? { orders: 0, revenue: 0 };
        slot.orders++;
        slot.revenue += user.revenue;
        this.inc.set(c, slot);
      }
    }
    return true;
  }

  truth(): Truth {
    let sum = 0;
    for (const v of this.inc.values()) sum += v.orders;
    const channels = [...this.inc.entries()]
      .map(([channel, v]) => ({ channel, orders: v.orders, revenue: round2(v.revenue), share: sum > 0 ? v.orders / sum : 0 }))
      .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
    return { channels, orders: this.total, baselineOrders: this.base };
  }
}

export function truthOf(s: Pick<Scenario, 'baseline' | 'channels' | 'closers'>, users: Iterable<SimUser>): Truth {
  const t = new TruthTally(s);
  for (const u of users) t.add(u);
  return t.truth();
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Draws one user of a scenario (the stream is keyed by seed and user, so any user can be replayed). */
export function simulateUser(s: Scenario, seed: number, i: number): SimUser {
  const rng: Rng = keyedRng(seed, 0x7e57, i);
  const u = rng.next();
  const later = weightedSampler(s.channels.map((c) => c.weight));
  const first = weightedSampler(s.channels.map((c) => c.first ?? c.weight));
  const k = uniformInt(rng, s.touches.min, s.touches.max);
  const touches: string[] = [];
  for (let t = 0; t < k; t++) touches.push(s.channels[(t === 0 ? first : later).sample(rng)]!.name);
  for (const c of s.closers) if (rng.next() < Math.min(0.95, c.chance + c.perTouch * (k - 1))) touches.push(c.channel);
  return { touches, u, revenue: round2(Math.max(1, logNormal(rng, s.revenueMedian, 0.6))) };
}

export interface TruthFiles {
  readonly sessions: string;
  readonly conversions: string;
  readonly costs: string;
  readonly truth: string;
}

export interface TruthResult {
  readonly users: number;
  readonly sessions: number;
  readonly conversions: number;
  readonly truth: Truth;
  readonly files: TruthFiles;
}

export interface TruthOptions {
  readonly scale: number;
  readonly seed: number;
  readonly startDate: string;
  readonly endDate: string;
}

const pad = (n: number): string => String(n).padStart(2, '0');
function stamp(t: number): [string, string] {
  const d = new Date(t * 1000);
  return [
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`,
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  ];
}
/** users simulated between writes */
const FLUSH_USERS = 1000;

/**
 * Writes a scenario as the three CSVs `load` reads plus truth.csv. Each user's touches are spread over the
 * window in order (gaps of hours to days) and an order, when there is one, follows the last touch by 10 minutes
 * to 6 hours, so every session of a converting user belongs to its journey and every other user's sessions
 * form one non-converting path.
 */
export async function writeScenarioCsvs(dir: string, s: Scenario, opts: TruthOptions): Promise<TruthResult> {
  if (!(opts.scale > 0)) throw new Error(`--scale must be > 0, got ${opts.scale}`);
  await mkdir(dir, { recursive: true });
  const files: TruthFiles = {
    sessions: path.join(dir, DEMO_FILE_NAMES.sessions),
    conversions: path.join(dir, DEMO_FILE_NAMES.conversions),
    costs: path.join(dir, DEMO_FILE_NAMES.costs),
    truth: path.join(dir, 'truth.csv'),
  };
  const start = Date.parse(`${opts.startDate}T00:00:00Z`) / 1000;
  const end = Date.parse(`${opts.endDate}T23:59:59Z`) / 1000;
  if (!(end - start >= 86400)) throw new Error('the window must span at least one day');
  const cost = new Map<string, number>(s.channels.map((c) => [c.name, c.cost ?? 0]));
  const tally = new TruthTally(s);
  const users = Math.max(1, Math.round(s.users * opts.scale));
  let sessionCount = 0;
  let conversionCount = 0;
  const targets = [
    { file: files.sessions, header: DEMO_HEADERS.sessions },
    { file: files.conversions, header: DEMO_HEADERS.conversions },
    { file: files.costs, header: DEMO_HEADERS.costs },
    { file: files.truth, header: 'channel,true_incremental_orders,true_incremental_revenue,share' },
  ];
  // the four files appear together or not at all: truth.csv describes exactly the rows beside it
  const truth = await writeLinesAtomic(targets, async (outs) => {
    const [sessions, conversions, costs, truthOut] = outs as [LineOut, LineOut, LineOut, LineOut];
    for (let i = 0; i < users; i++) {
      const user = simulateUser(s, opts.seed, i);
      const rng = keyedRng(opts.seed, 0x7153, i);
      const converts = tally.add(user);
      // gaps log-normal around 18 h, squeezed when the journey would not fit in the window
      const gaps = user.touches.map((_, k) => (k === 0 ? 0 : logNormal(rng, 18 * 3600, 1)));
      const span = gaps.reduce((a, b) => a + b, 0);
      const room = end - start - 7 * 3600;
      const squeeze = span > room * 0.8 ? (room * 0.8) / span : 1;
      let t = start + rng.next() * (room - span * squeeze);
      const id = `u${opts.seed}-${i}`;
      for (let k = 0; k < user.touches.length; k++) {
        t += Math.round(gaps[k]! * squeeze);
        const [d, tm] = stamp(Math.floor(t));
        const sid = `${id}-s${k}`;
        const holder = rng.next() < 0.5 ? 1 : 0;
        const closer = rng.next() < 0.4 ? 1 : 0;
        sessions.line(`${sid},${id},${d},${tm},${csvField(user.touches[k]!)},${holder},${closer},0\n`);
        const c = cost.get(user.touches[k]!) ?? 0;
        costs.line(`${sid},${c.toFixed(2)}\n`);
        sessionCount++;
      }
      if (converts) {
        const [d, tm] = stamp(Math.min(end, Math.floor(t) + 600 + Math.floor(rng.next() * 5.5 * 3600)));
        conversions.line(`c${opts.seed}-${i},${id},${d},${tm},${user.revenue.toFixed(2)}\n`);
        conversionCount++;
      }
      // memory stays flat whatever the scale
      if (i % FLUSH_USERS === FLUSH_USERS - 1) await Promise.all([sessions.flush(), conversions.flush(), costs.flush()]);
    }
    const tr = tally.truth();
    for (const c of tr.channels) truthOut.line(`${csvField(c.channel)},${c.orders},${c.revenue.toFixed(2)},${c.share.toFixed(6)}\n`);
    return tr;
  });
  return { users, sessions: sessionCount, conversions: conversionCount, truth, files };
}
