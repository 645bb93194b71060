/**
 * The demo-data model: who the users are and what each one does, replayable user by user. Every user draws
 * from its own keyed stream, so a user's rows depend only on (seed, user index, plan) and two passes over
 * the users see exactly the same sessions; nothing here grows with the scale except loop counts.
 *
 * Choices worth knowing:
 * - Volumes are per day of the reference (10 days), so a longer window gets proportionally more data;
 *   `scale` multiplies users, sessions, conversions and spend.
 * - Every generated date lies inside [start, end]. Real journeys can reach back before the window, but a
 *   demo whose rows leak outside the dates the user asked for looks like a bug in `load`. A journey that
 *   would start before the window is squeezed into it (gaps scaled down, order kept) rather than cut, so
 *   the sessions-per-journey distribution holds even for conversions on the first morning. Before squeezing,
 *   such a journey tries a few other order times, so early orders lean to short journeys as they would if
 *   session data began with the window. Net effect at scale 1 (seed 42): gaps between journey sessions come
 *   out shorter than the reference's (p50 1.3 h vs 1.95 h, p75 16 h vs 23 h, p90 48 h vs 55 h), because long
 *   journeys are the ones squeezed; span p99 165 h matches.
 * - A user converting twice shares every session before the first order with the second journey; the
 *   reference's 27 shared sessions among ~69 repeat buyers means most first orders of repeat buyers had no
 *   tracked session, and that is how the 60 session-less conversions arise here too.
 */
import {
  bernoulli,
  keyedRng,
  logNormal,
  logQuantileSampler,
  type Rng,
  weightedSampler,
  type WeightedSampler,
} from './random.js';
import { CHANNELS, type Channel, type ChannelShares, challengeShape as ref, demoAssumptions as A } from './shape.js';

export interface DemoOptions {
  readonly scale: number;
  readonly seed: number;
  /** YYYY-MM-DD, inclusive, UTC */
  readonly startDate: string;
  readonly endDate: string;
}

/** A generated session before formatting; `t` in epoch seconds. */
export interface RawSession {
  t: number;
  channel: number;
  holder: 0 | 1;
  closer: 0 | 1;
  impression: 0 | 1;
  /** carries a share of its channel's daily budget */
  paid: boolean;
  /** relative size of its share */
  costWeight: number;
  /** an unpaid session whose cost is missing rather than 0 */
  emptyCost: boolean;
}

export interface RawConversion {
  t: number;
  revenueCents: number;
}

export interface RawUser {
  readonly index: number;
  /** ascending by time; ties keep generation order */
  readonly sessions: RawSession[];
  readonly conversions: RawConversion[];
}

export interface DemoPlan {
  readonly seed: number;
  readonly dates: readonly string[];
  /** epoch seconds of startDate 00:00:00 UTC */
  readonly windowStart: number;
  /** epoch seconds one past endDate 23:59:59 */
  readonly windowEnd: number;
  readonly users: number;
  readonly convertingUsers: number;
  readonly repeatUsers: number;
  readonly conversions: number;
  /** spend in cents, [channel][day] */
  readonly budgetCents: readonly (readonly number[])[];
}

const DAY = 86400;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

function epochDay(date: string, what: string): number {
  const ms = DATE_RE.test(date) ? Date.parse(`${date}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== date) {
    throw new RangeError(`${what} must be a real date written YYYY-MM-DD, got ${JSON.stringify(date)}`);
  }
  return ms / 1000 / DAY;
}

export function validateOptions(opts: DemoOptions): void {
  if (typeof opts.scale !== 'number' || !Number.isFinite(opts.scale) || opts.scale <= 0 || opts.scale > 100_000) {
    throw new RangeError(`scale must be a number > 0 (1 = the challenge data's size), got ${String(opts.scale)}`);
  }
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be an integer, got ${String(opts.seed)}`);
  const s = epochDay(opts.startDate, 'startDate');
  const e = epochDay(opts.endDate, 'endDate');
  if (s > e) throw new RangeError(`startDate ${opts.startDate} is after endDate ${opts.endDate}`);
}

function shareVector(shares: ChannelShares): number[] {
  return CHANNELS.map((c) => shares[c] ?? 0);
}

/** Journey first/later channel mixes that reproduce both published marginals (see derivation inline). */
function journeyChannelSamplers(): { first: WeightedSampler; later: WeightedSampler } {
  const overall = shareVector(ref.journeyChannelShare);
  const firstKnown = shareVector(ref.firstChannelShare);
  // first-channel shares are published for six channels; the rest of that mass goes to the other journey
  // channels in proportion to their overall share
  const knownMass = firstKnown.reduce((a, b) => a + b, 0);
  const restOverall = overall.reduce((a, s, i) => a + ((firstKnown[i] as number) > 0 ? 0 : s), 0);
  const first = overall.map((s, i) => ((firstKnown[i] as number) > 0 ? (firstKnown[i] as number) : (s * (1 - knownMass)) / restOverall));
  // overall = (journeys * first + (rows - journeys) * later) / rows, solved for later
  const later = overall.map((s, i) => Math.max(0, ref.journeyRows * s - ref.journeys * (first[i] as number)));
  return { first: weightedSampler(first), later: weightedSampler(later) };
}

function journeyLengthSampler(): WeightedSampler {
  const w: number[] = [0];
  const spj = ref.sessionsPerJourney;
  for (const k of [1, 2, 3, 4, 5, 6] as const) w.push(spj[k]);
  let tailNorm = 0;
  for (let k = 7; k <= A.journeyTailMax; k++) tailNorm += k ** -A.journeyTailExponent;
  for (let k = 7; k <= A.journeyTailMax; k++) w.push((spj['7+'] * k ** -A.journeyTailExponent) / tailNorm);
  return weightedSampler(w); // index = number of sessions
}

/** Bresenham-style spacing: exactly `count` of `total` indices are picked, spread evenly. */
const picked = (i: number, count: number, total: number): boolean =>
  Math.floor(((i + 1) * count) / total) > Math.floor((i * count) / total);
const pickedBefore = (i: number, count: number, total: number): number => Math.floor((i * count) / total);

export function makePlan(opts: DemoOptions): DemoPlan {
  validateOptions(opts);
  const startDay = epochDay(opts.startDate, 'startDate');
  const days = epochDay(opts.endDate, 'endDate') - startDay + 1;
  const dates: string[] = [];
  for (let d = 0; d < days; d++) dates.push(new Date((startDay + d) * DAY * 1000).toISOString().slice(0, 10));
  const f = (opts.scale * days) / ref.days;
  const convertingUsers = Math.round(ref.convertingUsers * f);
  const conversions = Math.max(convertingUsers, Math.round(ref.conversions * f));
  const repeatUsers = Math.min(convertingUsers, conversions - convertingUsers);
  const nonConverting = Math.round(ref.convertingUsers * A.nonConvertingUsersPerConverter * f);
  const users = convertingUsers + nonConverting;
  if (users > Number.MAX_SAFE_INTEGER / Math.max(1, convertingUsers)) throw new RangeError(`scale ${opts.scale} is too large`);

  const rng = keyedRng(opts.seed, 0x5eed, 0xb0d9e7);
  const budgetCents = CHANNELS.map((c) => {
    const total = Math.round((ref.spend[c] ?? 0) * 100 * f);
    const weights = dates.map(() => 1 + A.dailyBudgetJitter * (2 * rng.next() - 1));
    return spreadCents(total, weights);
  });
  return {
    seed: opts.seed,
    dates,
    windowStart: startDay * DAY,
    windowEnd: (startDay + days) * DAY,
    users,
    convertingUsers,
    repeatUsers,
    conversions: convertingUsers + repeatUsers,
    budgetCents,
  };
}

/** Splits integer cents in proportion to weights, exactly: rounding the running total never loses a cent. */
export function spreadCents(totalCents: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  let run = 0;
  let given = 0;
  return weights.map((w) => {
    run += w;
    const upTo = Math.round((totalCents * run) / sum);
    const mine = upTo - given;
    given = upTo;
    return mine;
  });
}

/** The parts of the model that do not depend on the user, built once per plan. */
export class DemoModel {
  readonly plan: DemoPlan;
  private readonly firstChannel: WeightedSampler;
  private readonly laterChannel: WeightedSampler;
  private readonly journeyLength: WeightedSampler;
  private readonly gapHours: (rng: Rng) => number;
  private readonly hour: WeightedSampler;
  /** non-journey channel mix per day (channels off on a day get weight 0) */
  private readonly dayChannel: WeightedSampler[];
  private readonly paidShare: number[];
  private readonly impressionRate: number[];
  /** repeat buyers whose first order had no tracked session */
  private readonly untrackedFirstRate: number;
  /** single buyers with no tracked session at all */
  private readonly noSessionRate: number;
  private readonly laterCloserRate: number;

  constructor(plan: DemoPlan) {
    this.plan = plan;
    const { first, later } = journeyChannelSamplers();
    this.firstChannel = first;
    this.laterChannel = later;
    this.journeyLength = journeyLengthSampler();
    const g = ref.gapHours;
    this.gapHours = logQuantileSampler([
      [0, A.gapHoursMin],
      [0.1, g.p10],
      [0.25, g.p25],
      [0.5, g.p50],
      [0.75, g.p75],
      [0.9, g.p90],
      [0.99, A.gapHoursP99],
      [1, A.gapHoursMax],
    ]);
    this.hour = weightedSampler(A.hourWeights);

    const days = plan.dates.length;
    const rng = keyedRng(plan.seed, 0x5eed, 0xac71fe);
    const active = CHANNELS.map((c) => {
      const share = A.activeDayShare[c];
      const on = new Array<boolean>(days).fill(share === undefined);
      if (share !== undefined) {
        const order = shuffledDays(days, rng);
        const n = Math.max(1, Math.round(share * days));
        for (let k = 0; k < n; k++) on[order[k] as number] = true;
      }
      return on;
    });
    this.dayChannel = plan.dates.map((_, d) =>
      weightedSampler(CHANNELS.map((c, ci) => ((active[ci] as boolean[])[d] ? A.nonJourneyChannelWeights[c] : 0))),
    );
    this.paidShare = shareVector(A.paidSessionShare);
    this.impressionRate = shareVector(A.nonJourneyImpressionRate);

    const meanJourney = ref.journeyRows / ref.journeys;
    const refRepeat = ref.conversions - ref.convertingUsers;
    this.untrackedFirstRate = Math.min(1, Math.max(0, 1 - ref.sharedSessions / (refRepeat * meanJourney)));
    this.noSessionRate = Math.max(0, (ref.noSessionConversions - refRepeat * this.untrackedFirstRate) / ref.convertingUsers);
    const lastShare = ref.journeys / ref.journeyRows;
    this.laterCloserRate = (ref.closerRate - lastShare * A.convertingSessionCloserRate) / (1 - lastShare);
  }

  /** What user `index` (0-based, < plan.users) does. */
  user(index: number): RawUser {
    const p = this.plan;
    const rng = keyedRng(p.seed, index);
    const sessions: RawSession[] = [];
    const conversions: RawConversion[] = [];
    if (picked(index, p.convertingUsers, p.users)) {
      const ordinal = pickedBefore(index, p.convertingUsers, p.users);
      const repeat = picked(ordinal, p.repeatUsers, p.convertingUsers);
      this.converter(rng, repeat, sessions, conversions);
    } else {
      this.browser(rng, sessions);
    }
    // stable sort: same-second sessions keep the order they were generated in
    sessions.sort((a, b) => a.t - b.t);
    for (const s of sessions) {
      s.paid = bernoulli(rng, this.paidShare[s.channel] as number);
      s.costWeight = s.paid ? logNormal(rng, 1, A.costSigma) : 0;
      s.emptyCost = !s.paid && bernoulli(rng, A.emptyCostRate);
    }
    return { index, sessions, conversions };
  }

  private converter(rng: Rng, repeat: boolean, sessions: RawSession[], conversions: RawConversion[]): void {
    // Timeline read backwards from the last order: kinds and the gap (s) to the next later event.
    const kinds: ('conv' | 'last' | 'session')[] = [];
    const drawJourney = (len: number): void => {
      for (let k = 0; k < len; k++) kinds.push(k === 0 ? 'last' : 'session');
    };
    if (!repeat) {
      kinds.push('conv');
      drawJourney(bernoulli(rng, this.noSessionRate) ? 0 : this.journeyLength.sample(rng));
    } else {
      const untrackedFirst = bernoulli(rng, this.untrackedFirstRate);
      kinds.push('conv');
      drawJourney(this.journeyLength.sample(rng));
      kinds.push('conv');
      if (!untrackedFirst) drawJourney(this.journeyLength.sample(rng));
    }
    const n = kinds.length;
    const drawGaps = (): number[] => {
      const gaps = [0]; // the last order itself has nothing later
      for (let k = 1; k < n; k++) {
        const later = kinds[k - 1];
        const me = kinds[k];
        if (me !== 'conv' && later === 'conv') gaps.push(Math.max(1, Math.round(60 * logNormal(rng, A.minutesToOrderMedian, A.minutesToOrderSigma))));
        else if (me !== 'conv' && later !== 'conv' && bernoulli(rng, A.journeyTieRate)) gaps.push(0);
        else gaps.push(Math.max(1, Math.round(3600 * this.gapHours(rng))));
      }
      return gaps;
    };
    const p = this.plan;
    // the last order: leave at least a minute per earlier event, so squeezing never needs sub-second gaps
    let gaps = drawGaps();
    const wanted = Math.max(sum(gaps), 60 * n);
    // A journey that does not fit before its order first tries another order time (so early orders lean
    // to short journeys, as when session data starts with the window), then gets squeezed.
    let anchor = this.timeInWindow(rng);
    for (let tries = 0; tries < A.anchorRetries && anchor - p.windowStart < wanted; tries++) anchor = this.timeInWindow(rng);
    anchor = Math.max(anchor, Math.min(p.windowStart + 60 * n, p.windowEnd - 1));
    const avail = anchor - p.windowStart;
    const span = sum(gaps);
    if (span > avail) {
      const factor = Math.max(0, avail - n) / span;
      gaps = gaps.map((g) => (g === 0 ? 0 : Math.max(1, Math.floor(g * factor))));
    }
    let t = anchor;
    for (let k = 0; k < n; k++) {
      t -= gaps[k] as number;
      const kind = kinds[k];
      if (kind === 'conv') {
        conversions.push({ t, revenueCents: this.revenueCents(rng) });
      } else {
        // journey channels are on every day, so no day check is needed here
        const isFirst = k === n - 1 || kinds[k + 1] === 'conv';
        const channel = isFirst ? this.firstChannel.sample(rng) : this.laterChannel.sample(rng);
        const holder = bernoulli(rng, ref.holderRate) ? 1 : 0;
        const closer = bernoulli(rng, kind === 'last' ? A.convertingSessionCloserRate : this.laterCloserRate) ? 1 : 0;
        sessions.push({ t, channel, holder, closer, impression: 0, paid: false, costWeight: 0, emptyCost: false });
      }
    }
    conversions.reverse();
    if (bernoulli(rng, A.postConversionBrowseRate)) {
      const sameSecond = bernoulli(rng, A.postConversionSameSecondRate);
      this.browseFrom(rng, anchor, sameSecond ? 0 : Math.max(1, Math.round(3600 * this.gapHours(rng))), sessions);
    }
  }

  private browser(rng: Rng, sessions: RawSession[]): void {
    this.browseFrom(rng, this.timeInWindow(rng), 0, sessions);
  }

  /** Sessions outside any journey, from `from + firstGap` on; those past the window are dropped. */
  private browseFrom(rng: Rng, from: number, firstGap: number, sessions: RawSession[]): void {
    const p = this.plan;
    let count = 1;
    // capped so a user's session ordinal always fits the 12 bits uniqueHexId gives it
    while (count < 200 && bernoulli(rng, A.nonConvertingExtraSessionsMean / (1 + A.nonConvertingExtraSessionsMean))) count++;
    let t = from + firstGap;
    for (let k = 0; k < count; k++) {
      if (k > 0) t += Math.max(1, Math.round(3600 * this.gapHours(rng)));
      if (t >= p.windowEnd) break;
      const day = Math.floor((t - p.windowStart) / DAY);
      const channel = (this.dayChannel[day] as WeightedSampler).sample(rng);
      sessions.push({
        t,
        channel,
        holder: bernoulli(rng, A.nonJourneyHolderRate) ? 1 : 0,
        closer: bernoulli(rng, A.nonJourneyCloserRate) ? 1 : 0,
        impression: bernoulli(rng, this.impressionRate[channel] as number) ? 1 : 0,
        paid: false,
        costWeight: 0,
        emptyCost: false,
      });
    }
  }

  /** A moment in the window, busier in the evening than at night. */
  private timeInWindow(rng: Rng): number {
    const p = this.plan;
    const day = Math.floor(rng.next() * p.dates.length);
    const hour = this.hour.sample(rng);
    return p.windowStart + day * DAY + hour * 3600 + Math.floor(rng.next() * 3600);
  }

  private revenueCents(rng: Rng): number {
    const eur = Math.min(A.revenueMax, Math.max(A.revenueMin, logNormal(rng, A.revenueMedian, A.revenueSigma)));
    return Math.round(eur * 100);
  }
}

function shuffledDays(days: number, rng: Rng): number[] {
  const a = Array.from({ length: days }, (_, i) => i);
  for (let i = days - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [a[i], a[j]] = [a[j] as number, a[i] as number];
  }
  return a;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

export const channelName = (i: number): Channel => CHANNELS[i] as Channel;
