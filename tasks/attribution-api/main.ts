import { readStoredConversionType } from '../../shared/ihc/conversion-types.js';
import * as fs from 'node:fs';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { IhcParams } from '../../shared/attribution/params.js';
import { targetOf } from '../../shared/db/connect.js';
import { configError, messageOf, type AppError } from '../../shared/errors.js';
import { parseKeys, startServer } from '../../shared/ihc/server.js';
import { runMain, type Capabilities, type TaskResult, type TaskSpec } from '../../shared/task.js';

const Args = t.intersection([t.type({ conversionTypesFromDb: t.boolean }), t.partial({ port: t.number, host: t.string })]);
type Args = t.TypeOf<typeof Args>;

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
      return await readStoredConversionType(caps.db(), name, caps.logger);
    } catch (e) {
      caps.logger.warn(`cannot read table conversion_types: ${messageOf(e)}`);
      return undefined;
    }
  };
}

function serve(args: Args, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
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
    const signal = await new Promise<string>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    caps.logger.info(`${signal}: finishing requests in flight, then stopping`);
    await server.close(10_000);
    return E.right({ summary: `served ${server.requests()} requests on ${server.url}; stopped on ${signal}` });
  };
}

export const spec: TaskSpec<Args> = {
  name: 'attribution-api',
  description:
    'Serve the IHC attribution API contract (POST /v1/compute_ihc?conv_type_id=..., GET /healthz) with the local engine, ' +
    'so a team can host attribution themselves. Keys: ATTRIBUTION_API_KEYS (comma-separated). Stops gracefully on SIGTERM.',
  options: (y) =>
    y
      .option('port', { type: 'number', describe: 'port (default: config server.port / $PORT; 0 picks a free one)' })
      .option('host', { type: 'string', describe: 'address to listen on (default: config server.host)' })
      .option('conversion-types-from-db', {
        type: 'boolean',
        default: true,
        describe: 'also serve parameter sets from the table conversion_types when the configured database exists and has it',
      }),
  args: Args,
  examples: [['ATTRIBUTION_API_KEYS=k1,k2 $0 --host 0.0.0.0 --port 8080', 'serve on every interface']],
  program: serve,
};

runMain(spec);
