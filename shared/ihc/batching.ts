import type { ContractJourney, RequestLimits } from './contract.js';

/**
 * Packing journeys into requests. Greedy over the journeys in the order they come (conv_id order from the
 * database), so the same journeys always give the same batches: that is what makes a re-run's fingerprints
 * match the staged ones and send nothing.
 */

export type OversizeRule = 'keep_latest' | 'skip';

export interface Batch {
  readonly journeys: readonly ContractJourney[];
  readonly sessions: number;
}

/** A journey the batcher changed or left out, so the caller can report it (never silently). */
export type BatchNotice =
  | { readonly kind: 'truncated'; readonly conversionId: string; readonly from: number; readonly to: number }
  | { readonly kind: 'oversize_skipped'; readonly conversionId: string; readonly sessions: number }
  | { readonly kind: 'empty'; readonly conversionId: string };

/**
 * A journey longer than the per-request session limit: `keep_latest` keeps its latest `maxSessions` sessions
 * (the converting session is the last one, so it stays, and so do the sessions nearest the conversion);
 * `skip` leaves it out. Either way a notice is returned.
 */
export function fitJourney(
  j: ContractJourney,
  maxSessions: number,
  rule: OversizeRule,
): { readonly journey: ContractJourney | undefined; readonly notice: BatchNotice | undefined } {
  const n = j.sessions.length;
  if (n === 0) return { journey: undefined, notice: { kind: 'empty', conversionId: j.conversionId } };
  if (n <= maxSessions) return { journey: j, notice: undefined };
  if (rule === 'skip') return { journey: undefined, notice: { kind: 'oversize_skipped', conversionId: j.conversionId, sessions: n } };
  return {
    journey: { conversionId: j.conversionId, sessions: j.sessions.slice(n - maxSessions) },
    notice: { kind: 'truncated', conversionId: j.conversionId, from: n, to: maxSessions },
  };
}

/** Batches that never split a journey and hold at most `maxJourneys` journeys and `maxSessions` sessions. */
export async function* packBatches(
  journeys: AsyncIterable<ContractJourney> | Iterable<ContractJourney>,
  limits: RequestLimits & { readonly oversize: OversizeRule },
  onNotice: (n: BatchNotice) => void = () => {},
): AsyncGenerator<Batch> {
  let current: ContractJourney[] = [];
  let sessions = 0;
  for await (const raw of journeys) {
    const { journey, notice } = fitJourney(raw, limits.maxSessions, limits.oversize);
    if (notice !== undefined) onNotice(notice);
    if (journey === undefined) continue;
    const n = journey.sessions.length;
    if (current.length > 0 && (current.length >= limits.maxJourneys || sessions + n > limits.maxSessions)) {
      yield { journeys: current, sessions };
      current = [];
      sessions = 0;
    }
    current.push(journey);
    sessions += n;
  }
  if (current.length > 0) yield { journeys: current, sessions };
}
