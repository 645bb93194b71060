import * as fs from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import type { IhcParams } from '../attribution/params.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { targetOf } from '../db/connect.js';
import { configError, messageOf, type AppError } from '../errors.js';
import { readStoredConversionType } from './conversion-types.js';
import { parseKeys, startServer } from './server.js';

export interface ServeArgs {
  readonly conversionTypesFromDb: boolean;
  readonly port?: number | undefined;
  readonly host?: string | undefined;
}

/**
 * Parameter sets by name: config models.conversion_types first, then (optionally) rows of the table
 * conversion_types when a database is configured and has that table. Looked up per request so a newly fitted
 * set is served without a restart; a database that cannot be read only loses the optional source.
 */
function paramsLookup(caps: Capabilities, useDb: boolean): (name: string) => Promise<IhcParams | undefined> {
  const types = caps.config.models.conversion_types;
  let dbUsable: boolean | undefined;
  const dbConfigured = (): boolean => {
    const target = targetOf(caps.config.database);
    return target.dialect === 'pg' || (target.file !== ':memory:' && fs.existsSync(target.file));
  };
  return async (name) => {
    if (Object.prototype.hasOwnProperty.call(types, name)) return types[name];
    if (!useDb) return undefined;
    try {
      if (dbUsable === undefined) dbUsable = dbConfigured();
      if (!dbUsable) return undefined;
      return await readStoredConversionType(caps.db.knex(), name, caps.logger);
    } catch (e) {
      caps.logger.warn(`cannot read table conversion_types: ${messageOf(e)}`);
      return undefined;
    }
  };
}

/** Resolves with the name of the first SIGTERM or SIGINT: how a container or a terminal asks the server to stop. */
export function untilSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    const on = (name: string) => (): void => {
      process.off('SIGTERM', term);
      process.off('SIGINT', int);
      resolve(name);
    };
    const term = on('SIGTERM');
    const int = on('SIGINT');
    process.once('SIGTERM', term);
    process.once('SIGINT', int);
  });
}

/** attribution-api: serves the contract until `stop` resolves, then finishes the requests in flight. */
export function serveProgram(args: ServeArgs, caps: Capabilities, stop: () => Promise<string> = untilSignal): TE.TaskEither<AppError, TaskResult> {
  return async () => {
    const keys = parseKeys(caps.env['ATTRIBUTION_API_KEYS']);
    if (keys.length === 0) {
      return E.left(configError('attribution-api needs at least one API key: set ATTRIBUTION_API_KEYS (comma-separated) in the environment or .env'));
    }
    const s = caps.config.server;
    let server;
    try {
      server = await startServer({
        host: args.host ?? s.host,
        port: args.port ?? s.port,
        keys,
        maxBodyBytes: s.max_body_bytes,
        maxConnections: s.max_connections,
        bodyTimeoutMs: s.body_timeout_ms,
        limits: { maxJourneys: s.max_journeys_per_request, maxSessions: s.max_sessions_per_request },
        paramsFor: paramsLookup(caps, args.conversionTypesFromDb),
        logger: caps.logger,
      });
    } catch (e) {
      return E.left(configError(`cannot listen on ${args.host ?? s.host}:${args.port ?? s.port}: ${messageOf(e)}`));
    }
    caps.logger.info(
      `listening on ${server.url} (POST /v1/compute_ihc, GET /healthz; conversion types: ${Object.keys(caps.config.models.conversion_types).join(', ')}` +
        `${args.conversionTypesFromDb ? ' + table conversion_types' : ''}; ${keys.length} key(s))`,
    );
    const signal = await stop();
    caps.logger.info(`${signal}: finishing requests in flight, then stopping`);
    await server.close(10_000);
    return E.right({ summary: `served ${server.requests()} requests on ${server.url}; stopped on ${signal}` });
  };
}
