import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { computeIhc } from '../attribution/ihc.js';
import { RedistributionParameter, type IhcParams } from '../attribution/params.js';
import type { Journey } from '../attribution/types.js';
import { isFirst } from '../codecs/is-first.js';
import { describeErrors } from '../codecs/report.js';
import { strict, strictWithOptional } from '../codecs/strict.js';
import { isIsoDate, isIsoTime } from '../window.js';

/**
 * The IHC API contract (docs/design.md, "The IHC API contract") as codecs and plain types, shared by the client (send-to-api),
 * the in-process `local` provider and the self-hosted server, so all three speak exactly one shape.
 */

const ZeroOne = t.refinement(t.number, (n) => n === 0 || n === 1, '0 or 1');
const NonEmptyString = t.refinement(t.string, (s) => s !== '', 'a non-empty string');

/**
 * Date parts already found real: a request's sessions fall on a few days, and isIsoDate builds a Date for each
 * (the sessions of a journey alternate between days, so remembering the last one was not enough). Bounded: a
 * long-running server forgets them all now and then.
 */
const realDates = new Set<string>();

/** "YYYY-MM-DD HH:MM:SS", UTC. */
export const ContractTimestamp = t.refinement(
  t.string,
  (s) => {
    if (s.length !== 19 || s[10] !== ' ') return false;
    const date = s.slice(0, 10);
    if (!realDates.has(date)) {
      if (!isIsoDate(date)) return false;
      if (realDates.size >= 4096) realDates.clear();
      realDates.add(date);
    }
    return isIsoTime(s.slice(11));
  },
  'a timestamp written "YYYY-MM-DD HH:MM:SS"',
);

const SESSION_PROPS = {
  conversion_id: NonEmptyString,
  session_id: NonEmptyString,
  timestamp: ContractTimestamp,
  channel_label: t.string,
  holder_engagement: ZeroOne,
  closer_engagement: ZeroOne,
  conversion: ZeroOne,
  impression_interaction: ZeroOne,
};

export const ContractSessionCodec = strict(SESSION_PROPS, 'session');

export interface ContractSession {
  readonly conversion_id: string;
  readonly session_id: string;
  readonly timestamp: string;
  readonly channel_label: string;
  readonly holder_engagement: 0 | 1;
  readonly closer_engagement: 0 | 1;
  readonly conversion: 0 | 1;
  readonly impression_interaction: 0 | 1;
}

export interface RequestBody {
  readonly customer_journeys: readonly ContractSession[];
  readonly redistribution_parameter?: RedistributionParameter;
}

export const RequestEnvelope = strictWithOptional(
  { customer_journeys: t.array(t.unknown) },
  { redistribution_parameter: RedistributionParameter },
  'request body',
);

export const ValueItemCodec = t.type({
  conversion_id: t.string,
  session_id: t.string,
  initializer: t.number,
  holder: t.number,
  closer: t.number,
  ihc: t.number,
});
export type ValueItem = t.TypeOf<typeof ValueItemCodec>;

/** The answer as the client decodes it: extra keys are tolerated (a vendor may add some), missing ones are not. */
export const AnswerCodec = t.intersection([
  t.type({ value: t.array(ValueItemCodec) }),
  t.partial({ statusCode: t.number, partialFailureErrors: t.union([t.null, t.array(t.unknown)]) }),
]);
export type Answer = t.TypeOf<typeof AnswerCodec>;

/** What our server (and the local provider) puts in `partialFailureErrors`. */
export interface PartialFailure {
  readonly conversion_id: string;
  readonly error: string;
}

/** A journey as it travels: its conversion id and its sessions in journey order, converting session last. */
export interface ContractJourney {
  readonly conversionId: string;
  readonly sessions: readonly ContractSession[];
}

export function bodyOf(journeys: readonly ContractJourney[], redistribution?: RedistributionParameter): RequestBody {
  const sessions: ContractSession[] = [];
  for (const j of journeys) for (const s of j.sessions) sessions.push(s);
  return redistribution === undefined ? { customer_journeys: sessions } : { customer_journeys: sessions, redistribution_parameter: redistribution };
}

export function contractTimestamp(date: string, time: string): string {
  return `${date} ${time}`;
}

export function epochOfContractTimestamp(ts: string): number {
  return Date.parse(`${ts.slice(0, 10)}T${ts.slice(11)}Z`) / 1000;
}

export interface RequestLimits {
  readonly maxJourneys: number;
  readonly maxSessions: number;
}

/** The outcome of answering one request, before it is serialised: an HTTP status and a JSON body. */
export interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export const errorReply = (status: number, message: string): Reply => ({ status, body: { statusCode: status, message } });

interface ParsedJourney {
  readonly journey: Journey;
  /** request index of each session, so the answer keeps the request's order */
  readonly order: number[];
}

// both convert nothing: a request's sessions are checked without building an io-ts context per value (a third of
// the local provider's CPU at scale 10 went to that), and decoded only to say what is wrong with one
const EnvelopeFirst = isFirst(RequestEnvelope);
const SessionFirst = isFirst(ContractSessionCodec);

/**
 * Answers one compute_ihc request body with the local engine: the server's handler and the `local` provider's
 * transport. 400 names the field for a body that cannot be read at all (or whose every journey is invalid),
 * 206 lists journeys that cannot be parsed while answering the others, 200 answers everything.
 */
export function answerRequest(raw: unknown, params: IhcParams, limits: RequestLimits, conversionTimes?: ReadonlyMap<string, number>): Reply {
  const env = EnvelopeFirst.decode(raw);
  if (E.isLeft(env)) return errorReply(400, `invalid request: ${describeErrors(env.left).slice(0, 5).join('; ')}`);
  const items = env.right.customer_journeys;
  if (items.length === 0) return errorReply(400, 'invalid request: customer_journeys: must hold at least one session');
  if (items.length > limits.maxSessions) {
    return errorReply(400, `invalid request: customer_journeys: ${items.length} sessions, more than the limit of ${limits.maxSessions} per request`);
  }
  const journeyOf = new Map<string, { sessions: ContractSession[]; order: number[]; problems: string[] }>();
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const cid = typeof item === 'object' && item !== null ? (item as Record<string, unknown>)['conversion_id'] : undefined;
    if (typeof cid !== 'string' || cid === '') {
      const why = typeof item !== 'object' || item === null || Array.isArray(item) ? 'expected a session object' : 'missing, expected a non-empty string';
      return errorReply(400, `invalid request: customer_journeys[${i}]${typeof item === 'object' && item !== null && !Array.isArray(item) ? '.conversion_id' : ''}: ${why}`);
    }
    let j = journeyOf.get(cid);
    if (j === undefined) {
      if (journeyOf.size >= limits.maxJourneys) {
        return errorReply(400, `invalid request: customer_journeys: more than the limit of ${limits.maxJourneys} journeys (conversion_id values) per request`);
      }
      j = { sessions: [], order: [], problems: [] };
      journeyOf.set(cid, j);
    }
    const s = SessionFirst.decode(item);
    if (E.isLeft(s)) {
      for (const p of describeErrors(s.left, `customer_journeys[${i}]`)) j.problems.push(p);
      continue;
    }
    j.sessions.push(s.right as ContractSession);
    j.order.push(i);
  }
  const parsed: Array<{ id: string; p: ParsedJourney }> = [];
  const failures: PartialFailure[] = [];
  for (const [id, j] of journeyOf) {
    const problem = j.problems.length > 0 ? j.problems.join('; ') : journeyLevelProblem(j.sessions);
    if (problem !== undefined) {
      failures.push({ conversion_id: id, error: problem });
      continue;
    }
    parsed.push({ id, p: { journey: toEngineJourney(id, j.sessions, conversionTimes?.get(id)), order: j.order } });
  }
  if (parsed.length === 0) {
    return errorReply(400, `invalid request: no journey could be parsed: ${failures.slice(0, 3).map((f) => `${f.conversion_id}: ${f.error}`).join(' | ')}`);
  }
  const redistribution = env.right.redistribution_parameter;
  const p: IhcParams = redistribution === undefined ? params : { ...params, redistribution };
  const slots = new Array<ValueItem | undefined>(items.length);
  for (const { id, p: pj } of parsed) {
    const res = computeIhc(pj.journey, p);
    for (let k = 0; k < res.length; k++) {
      const r = res[k]!;
      slots[pj.order[k]!] = { conversion_id: id, session_id: r.sessionId, initializer: r.initializer, holder: r.holder, closer: r.closer, ihc: r.ihc };
    }
  }
  const value = slots.filter((v): v is ValueItem => v !== undefined);
  if (failures.length > 0) return { status: 206, body: { statusCode: 206, value, partialFailureErrors: failures } };
  return { status: 200, body: { statusCode: 200, value } };
}

function journeyLevelProblem(sessions: readonly ContractSession[]): string | undefined {
  const seen = new Set<string>();
  let converting = 0;
  for (const s of sessions) {
    if (seen.has(s.session_id)) return `session_id ${s.session_id} appears twice in the journey`;
    seen.add(s.session_id);
    converting += s.conversion;
  }
  if (converting !== 1) return `a journey needs exactly one session with conversion = 1, found ${converting}`;
  return undefined;
}

/**
 * `conversionTimestamp` (epoch seconds): the order's own time when the caller knows it (the in-process `local`
 * provider reads it from the database); the contract carries none, so a server falls back to the converting
 * session's time.
 */
export function toEngineJourney(conversionId: string, sessions: readonly ContractSession[], conversionTimestamp?: number): Journey {
  return {
    conversionId,
    ...(conversionTimestamp !== undefined ? { conversionTimestamp } : {}),
    sessions: sessions.map((s) => ({
      sessionId: s.session_id,
      timestamp: epochOfContractTimestamp(s.timestamp),
      channel: s.channel_label,
      holderEngagement: s.holder_engagement,
      closerEngagement: s.closer_engagement,
      impressionInteraction: s.impression_interaction,
      conversion: s.conversion,
    })),
  };
}
