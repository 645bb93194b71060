import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Knex } from 'knex';
import { DEFAULT_IHC_PARAMS, type IhcParams } from '../../shared/attribution/params.js';
import { answerRequest, type Reply } from '../../shared/ihc/contract.js';
import { writeTransaction } from '../../shared/db/connect.js';

/**
 * Test support (used by tests/ihc*, send*, server*; nothing in the product imports it): seeded journeys written
 * straight into the journeys tables, and an IHC-compatible server that misbehaves on cue.
 */

/** A small deterministic generator, so seeded data is the same on every run. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const CHANNELS = ['SEO', 'SEA - Brand', 'SEA - Non Brand', 'Direct', 'Email', 'Social', 'Shopping - Non Brand', 'Referral'];

export interface SeedOptions {
  readonly journeys: number;
  /** sessions of journey i (default 1..8 at random) */
  readonly sessionsOf?: (i: number) => number;
  readonly seed?: number;
  readonly convDate?: (i: number) => string;
  /** conv ids are `${prefix}${i padded}` */
  readonly prefix?: string;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Writes journeys and journey_sessions rows as build-journeys would; returns the conv ids. */
export async function seedJourneys(db: Knex, opts: SeedOptions): Promise<string[]> {
  const rnd = lcg(opts.seed ?? 42);
  const ids: string[] = [];
  const journeys: Record<string, unknown>[] = [];
  const sessions: Record<string, unknown>[] = [];
  for (let i = 0; i < opts.journeys; i++) {
    const convId = `${opts.prefix ?? 'conv'}${String(i).padStart(6, '0')}`;
    ids.push(convId);
    const convDate = opts.convDate?.(i) ?? `2023-09-0${1 + (i % 7)}`;
    const n = opts.sessionsOf?.(i) ?? 1 + Math.floor(rnd() * 8);
    const convEpoch = Date.parse(`${convDate}T20:00:00Z`) / 1000;
    const times: number[] = [];
    for (let k = 0; k < n; k++) times.push(convEpoch - 60 - Math.floor(rnd() * 10 * 86400));
    times.sort((a, b) => a - b);
    for (let k = 0; k < n; k++) {
      const d = new Date(times[k]! * 1000);
      sessions.push({
        conv_id: convId,
        session_id: `${convId}-s${String(k).padStart(4, '0')}`,
        position: k,
        conv_date: convDate,
        event_date: d.toISOString().slice(0, 10),
        event_time: `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`,
        channel_name: CHANNELS[Math.floor(rnd() * CHANNELS.length)]!,
        holder_engagement: rnd() < 0.5 ? 1 : 0,
        closer_engagement: rnd() < 0.4 ? 1 : 0,
        impression_interaction: rnd() < 0.1 ? 1 : 0,
        conversion: k === n - 1 ? 1 : 0,
      });
    }
    journeys.push({ conv_id: convId, user_id: `user${i}`, conv_date: convDate, conv_time: '20:00:00', revenue: 10 + i, session_count: n, status: 'ok' });
  }
  await writeTransaction(db, async (trx) => {
    for (let i = 0; i < journeys.length; i += 400) await trx('journeys').insert(journeys.slice(i, i + 400));
    for (let i = 0; i < sessions.length; i += 40) await trx('journey_sessions').insert(sessions.slice(i, i + 40));
  });
  return ids;
}

export interface LoggedRequest {
  readonly n: number;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  readonly bodySha: string;
  /** conversion ids in the request, in order of first appearance (empty when the body is not JSON) */
  readonly convIds: readonly string[];
  /** set when the answer was fully written */
  answered: boolean;
  status?: number;
}

/** What the scripted server does with request n (1-based). */
export type Action =
  | { readonly kind: 'answer'; readonly delayMs?: number; readonly mutate?: (reply: Reply) => Reply }
  | { readonly kind: 'status'; readonly status: number; readonly body?: string; readonly headers?: Record<string, string>; readonly delayMs?: number }
  | { readonly kind: 'raw'; readonly status: number; readonly text: string; readonly delayMs?: number }
  | { readonly kind: 'drop' }
  | { readonly kind: 'hang' }
  /** 200 and the start of a body, then nothing: the headers arrive, the answer never does */
  | { readonly kind: 'stall' };

export interface ScriptedServer {
  readonly url: string;
  readonly log: LoggedRequest[];
  readonly close: () => Promise<void>;
}

/** An IHC-compatible server answering with the local engine, except where `script` says otherwise. */
export async function startScriptedServer(
  script: (n: number, req: LoggedRequest) => Action = () => ({ kind: 'answer' }),
  params: IhcParams = DEFAULT_IHC_PARAMS,
): Promise<ScriptedServer> {
  const log: LoggedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let convIds: string[] = [];
      let json: unknown;
      try {
        json = JSON.parse(body);
        const seen = new Set<string>();
        for (const s of (json as { customer_journeys: Array<{ conversion_id: string }> }).customer_journeys) seen.add(s.conversion_id);
        convIds = [...seen];
      } catch {
        // not JSON: logged with no ids
      }
      const entry: LoggedRequest = {
        n: log.length + 1,
        url: req.url ?? '',
        headers: req.headers,
        body,
        bodySha: createHash('sha256').update(body).digest('hex'),
        convIds,
        answered: false,
      };
      log.push(entry);
      const action = script(entry.n, entry);
      const send = (status: number, text: string, headers: Record<string, string> = {}): void => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(text, () => {
          entry.answered = true;
          entry.status = status;
        });
      };
      const later = (ms: number | undefined, f: () => void): void => {
        if (ms === undefined || ms <= 0) f();
        else setTimeout(() => (res.destroyed ? undefined : f()), ms);
      };
      switch (action.kind) {
        case 'answer':
          later(action.delayMs, () => {
            let reply = answerRequest(json, params, { maxJourneys: 1e9, maxSessions: 1e9 });
            if (action.mutate !== undefined) reply = action.mutate(reply);
            send(reply.status, JSON.stringify(reply.body));
          });
          break;
        case 'status':
          later(action.delayMs, () => send(action.status, action.body ?? JSON.stringify({ statusCode: action.status, message: `scripted ${action.status}` }), action.headers));
          break;
        case 'raw':
          later(action.delayMs, () => send(action.status, action.text));
          break;
        case 'drop':
          req.socket.destroy();
          break;
        case 'hang':
          break;
        case 'stall':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"value": [');
          break;
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
