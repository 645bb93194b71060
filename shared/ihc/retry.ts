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

/** A failed attempt in words, with the server's for an HTTP error (the body is already read, see `fetch` below). */
async function describeFailure(e: unknown): Promise<string> {
  const { isHTTPError, isTimeoutError } = await loadKy();
  if (isHTTPError(e)) return `HTTP ${e.response.status}: ${serverMessage(await e.response.clone().text()).slice(0, 200)}`;
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
  try {
    const res = await ky.post(url, {
      body: request.body,
      headers: request.headers,
      timeout: policy.attemptTimeoutMs,
      signal: deadline,
      // reading the answer is part of the attempt: a body cut off or stalled is retried and timed like no answer
      fetch: async (req, init) => {
        const r = await fetch(req, init);
        return new Response(await r.text(), { status: r.status, statusText: r.statusText, headers: r.headers });
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
          last = await describeFailure(error);
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
    return outcomeOf(res.status, await res.text(), attempts);
  } catch (e) {
    if (e instanceof PastDeadline) return { ok: false, kind: 'gave_up', message: `gave up after ${attempts} attempt(s): ${e.message}; last: ${last}`, attempts };
    if (deadline.aborted) {
      return { ok: false, kind: 'gave_up', message: `deadline of ${policy.deadlineMs} ms passed after ${attempts} attempt(s); last: ${last}`, attempts };
    }
    if (isHTTPError(e) && !RETRY_STATUSES.includes(e.response.status)) return outcomeOf(e.response.status, await e.response.text(), attempts);
    last = await describeFailure(e);
    return { ok: false, kind: 'gave_up', message: `gave up after ${attempts} attempt(s); last: ${last}`, attempts };
  }
}
