/**
 * Demo data at any scale, deterministic for a seed, written as the three CSV files `load` reads.
 *
 * Two passes over the users: the first only tallies sessions per (channel, day) so that the second can
 * hand each day's budget out to that day's sessions exactly (the per-channel spend then matches the
 * reference to the cent). Both passes replay the same keyed random streams, so memory stays flat at any
 * scale: one user's rows, one batch of formatted text and a (channel x day) table.
 */
import path from 'node:path';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { messageOf, usageError, type AppError } from '../errors.js';
import { csvField, type Files, type LineOut } from '../files.js';
import { uniqueHexId } from './random.js';
import { CHANNELS, type Channel } from './shape.js';
import { DemoModel, makePlan, type DemoOptions, type DemoPlan, type RawSession, type RawUser } from './model.js';

export type { DemoOptions, DemoPlan } from './model.js';
export { makePlan } from './model.js';

export interface DemoProgressOptions extends DemoOptions {
  /** called while rows are produced (second pass), after each batch of users and once at the end */
  readonly onProgress?: (usersDone: number, usersTotal: number) => void;
}

export interface SessionRow {
  readonly session_id: string;
  readonly user_id: string;
  readonly event_date: string;
  readonly event_time: string;
  readonly channel_name: Channel;
  readonly holder_engagement: 0 | 1;
  readonly closer_engagement: 0 | 1;
  readonly impression_interaction: 0 | 1;
}

export interface ConversionRow {
  readonly conv_id: string;
  readonly user_id: string;
  readonly conv_date: string;
  readonly conv_time: string;
  /** EUR, 2 decimals */
  readonly revenue: number;
}

export interface CostRow {
  readonly session_id: string;
  /** EUR, 2 decimals; null = missing */
  readonly cost: number | null;
}

export interface DemoRowSink {
  readonly session: (row: SessionRow) => void;
  readonly cost: (row: CostRow) => void;
  readonly conversion: (row: ConversionRow) => void;
}

export interface DemoCounts {
  readonly sessions: number;
  readonly conversions: number;
  readonly costs: number;
  readonly users: number;
}

export interface DemoFiles {
  readonly sessions: string;
  readonly conversions: string;
  readonly costs: string;
}

export const DEMO_FILE_NAMES = {
  sessions: 'session_sources.csv',
  conversions: 'conversions.csv',
  costs: 'session_costs.csv',
} as const;

export const DEMO_HEADERS = {
  sessions: 'session_id,user_id,event_date,event_time,channel_name,holder_engagement,closer_engagement,impression_interaction',
  conversions: 'conv_id,user_id,conv_date,conv_time,revenue',
  costs: 'session_id,cost',
} as const;

const DAY = 86400;
const BATCH_USERS = 2000;

/** Hands each (channel, day) budget out over that cell's paid sessions; see the module comment. */
class CostBook {
  private readonly days: number;
  private readonly weightSum: Float64Array;
  private readonly paidCount: Uint32Array;
  private readonly running: Float64Array;
  private readonly given: Float64Array;
  private readonly fallbackDone: Uint8Array;

  constructor(private readonly plan: DemoPlan) {
    this.days = plan.dates.length;
    const cells = CHANNELS.length * this.days;
    this.weightSum = new Float64Array(cells);
    this.paidCount = new Uint32Array(cells);
    this.running = new Float64Array(cells);
    this.given = new Float64Array(cells);
    this.fallbackDone = new Uint8Array(cells);
  }

  private cell(s: RawSession): number {
    return s.channel * this.days + Math.floor((s.t - this.plan.windowStart) / DAY);
  }

  private budget(s: RawSession): number {
    return (this.plan.budgetCents[s.channel] as readonly number[])[Math.floor((s.t - this.plan.windowStart) / DAY)] as number;
  }

  tally(user: RawUser): void {
    for (const s of user.sessions) {
      if (!s.paid) continue;
      const c = this.cell(s);
      this.weightSum[c] = (this.weightSum[c] as number) + s.costWeight;
      this.paidCount[c] = (this.paidCount[c] as number) + 1;
    }
  }

  /** cents, or null for a missing cost; must see sessions in the order `tally` saw them */
  cents(s: RawSession): number | null {
    const c = this.cell(s);
    const budget = this.budget(s);
    if (budget > 0 && this.paidCount[c] === 0 && this.fallbackDone[c] === 0) {
      // a day whose few paid clicks all fell elsewhere: its budget still lands, on the day's first session
      this.fallbackDone[c] = 1;
      return budget;
    }
    if (!s.paid) return s.emptyCost ? null : 0;
    if (budget === 0) return 0;
    // rounding the running total (not each share) makes the cell add up to its budget exactly
    const run = (this.running[c] as number) + s.costWeight;
    this.running[c] = run;
    const upTo = Math.round((budget * run) / (this.weightSum[c] as number));
    const mine = upTo - (this.given[c] as number);
    this.given[c] = upTo;
    return mine;
  }
}

const IdKind = { user: 1, session: 2, conversion: 3 } as const;
type IdKind = (typeof IdKind)[keyof typeof IdKind];

const P2 = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));

/** Turns raw users into rows: ids, dates, costs. One per pass-2 run; carries the cost book. */
class RowMaker {
  private readonly model: DemoModel;
  private readonly book: CostBook;

  constructor(readonly plan: DemoPlan) {
    this.model = new DemoModel(plan);
    this.book = new CostBook(plan);
    for (let i = 0; i < plan.users; i++) this.book.tally(this.model.user(i));
  }

  private id(kind: IdKind, user: number, k: number): string {
    return uniqueHexId(this.plan.seed, kind, user, k);
  }

  private date(t: number): string {
    return this.plan.dates[Math.floor((t - this.plan.windowStart) / DAY)] as string;
  }

  emit(index: number, sink: DemoRowSink): { sessions: number; conversions: number } {
    const u = this.model.user(index);
    const userId = this.id(IdKind.user, index, 0);
    u.sessions.forEach((s, k) => {
      const sessionId = this.id(IdKind.session, index, k);
      const sod = (s.t - this.plan.windowStart) % DAY;
      sink.session({
        session_id: sessionId,
        user_id: userId,
        event_date: this.date(s.t),
        event_time: timeOfDay(sod),
        channel_name: CHANNELS[s.channel] as Channel,
        holder_engagement: s.holder,
        closer_engagement: s.closer,
        impression_interaction: s.impression,
      });
      const cents = this.book.cents(s);
      sink.cost({ session_id: sessionId, cost: cents === null ? null : cents / 100 });
    });
    u.conversions.forEach((c, k) => {
      sink.conversion({
        conv_id: this.id(IdKind.conversion, index, k),
        user_id: userId,
        conv_date: this.date(c.t),
        conv_time: timeOfDay((c.t - this.plan.windowStart) % DAY),
        revenue: c.revenueCents / 100,
      });
    });
    return { sessions: u.sessions.length, conversions: u.conversions.length };
  }
}

function timeOfDay(sod: number): string {
  return `${P2[Math.floor(sod / 3600)]}:${P2[Math.floor(sod / 60) % 60]}:${P2[sod % 60]}`;
}

/** Callback form: every row, table by table interleaved user by user, without files. */
export function forEachDemoRow(opts: DemoProgressOptions, sink: DemoRowSink): DemoCounts {
  const maker = new RowMaker(makePlan(opts));
  const users = maker.plan.users;
  let sessions = 0;
  let conversions = 0;
  for (let i = 0; i < users; i++) {
    const n = maker.emit(i, sink);
    sessions += n.sessions;
    conversions += n.conversions;
    if (opts.onProgress && ((i + 1) % BATCH_USERS === 0 || i + 1 === users)) opts.onProgress(i + 1, users);
  }
  return { sessions, conversions, costs: sessions, users };
}

/** money with exactly two decimals, from a value that is already a whole number of cents */
function eur(x: number): string {
  return x.toFixed(2);
}

/**
 * Writes session_sources.csv, conversions.csv and session_costs.csv into `dir` (created if missing).
 * Files appear complete or not at all (see Files.writeLines). Invalid options (scale <= 0, a date that is not
 * YYYY-MM-DD, start after end) are a UsageError; a folder or disk that refuses the files an OutputError.
 */
export function writeDemoCsvs(
  dir: string,
  opts: DemoProgressOptions,
  out: Files,
): TE.TaskEither<AppError, DemoCounts & { readonly files: DemoFiles }> {
  let plan: DemoPlan;
  try {
    plan = makePlan(opts);
  } catch (e) {
    return TE.left(usageError(messageOf(e)));
  }
  const files: DemoFiles = {
    sessions: path.join(dir, DEMO_FILE_NAMES.sessions),
    conversions: path.join(dir, DEMO_FILE_NAMES.conversions),
    costs: path.join(dir, DEMO_FILE_NAMES.costs),
  };
  const targets = [
    { file: files.sessions, header: DEMO_HEADERS.sessions },
    { file: files.conversions, header: DEMO_HEADERS.conversions },
    { file: files.costs, header: DEMO_HEADERS.costs },
  ];
  return pipe(
    out.ensureDir(dir),
    TE.chain(() =>
      out.writeLines(targets, async (all) => {
        const [sessionsOut, conversionsOut, costsOut] = all as [LineOut, LineOut, LineOut];
        const maker = new RowMaker(plan);
        const channelCsv = CHANNELS.map(csvField);
        const sink: DemoRowSink = {
          session: (r) =>
            sessionsOut.line(
              `${r.session_id},${r.user_id},${r.event_date},${r.event_time},${channelCsv[CHANNELS.indexOf(r.channel_name)]},${r.holder_engagement},${r.closer_engagement},${r.impression_interaction}\n`,
            ),
          cost: (r) => costsOut.line(`${r.session_id},${r.cost === null ? '' : eur(r.cost)}\n`),
          conversion: (r) => conversionsOut.line(`${r.conv_id},${r.user_id},${r.conv_date},${r.conv_time},${eur(r.revenue)}\n`),
        };
        let sessions = 0;
        let conversions = 0;
        for (let i = 0; i < plan.users; ) {
          const end = Math.min(plan.users, i + BATCH_USERS);
          for (; i < end; i++) {
            const n = maker.emit(i, sink);
            sessions += n.sessions;
            conversions += n.conversions;
          }
          await Promise.all(all.map((o) => o.flush()));
          opts.onProgress?.(i, plan.users);
        }
        return { sessions, conversions, costs: sessions, users: plan.users, files };
      }),
    ),
  );
}
