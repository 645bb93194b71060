import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
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
  /** open connections at most; beyond it the longest-idle connection is closed, or the new one when all are busy */
  readonly maxConnections?: number;
  /** a request body that has not fully arrived within this gets 408 */
  readonly bodyTimeoutMs?: number;
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
class TooSlow extends Error {}
/** the client closed the connection before its body arrived: nobody to answer, nothing wrong with the server */
class ClientGone extends Error {}

/** Real requests nest five levels (body, journeys, session, redistribution, labels); anything far deeper is not one. */
export const MAX_JSON_DEPTH = 32;

function readBody(req: http.IncomingMessage, max: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const settle = (f: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      f();
    };
    const timer = setTimeout(() => settle(() => reject(new TooSlow())), timeoutMs);
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        settle(() => reject(new TooLarge()));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => settle(() => resolve(Buffer.concat(chunks))));
    req.on('error', () => settle(() => reject(new ClientGone())));
    req.on('close', () => settle(() => reject(new ClientGone())));
  });
}

/**
 * How deeply arrays and objects nest in a JSON text, counted without parsing (brackets inside strings do
 * not count) and without recursion, stopping as soon as `max` is passed. Decoding and error messages walk
 * values recursively, so a 2 MB body of nested arrays must be refused before it reaches them.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth -= 1;
  }
  return false;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const keys = opts.keys.map(digest);
  const bodyTimeoutMs = opts.bodyTimeoutMs ?? 30_000;
  const maxConnections = opts.maxConnections ?? 256;
  /** open connections, least recently used first, and whether a request is being answered on each */
  const open = new Map<Socket, { busy: boolean }>();
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
      raw = await readBody(req, opts.maxBodyBytes, bodyTimeoutMs);
    } catch (e) {
      if (e instanceof TooLarge) {
        res.setHeader('connection', 'close');
        return { reply: errorReply(413, `request body is larger than the limit of ${opts.maxBodyBytes} bytes`), note: '' };
      }
      if (e instanceof TooSlow) {
        res.setHeader('connection', 'close');
        return { reply: errorReply(408, `the request body did not arrive within ${bodyTimeoutMs / 1000} s`), note: ' slow body' };
      }
      throw e;
    }
    const convType = url.searchParams.get('conv_type_id');
    if (convType === null || convType.trim() === '') return { reply: errorReply(400, 'invalid request: conv_type_id: missing query parameter'), note: '' };
    const params = await opts.paramsFor(convType);
    if (params === undefined) return { reply: errorReply(400, `invalid request: conv_type_id: unknown conversion type ${JSON.stringify(convType.slice(0, 100))}`), note: '' };
    const text = raw.toString('utf8');
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      return { reply: errorReply(400, `invalid request: the body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep`), note: '' };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
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
    const conn = open.get(req.socket);
    if (conn !== undefined) conn.busy = true;
    res.on('close', () => {
      if (conn === undefined || !open.has(req.socket)) return;
      conn.busy = false;
      // most recently used goes last, so eviction picks the connection idle for longest
      open.delete(req.socket);
      open.set(req.socket, conn);
    });
    const path = (req.url ?? '/').split('?')[0];
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
      // one line per request; the key is never part of it. A client's mistake is not the server's error.
      const line = `${req.socket.remoteAddress ?? '-'} ${req.method} ${path} ${reply.status} ${ms.toFixed(1)}ms${note}`;
      if (reply.status >= 500) opts.logger.error(line);
      else if (reply.status === 408) opts.logger.warn(line);
      else opts.logger.info(line);
    };
    handle(req, res)
      .then(({ reply, note }) => finish(reply, note))
      .catch((e: unknown) => {
        if (e instanceof ClientGone) {
          opts.logger.info(`${req.socket.remoteAddress ?? '-'} ${req.method} ${path} - the client closed the connection before sending its body`);
          return;
        }
        // a bug: say so in the log, never in the answer (no stack traces to clients)
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
  server.on('connection', (socket: Socket) => {
    if (open.size >= maxConnections) {
      // an idle connection (no request yet, or kept alive between requests) gives way to the newcomer, so a
      // crowd of idle clients cannot lock out /healthz or real work
      const idle = [...open].find(([, c]) => !c.busy);
      if (idle === undefined) {
        opts.logger.warn(`${socket.remoteAddress ?? '-'} connection refused: ${open.size} connections open, all busy (server.max_connections)`);
        socket.destroy();
        return;
      }
      open.delete(idle[0]);
      idle[0].destroy();
    }
    open.set(socket, { busy: false });
    socket.on('close', () => open.delete(socket));
  });
  // node answers a request that exceeds requestTimeout/headersTimeout, or cannot be parsed, by itself; log it as
  // what it is (the client's doing) instead of leaving it unlogged or reported as an error
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
      const line = `${socket.remoteAddress ?? '-'} - - ${status} ${err.code ?? messageOf(err)}`;
      if (status === 408) opts.logger.warn(line);
      else opts.logger.info(line);
    }
    if (socket.writable && socket.bytesWritten === 0) {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    }
    socket.destroy();
  });

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
