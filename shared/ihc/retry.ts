import * as http from 'node:http';
import * as https from 'node:https';
import { messageOf, redact } from '../errors.js';

/*
 * ky is imported by the first POST, not with this module: the local provider never posts, and loading ky makes
 * Node load its fetch implementation at once (ky asks at import whether Request takes streams).
 */
type Ky = typeof import('ky');
let kyModule: Promise<Ky> | undefined;
const loadKy = (): Promise<Ky> => (kyModule ??= import('ky'));

/**
 * One batch's POST with ky's own retry (ky 1.x retries POST when asked; its `timeout` is per attempt, read in
 * node_modules/ky/distribution/core/Ky.js: every attempt gets a fresh timer and abort controller). ky does the
 * backoff, the jitter, Retry-After and the attempt timeout; the overall deadline is an AbortSignal. What is left
 * here is what ky cannot do: give up at once when the next wait would pass the deadline (ky would sleep into
 * it), count the answer's body as part of the attempt, and sort the end into refused / rejected / gave up.
 */

export interface RetryPolicy {
  readonly attemptTimeoutMs: number;
  readonly deadlineMs: number;
  readonly maxRetries: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

/** What tests replace: the jitter's randomness, and a look at each wait before ky sleeps it. */
export interface Timing {
  readonly now: () => number;
  readonly random: () => number;
  readonly waited?: (ms: number) => void;
}

export const realTiming: Timing = { now: () => Date.now(), random: () => Math.random() };

export type SendOutcome =
  | { readonly ok: true; readonly status: number; readonly text: string; readonly attempts: number }
  | {
      readonly ok: false;
      /** refused: 401/403 (the key); rejected: another answer that retrying cannot fix; gave_up: retries or deadline exhausted */
      readonly kind: 'refused' | 'rejected' | 'gave_up';
      readonly status?: number;
      readonly message: string;
      readonly text?: string;
      readonly attempts: number;
    };

export interface RetryEvent {
  /** the attempt that failed, from 1 */
  readonly attempt: number;
  readonly reason: string;
  readonly delayMs: number;
}

/** 408, 429 and 5xx: the answers a later attempt may not get. */
export const RETRY_STATUSES: readonly number[] = [408, 429, ...Array.from({ length: 100 }, (_, i) => 500 + i)];

/** Retry-After as milliseconds: delta-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** The server's own words, for a 4xx: `message` / `error` of a JSON body, else the start of the text. */
export function serverMessage(text: string): string {
  try {
    const j = JSON.parse(text) as unknown;
    if (typeof j === 'object' && j !== null) {
      const o = j as Record<string, unknown>;
      for (const k of ['message', 'error', 'detail', 'errorMessage']) if (typeof o[k] === 'string') return redact(o[k] as string).slice(0, 500);
    }
  } catch {
    // not JSON: fall through to the raw text
  }
  const s = text.trim().slice(0, 300);
  return s === '' ? '(empty body)' : redact(s);
}

/** The final answer of a batch, whoever gave it (the local engine answers once, with a status like a server). */
export function outcomeOf(status: number, text: string, attempts: number): SendOutcome {
  if (status >= 200 && status < 300) return { ok: true, status, text, attempts };
  if (status === 401 || status === 403) {
    return { ok: false, kind: 'refused', status, message: `the provider refused the API key (HTTP ${status}): ${serverMessage(text)}`, text, attempts };
  }
  return { ok: false, kind: 'rejected', status, message: `the provider rejected the request (HTTP ${status}): ${serverMessage(text)}`, text, attempts };
}

/** Thrown from ky's jitter hook: the only way to stop ky before it sleeps. */
class PastDeadline extends Error {}

/** A failed attempt in words, with the server's for an HTTP error (`text`: its answer, see `fetch` below). */
async function describeFailure(e: unknown, text: (r: Response) => string): Promise<string> {
  const { isHTTPError, isTimeoutError } = await loadKy();
  if (isHTTPError(e)) return `HTTP ${e.response.status}: ${serverMessage(text(e.response)).slice(0, 200)}`;
  if (isTimeoutError(e)) return 'no answer within the attempt timeout';
  const cause = e instanceof Error && e.cause !== undefined ? ` (${messageOf(e.cause)})` : '';
  return `network error: ${redact(`${messageOf(e)}${cause}`)}`;
}

export async function postWithRetry(
  url: string,
  request: { readonly body: string; readonly headers: Record<string, string> },
  policy: RetryPolicy,
  timing: Timing = realTiming,
  onRetry: (e: RetryEvent) => void = () => {},
): Promise<SendOutcome> {
  const { default: ky, isHTTPError } = await loadKy();
  const started = timing.now();
  const left = (): number => policy.deadlineMs - (timing.now() - started);
  const deadline = AbortSignal.timeout(policy.deadlineMs);
  let attempts = 0;
  let last = 'no attempt made';
  let wait = 0;
  // The body, and each attempt's answer by the Response that ky got for it (see `fetch`), emptied when the POST ends:
  // ky's objects stay reachable from the WeakRefs of Node's AbortSignal and Request until a full collection (a young
  // one holds on to what a WeakRef reaches), and whatever its closures still reached would go to the old generation.
  const job = { body: request.body, answers: new Map<Response, string>() };
  const headers = request.headers;
  const text = (r: Response): string => job.answers.get(r) ?? '';
  try {
    const res = await ky.post(url, {
      headers,
      timeout: policy.attemptTimeoutMs,
      signal: deadline,
      // ky decides about retries; each attempt is one POST over node:http(s) with the body from here, and ky gets a
      // Response without a body. Reading the answer is part of the attempt (a body cut off or stalled is retried and
      // timed like no answer). Through fetch, every request body and answer stayed reachable from undici's
      // FinalizationRegistry and WeakRefs, which young-generation collections hold on to: all of them went to the old
      // generation as garbage, which grew to V8's threshold between full collections (send-to-api against a loopback
      // server: peak RSS 176 MB at scale 10, 209 at 30, 236 at 100, while the heap after a full collection was 17 MB).
      fetch: async (input, init) => {
        const a = await postOnce(url, job.body, headers, input instanceof Request ? input.signal : (init?.signal ?? undefined));
        const r = new Response(null, { status: a.status, statusText: a.statusText, headers: a.headers });
        job.answers.set(r, a.text);
        return r;
      },
      retry: {
        limit: policy.maxRetries,
        methods: ['post'],
        statusCodes: [...RETRY_STATUSES],
        afterStatusCodes: [...RETRY_STATUSES],
        retryOnTimeout: true,
        delay: (retry) => Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** Math.min(retry - 1, 30)),
        // full jitter: uniform in [0, min(max, initial * 2^k))
        jitter: (cap) => {
          wait = Math.floor(timing.random() * cap);
          if (wait >= left()) throw new PastDeadline(`the next try (in ${wait} ms) would pass the deadline`);
          return wait;
        },
        shouldRetry: async ({ error }) => {
          if (deadline.aborted) return false;
          last = await describeFailure(error, text);
          if (isHTTPError(error) && RETRY_STATUSES.includes(error.response.status)) {
            const after = parseRetryAfter(error.response.headers.get('retry-after'), Date.now());
            if (after !== undefined) {
              if (after >= left()) throw new PastDeadline(`the next try (in ${after} ms, as Retry-After asks) would pass the deadline`);
              // ky waits this long itself (Retry-After takes no jitter)
              wait = after;
            }
          }
          return undefined;
        },
      },
      hooks: {
        beforeRequest: [
          () => {
            attempts += 1;
          },
        ],
        beforeRetry: [
          () => {
            timing.waited?.(wait);
            onRetry({ attempt: attempts, reason: last, delayMs: wait });
          },
        ],
      },
    });
    return outcomeOf(res.status, text(res), attempts);
  } catch (e) {
    if (e instanceof PastDeadline) return { ok: false, kind: 'gave_up', message: `gave up after ${attempts} attempt(s): ${e.message}; last: ${last}`, attempts };
    if (deadline.aborted) {
      return { ok: false, kind: 'gave_up', message: `deadline of ${policy.deadlineMs} ms passed after ${attempts} attempt(s); last: ${last}`, attempts };
    }
    if (isHTTPError(e) && !RETRY_STATUSES.includes(e.response.status)) return outcomeOf(e.response.status, text(e.response), attempts);
    last = await describeFailure(e, text);
    return { ok: false, kind: 'gave_up', message: `gave up after ${attempts} attempt(s); last: ${last}`, attempts };
  } finally {
    job.body = '';
    job.answers.clear();
  }
}

interface Answer {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly text: string;
}

/** One POST and its whole answer; `signal` (ky's, per attempt) cuts it off. */
function postOnce(url: string, body: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? https : http).request(
      u,
      { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, ...(signal !== undefined ? { signal } : {}) },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('the connection closed before the answer ended'));
        });
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) h.append(k, x);
            else if (v !== undefined) h.set(k, v);
          }
          resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: h, text: Buffer.concat(parts).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
