import { redact } from '../errors.js';

/**
 * The retry loop for one batch. ky 1.x does not retry POST by default and its `timeout` spans all attempts, so
 * the loop is ours: a per-attempt timeout, an overall deadline, exponential backoff with full jitter, and
 * Retry-After honoured. Clock, sleep and randomness are injected so tests run in milliseconds.
 */

export interface RetryPolicy {
  readonly attemptTimeoutMs: number;
  readonly deadlineMs: number;
  readonly maxRetries: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
}

export interface Timing {
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
}

export const realTiming: Timing = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

/** What one attempt gave: an HTTP answer (any status), or no answer at all. */
export type AttemptResult =
  | { readonly kind: 'answer'; readonly status: number; readonly text: string; readonly retryAfter?: string | null }
  | { readonly kind: 'network'; readonly message: string }
  | { readonly kind: 'timeout' };

export type Attempt = (timeoutMs: number) => Promise<AttemptResult>;

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

export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599);
}

/** Retry-After as milliseconds: delta-seconds or an HTTP-date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Full jitter: uniform in [0, min(max, initial * 2^retry)). */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const cap = Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** Math.min(retry, 30));
  return Math.floor(random() * cap);
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

function describe(r: AttemptResult): string {
  switch (r.kind) {
    case 'answer':
      return `HTTP ${r.status}`;
    case 'network':
      return `network error: ${r.message}`;
    case 'timeout':
      return 'no answer within the attempt timeout';
  }
}

export interface RetryEvent {
  readonly attempt: number;
  readonly reason: string;
  readonly delayMs: number;
}

export async function sendWithRetry(
  attempt: Attempt,
  policy: RetryPolicy,
  timing: Timing = realTiming,
  onRetry: (e: RetryEvent) => void = () => {},
): Promise<SendOutcome> {
  const started = timing.now();
  let attempts = 0;
  let last = 'no attempt made';
  for (;;) {
    const remaining = policy.deadlineMs - (timing.now() - started);
    if (remaining <= 0) {
      return { ok: false, kind: 'gave_up', message: `deadline of ${policy.deadlineMs} ms passed after ${attempts} attempt(s); last: ${last}`, attempts };
    }
    attempts += 1;
    const r = await attempt(Math.min(policy.attemptTimeoutMs, remaining));
    if (r.kind === 'answer') {
      if (r.status >= 200 && r.status < 300) return { ok: true, status: r.status, text: r.text, attempts };
      if (r.status === 401 || r.status === 403) {
        return {
          ok: false,
          kind: 'refused',
          status: r.status,
          message: `the provider refused the API key (HTTP ${r.status}): ${serverMessage(r.text)}`,
          text: r.text,
          attempts,
        };
      }
      if (!isRetryableStatus(r.status)) {
        return { ok: false, kind: 'rejected', status: r.status, message: `the provider rejected the request (HTTP ${r.status}): ${serverMessage(r.text)}`, text: r.text, attempts };
      }
    }
    last = describe(r);
    if (r.kind === 'answer' && r.status >= 400) last += `: ${serverMessage(r.text).slice(0, 200)}`;
    if (attempts > policy.maxRetries) {
      return { ok: false, kind: 'gave_up', message: `gave up after ${attempts} attempt(s); last: ${last}`, attempts };
    }
    const retryAfter = r.kind === 'answer' ? parseRetryAfter(r.retryAfter, timing.now()) : undefined;
    const delay = retryAfter ?? backoffDelay(attempts - 1, policy, timing.random);
    const left = policy.deadlineMs - (timing.now() - started);
    if (delay >= left) {
      return {
        ok: false,
        kind: 'gave_up',
        message: `gave up after ${attempts} attempt(s): the next try (in ${delay} ms${retryAfter !== undefined ? ', as Retry-After asks' : ''}) would pass the deadline; last: ${last}`,
        attempts,
      };
    }
    onRetry({ attempt: attempts, reason: last, delayMs: delay });
    await timing.sleep(delay);
  }
}
