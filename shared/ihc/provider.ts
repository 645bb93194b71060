import { createHash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { ihcParamsFor } from '../attribution/models.js';
import { describeAttributionError } from '../attribution/errors.js';
import type { Config } from '../config.js';
import { configError, redact, type AppError } from '../errors.js';
import { answerRequest, type RequestBody } from './contract.js';
import { outcomeOf, postWithRetry, type RetryEvent, type RetryPolicy, type SendOutcome, type Timing } from './retry.js';

/**
 * Where batches go. Every provider takes the same request body and gives the same answer text, so batching,
 * checking and staging are one code path; only the transport differs (an in-process call of the engine for
 * `local`, a POST for the others).
 */
export interface Provider {
  /** stored in api_batches.provider: `local`, `ihc`, or the base URL */
  readonly name: string;
  /** part of every batch fingerprint: who answers and with what parameters, never a secret */
  readonly identity: string;
  /** answers leave the company: opaque ids apply */
  readonly external: boolean;
  readonly endpoint: string;
  /** one batch to its answer: retried as the policy says over HTTP, answered once by the local engine */
  readonly send: (body: RequestBody, retry: SendRetry) => Promise<SendOutcome>;
}

export interface SendRetry {
  readonly policy: RetryPolicy;
  readonly timing: Timing;
  readonly onRetry: (e: RetryEvent) => void;
}

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** `{base}/v1/compute_ihc`; a base that already ends in /v1 (as the vendor's documented base does) is not doubled. */
export function computeUrl(base: string, convTypeId: string): string {
  const b = base.replace(/\/+$/, '');
  const path = /\/v1$/.test(b) ? `${b}/compute_ihc` : `${b}/v1/compute_ihc`;
  const u = new URL(path);
  u.searchParams.set('conv_type_id', convTypeId);
  return u.toString();
}

export interface ProviderChoice {
  /** `local`, `ihc` or a base URL; default config provider.name */
  readonly name?: string;
  readonly convTypeId: string;
  /**
   * The orders' own times (epoch seconds) by conversion id, for the `local` engine: the contract carries only
   * session times, and the converting session's time is not when the order was placed. Without it the local
   * engine answers exactly like a server would.
   */
  readonly conversionTimes?: (conversionIds: readonly string[]) => Promise<ReadonlyMap<string, number>>;
}

/** Resolves the configured provider; a missing key for `ihc` is an error here, before any work. */
export function resolveProvider(cfg: Config, env: NodeJS.ProcessEnv, choice: ProviderChoice): E.Either<AppError, Provider> {
  const name = (choice.name ?? cfg.provider.name).trim();
  const limits = { maxJourneys: cfg.provider.max_journeys_per_request, maxSessions: cfg.provider.max_sessions_per_request };
  if (name === 'local') {
    const p = ihcParamsFor(cfg.models, choice.convTypeId);
    if (E.isLeft(p)) return E.left(configError(`provider local: ${describeAttributionError(p.left)} (config models.conversion_types)`));
    const params = p.right;
    return E.right({
      name: 'local',
      // answers computed from the order's time differ from the converting session's: a new identity re-sends them
      identity: `local:${choice.conversionTimes !== undefined ? 'order-time:' : ''}${sha256(JSON.stringify(params)).slice(0, 16)}`,
      external: false,
      endpoint: 'the local engine (in-process)',
      // the same body gets the same answer: nothing to retry
      send: async (body) => {
        const times = await choice.conversionTimes?.([...new Set(body.customer_journeys.map((s) => s.conversion_id))]);
        const reply = answerRequest(body, params, limits, times);
        return outcomeOf(reply.status, JSON.stringify(reply.body), 1);
      },
    });
  }
  let base: string;
  if (name === 'ihc') base = cfg.provider.ihc_base_url;
  else if (/^https?:\/\//i.test(name)) base = name;
  else return E.left(configError(`provider "${name}" is not local, ihc or an http(s):// base URL (config provider.name, env ATTRIBUTION_PROVIDER, or --provider)`));
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    return E.left(configError(`provider base URL ${JSON.stringify(redact(base))} is not a valid URL`));
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return E.left(configError('provider base URL must not carry credentials; put the key in the environment variable IHC_API_KEY'));
  }
  const key = env['IHC_API_KEY'];
  if (name === 'ihc' && (key === undefined || key.trim() === '')) {
    return E.left(configError('provider ihc needs an API key: set the environment variable IHC_API_KEY (or put it in .env)'));
  }
  const url = computeUrl(base, choice.convTypeId);
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (key !== undefined && key.trim() !== '') headers['x-api-key'] = key.trim();
  const endpoint = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  return E.right({
    name: name === 'ihc' ? 'ihc' : endpoint,
    identity: `http:${endpoint}`,
    external: true,
    endpoint,
    send: (body, retry) => postWithRetry(url, { body: JSON.stringify(body), headers }, retry.policy, retry.timing, retry.onRetry),
  });
}
