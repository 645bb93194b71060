import * as E from 'fp-ts/lib/Either.js';
import { describeErrors } from '../codecs/report.js';
import { isFirst } from '../codecs/is-first.js';
import { AnswerCodec, type ContractJourney, type ValueItem } from './contract.js';

/**
 * The checks an answer passes before anything of it is written onward: it decodes, every sent session of every
 * answered journey is answered exactly once, no unknown ids, every value in [0, 1], ihc sums to 1 per
 * conversion. A 206 may leave journeys out if it says so; those become failed journeys with the reason given.
 */

export interface FailedJourney {
  readonly conversionId: string;
  readonly reason: string;
}

export type Checked =
  | {
      readonly _tag: 'accepted';
      readonly status: 'succeeded' | 'partial';
      readonly values: readonly ValueItem[];
      readonly failed: readonly FailedJourney[];
    }
  | { readonly _tag: 'rejected'; readonly reason: string };

const reject = (reason: string): Checked => ({ _tag: 'rejected', reason });

// the codec converts nothing, so an answer `is` accepts is read as parsed
const CheckedAnswer = isFirst(AnswerCodec);

/** `journeys` are the journeys exactly as sent (opaque ids when those were sent). */
export function checkAnswer(journeys: readonly ContractJourney[], httpStatus: number, text: string, tolerance: number): Checked {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return reject(`the answer is not valid JSON (HTTP ${httpStatus}, ${text.length} bytes, starts ${JSON.stringify(text.slice(0, 60))})`);
  }
  const decoded = CheckedAnswer.decode(json);
  if (E.isLeft(decoded)) return reject(`the answer does not have the contract's shape: ${describeErrors(decoded.left).slice(0, 5).join('; ')}`);
  const answer = decoded.right;
  const status = answer.statusCode ?? httpStatus;
  if (status !== 200 && status !== 206) return reject(`the answer says statusCode ${status} (HTTP ${httpStatus})`);

  const sent = new Map<string, Map<string, number>>();
  for (const j of journeys) {
    const m = new Map<string, number>();
    for (const s of j.sessions) m.set(s.session_id, 0);
    sent.set(j.conversionId, m);
  }
  const sums = new Map<string, number>();
  for (const v of answer.value) {
    const m = sent.get(v.conversion_id);
    if (m === undefined) return reject(`the answer names conversion_id ${JSON.stringify(v.conversion_id)}, which was not sent`);
    const seen = m.get(v.session_id);
    if (seen === undefined) return reject(`the answer names session_id ${JSON.stringify(v.session_id)} in conversion ${v.conversion_id}, which was not sent`);
    if (seen > 0) return reject(`the answer gives session ${v.session_id} of conversion ${v.conversion_id} more than once`);
    m.set(v.session_id, 1);
    for (const k of ['initializer', 'holder', 'closer', 'ihc'] as const) {
      const x = v[k];
      if (!Number.isFinite(x) || x < -tolerance || x > 1 + tolerance) {
        return reject(`the answer gives ${k} = ${x} for session ${v.session_id} of conversion ${v.conversion_id}, outside [0, 1]`);
      }
    }
    sums.set(v.conversion_id, (sums.get(v.conversion_id) ?? 0) + v.ihc);
  }

  const listed = failureReasons(answer.partialFailureErrors ?? [], journeys);
  const failed: FailedJourney[] = [];
  const failedIds = new Set<string>();
  for (const j of journeys) {
    const m = sent.get(j.conversionId)!;
    let answered = 0;
    for (const c of m.values()) answered += c;
    const reason = listed.get(j.conversionId);
    if (answered === 0 && (status === 206 || reason !== undefined)) {
      failed.push({ conversionId: j.conversionId, reason: reason ?? 'left out of a 206 answer without a reason' });
      failedIds.add(j.conversionId);
      continue;
    }
    if (answered === 0) return reject(`the answer has no values for conversion ${j.conversionId} and does not list it as failed`);
    if (reason !== undefined) {
      // answered yet listed as failed: the provider contradicts itself about this journey; trust neither half
      failed.push({ conversionId: j.conversionId, reason });
      failedIds.add(j.conversionId);
      continue;
    }
    if (answered < m.size) {
      const missing = [...m].filter(([, c]) => c === 0).map(([s]) => s);
      return reject(`the answer misses ${missing.length} session(s) of conversion ${j.conversionId} (e.g. ${missing[0]})`);
    }
    const sum = sums.get(j.conversionId) ?? 0;
    if (Math.abs(sum - 1) > tolerance) return reject(`ihc of conversion ${j.conversionId} sums to ${sum}, not 1 (tolerance ${tolerance})`);
  }
  const values = failedIds.size === 0 ? answer.value : answer.value.filter((v) => !failedIds.has(v.conversion_id));
  return { _tag: 'accepted', status: failed.length > 0 ? 'partial' : 'succeeded', values, failed };
}

/**
 * `partialFailureErrors` items are not fully specified by the public material: accept objects naming the
 * conversion (conversion_id / conversionId) with a message (error / message / reason), or strings that mention
 * a sent conversion id.
 */
function failureReasons(items: readonly unknown[], journeys: readonly ContractJourney[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const it of items) {
    if (typeof it === 'object' && it !== null) {
      const o = it as Record<string, unknown>;
      const id = o['conversion_id'] ?? o['conversionId'];
      const msg = o['error'] ?? o['message'] ?? o['reason'];
      if (typeof id === 'string') {
        out.set(id, typeof msg === 'string' ? msg : JSON.stringify(it).slice(0, 500));
        continue;
      }
    }
    const text = typeof it === 'string' ? it : JSON.stringify(it);
    for (const j of journeys) if (text.includes(j.conversionId) && !out.has(j.conversionId)) out.set(j.conversionId, text.slice(0, 500));
  }
  return out;
}
