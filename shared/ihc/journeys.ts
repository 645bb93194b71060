import type { Knex } from 'knex';
import { inputError, type AppError } from '../errors.js';
import { NON_CONVERTING_STATUS } from '../journeys/nonconverting.js';
import { toEpochSeconds, type Window } from '../window.js';
import { contractTimestamp, type ContractJourney, type ContractSession } from './contract.js';

/**
 * The window's journeys (journeys.conv_date in the window), read page by page in conv_id order so memory stays
 * bounded whatever the window's size. Sessions come in `position` order, the converting session last.
 * Non-converting paths (build-journeys' status non_converting) are never sent: they have no order to attribute.
 */

interface SessionRow {
  conv_id: string;
  session_id: string;
  event_date: string;
  event_time: string;
  channel_name: string;
  holder_engagement: number;
  closer_engagement: number;
  impression_interaction: number;
  conversion: number;
}

const bit = (n: unknown): 0 | 1 => (Number(n) === 1 ? 1 : 0);

/** `keep`: which conversions this process handles (send-to-api --shard); counting them reads their ids page by page. */
export async function countJourneys(db: Knex, w: Window, keep?: (convId: string) => boolean): Promise<number> {
  if (keep === undefined) {
    const r = (await db('journeys').whereBetween('conv_date', [w.start, w.end]).whereNot('status', NON_CONVERTING_STATUS).count({ n: '*' }).first()) as { n: number | string } | undefined;
    return Number(r?.n ?? 0);
  }
  let n = 0;
  let after: string | undefined;
  for (;;) {
    let q = db('journeys').select('conv_id').whereBetween('conv_date', [w.start, w.end]).whereNot('status', NON_CONVERTING_STATUS);
    if (after !== undefined) q = q.andWhere('conv_id', '>', after);
    const ids = (await q.orderBy('conv_id').limit(10_000)) as Array<{ conv_id: string }>;
    for (const r of ids) if (keep(r.conv_id)) n += 1;
    if (ids.length < 10_000) return n;
    after = ids[ids.length - 1]!.conv_id;
  }
}

/**
 * build-journeys writes a journeys row for every conversion of its window (with or without sessions), so a
 * window with conversions and no journeys row was never built: an error that names the command to run,
 * instead of "0 of 0" or "every conversion without journey".
 */
export async function journeysNeverBuilt(db: Knex, w: Window): Promise<AppError | undefined> {
  const built = (await db('journeys').whereBetween('conv_date', [w.start, w.end]).count({ n: '*' }).first()) as { n: number | string } | undefined;
  if (Number(built?.n ?? 0) > 0) return undefined;
  const convs = (await db('conversions').whereBetween('conv_date', [w.start, w.end]).count({ n: '*' }).first()) as { n: number | string } | undefined;
  const n = Number(convs?.n ?? 0);
  if (n === 0) return undefined;
  return inputError(
    `no journeys were built for ${w.start}..${w.end} (${n} conversions in the window): run ` +
      `build-journeys --start-date ${w.start} --end-date ${w.end} first`,
  );
}

export async function* streamJourneys(db: Knex, w: Window, pageSize = 500, keep: (convId: string) => boolean = () => true): AsyncGenerator<ContractJourney> {
  let after: string | undefined;
  for (;;) {
    let q = db('journeys').select('conv_id').whereBetween('conv_date', [w.start, w.end]).whereNot('status', NON_CONVERTING_STATUS);
    if (after !== undefined) q = q.andWhere('conv_id', '>', after);
    const heads = (await q.orderBy('conv_id').limit(pageSize)) as Array<{ conv_id: string }>;
    if (heads.length === 0) return;
    const first = heads[0]!.conv_id;
    const last = heads[heads.length - 1]!.conv_id;
    const rows = (await db('journey_sessions')
      .select(
        'conv_id',
        'session_id',
        'event_date',
        'event_time',
        'channel_name',
        'holder_engagement',
        'closer_engagement',
        'impression_interaction',
        'conversion',
      )
      .where('conv_id', '>=', first)
      .andWhere('conv_id', '<=', last)
      .orderBy([{ column: 'conv_id' }, { column: 'position' }])) as SessionRow[];
    const byConv = new Map<string, ContractSession[]>();
    for (const r of rows) {
      let list = byConv.get(r.conv_id);
      if (list === undefined) byConv.set(r.conv_id, (list = []));
      list.push({
        conversion_id: r.conv_id,
        session_id: r.session_id,
        timestamp: contractTimestamp(String(r.event_date), String(r.event_time)),
        channel_label: r.channel_name,
        holder_engagement: bit(r.holder_engagement),
        closer_engagement: bit(r.closer_engagement),
        conversion: bit(r.conversion),
        impression_interaction: bit(r.impression_interaction),
      });
    }
    for (const h of heads) if (keep(h.conv_id)) yield { conversionId: h.conv_id, sessions: byConv.get(h.conv_id) ?? [] };
    if (heads.length < pageSize) return;
    after = last;
  }
}

/** When each order was placed (epoch seconds, UTC), for the local engine's closer phase. */
export async function conversionTimes(db: Knex, ids: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  // 500 ids per IN list: under SQLite's 999 bound values on old builds
  for (let i = 0; i < ids.length; i += 500) {
    const rows = (await db('conversions').select('conv_id', 'conv_date', 'conv_time').whereIn('conv_id', ids.slice(i, i + 500))) as Array<{
      conv_id: string;
      conv_date: unknown;
      conv_time: unknown;
    }>;
    for (const r of rows) {
      const t = toEpochSeconds(String(r.conv_date), String(r.conv_time));
      // an unreadable time (build-journeys reports it) leaves the engine on the converting session's time
      if (Number.isFinite(t)) out.set(String(r.conv_id), t);
    }
  }
  return out;
}
