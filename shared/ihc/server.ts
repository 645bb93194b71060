import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IhcParams } from '../attribution/params.js';
import { messageOf, redact } from '../errors.js';
import type { Logger } from '../log.js';
import { answerRequest, errorReply, type Reply, type RequestLimits } from './contract.js';

/**
 * The self-hosted IHC-compatible attribution server: `POST /v1/compute_ihc?conv_type_id=...` answered by the
 * local engine with the named parameter set, and `GET /healthz`. Plain node:http: one route, no framework.
 */

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  /** accepted values of the x-api-key header; never logged */
  readonly keys: readonly string[];
  readonly maxBodyBytes: number;
  readonly limits: RequestLimits;
  /** the parameter set of a conversion type, or undefined when there is none of that name */
  readonly paramsFor: (convTypeId: string) => Promise<IhcParams | undefined>;
  readonly logger: Logger;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly requests: () => number;
  /** stops accepting, lets requests in flight finish (up to graceMs), then closes every connection */
  readonly close: (graceMs?: number) => Promise<void>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Constant time in the key's content: every configured key is compared, on fixed-length digests. */
export function keyMatches(given: string, keys: readonly Buffer[]): boolean {
  const g = digest(given);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(g, k) || ok;
  return ok;
}

export function parseKeys(raw: string | undefined): string[] {
  return (raw ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

class TooLarge extends Error {}

function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        done = true;
        reject(new TooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
    req.on('error', (e) => {
      if (!done) {
        done = true;
        reject(e);
      }
    });
  });
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const keys = opts.keys.map(digest);
  let served = 0;
  let inFlight = 0;
  let closing = false;
  const idleWaiters: Array<() => void> = [];

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<{ reply: Reply; note: string }> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return { reply: errorReply(405, 'use GET /healthz'), note: '' };
      return { reply: { status: closing ? 503 : 200, body: { status: closing ? 'shutting down' : 'ok' } }, note: '' };
    }
    if (url.pathname !== '/v1/compute_ihc') return { reply: errorReply(404, `no route ${url.pathname}; use POST /v1/compute_ihc?conv_type_id=...`), note: '' };
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return { reply: errorReply(405, 'use POST'), note: '' };
    }
    const key = req.headers['x-api-key'];
    if (typeof key !== 'string' || key === '') return { reply: errorReply(401, 'missing x-api-key header'), note: '' };
    if (!keyMatches(key, keys)) return { reply: errorReply(403, 'the API key in x-api-key is not valid'), note: '' };
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
      res.setHeader('connection', 'close');
      return { reply: errorReply(413, `request body of ${declared} bytes is larger than the limit of ${opts.maxBodyBytes} bytes`), note: '' };
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, opts.maxBodyBytes);
    } catch (e) {
      if (e instanceof TooLarge) {
        res.setHeader('connection', 'close');
        return { reply: errorReply(413, `request body is larger than the limit of ${opts.maxBodyBytes} bytes`), note: '' };
      }
      throw e;
    }
    const convType = url.searchParams.get('conv_type_id');
    if (convType === null || convType.trim() === '') return { reply: errorReply(400, 'invalid request: conv_type_id: missing query parameter'), note: '' };
    const params = await opts.paramsFor(convType);
    if (params === undefined) return { reply: errorReply(400, `invalid request: conv_type_id: unknown conversion type ${JSON.stringify(convType.slice(0, 100))}`), note: '' };
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      return { reply: errorReply(400, `invalid request: the body is not valid JSON (${messageOf(e)})`), note: '' };
    }
    const reply = answerRequest(json, params, opts.limits);
    const v = reply.body['value'];
    const f = reply.body['partialFailureErrors'];
    const note = Array.isArray(v) ? ` sessions=${v.length}${Array.isArray(f) ? ` failed_journeys=${f.length}` : ''}` : '';
    return { reply, note: ` conv_type_id=${convType}${note}` };
  };

  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    inFlight += 1;
    served += 1;
    const finish = (reply: Reply, note: string): void => {
      const text = JSON.stringify(reply.body);
      if (!res.headersSent) {
        res.statusCode = reply.status;
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.setHeader('content-length', Buffer.byteLength(text));
        if (closing) res.setHeader('connection', 'close');
      }
      res.end(text);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const path = (req.url ?? '/').split('?')[0];
      // one line per request; the key is never part of it
      opts.logger.info(`${req.socket.remoteAddress ?? '-'} ${req.method} ${path} ${reply.status} ${ms.toFixed(1)}ms${note}`);
    };
    handle(req, res)
      .then(({ reply, note }) => finish(reply, note))
      .catch((e: unknown) => {
        // a bug or a broken connection: say so in the log, never in the answer (no stack traces to clients)
        opts.logger.error(`request failed: ${redact(messageOf(e))}`);
        finish(errorReply(500, 'internal error'), '');
      })
      .finally(() => {
        inFlight -= 1;
        if (inFlight === 0) for (const w of idleWaiters.splice(0)) w();
      });
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    requests: () => served,
    close: async (graceMs = 10_000) => {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([new Promise<void>((r) => idleWaiters.push(r)), new Promise<void>((r) => setTimeout(r, graceMs).unref())]);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
