import * as E from 'fp-ts/lib/Either.js';
import type { AttributionError } from './errors.js';
import { AttributionInputError } from './errors.js';
import type { Journey, JourneySession } from './types.js';

/** Why a journey cannot be attributed, or undefined when it can. Cheap: one pass, no allocation. */
export function journeyProblem(j: Journey): AttributionError | undefined {
  const n = j.sessions.length;
  if (n === 0) return { _tag: 'EmptyJourney', conversionId: j.conversionId };
  for (let i = 0; i < n; i++) {
    const s = j.sessions[i]!;
    if (!Number.isFinite(s.timestamp)) {
      return { _tag: 'InvalidJourney', conversionId: j.conversionId, reason: `session ${s.sessionId} has a non-finite timestamp` };
    }
    if (typeof s.channel !== 'string') {
      return { _tag: 'InvalidJourney', conversionId: j.conversionId, reason: `session ${s.sessionId} has no channel` };
    }
  }
  if (j.conversionTimestamp !== undefined && !Number.isFinite(j.conversionTimestamp)) {
    return { _tag: 'InvalidJourney', conversionId: j.conversionId, reason: 'conversion timestamp is not finite' };
  }
  if (j.revenue !== undefined && !Number.isFinite(j.revenue)) {
    return { _tag: 'InvalidJourney', conversionId: j.conversionId, reason: 'revenue is not finite' };
  }
  return undefined;
}

export function validateJourney(j: Journey): E.Either<AttributionError, Journey> {
  const p = journeyProblem(j);
  return p === undefined ? E.right(j) : E.left(p);
}

/** Engine entry points call this: invalid input here is a programmer error (validate at the boundary). */
export function assertJourney(j: Journey): void {
  const p = journeyProblem(j);
  if (p !== undefined) throw new AttributionInputError(p);
}

/** what journey order reads of a session */
export type Stamped = Pick<JourneySession, 'timestamp' | 'sessionId'>;

function before(a: Stamped, b: Stamped): boolean {
  return a.timestamp < b.timestamp || (a.timestamp === b.timestamp && a.sessionId < b.sessionId);
}

/**
 * Indices of the sessions in journey order (timestamp, then sessionId), or null when the input is already in
 * that order (the common case, which then costs one comparison per session and no allocation).
 */
export function chronologicalOrder(sessions: readonly Stamped[]): Int32Array | null {
  let sorted = true;
  for (let i = 1; i < sessions.length; i++) {
    if (before(sessions[i]!, sessions[i - 1]!)) {
      sorted = false;
      break;
    }
  }
  if (sorted) return null;
  const idx = Array.from(sessions.keys());
  idx.sort((a, b) => {
    const sa = sessions[a]!;
    const sb = sessions[b]!;
    if (sa.timestamp !== sb.timestamp) return sa.timestamp - sb.timestamp;
    return sa.sessionId < sb.sessionId ? -1 : sa.sessionId > sb.sessionId ? 1 : a - b;
  });
  return Int32Array.from(idx);
}

/**
 * The moment of conversion: the journey's own timestamp when given, else the converting session's, else the
 * latest session's.
 * A session stamped after it counts as at the conversion (hours before conversion are clamped at 0).
 */
export function conversionTime(j: Journey): number {
  let latest = -Infinity;
  let converting = -Infinity;
  for (const s of j.sessions) {
    if (s.timestamp > latest) latest = s.timestamp;
    if (s.conversion === 1 && s.timestamp > converting) converting = s.timestamp;
  }
  const t = j.conversionTimestamp ?? (converting > -Infinity ? converting : latest);
  return t;
}
