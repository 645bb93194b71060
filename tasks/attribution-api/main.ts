import * as t from 'io-ts';
import { serveProgram } from '../../shared/ihc/serve.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.intersection([t.type({ conversionTypesFromDb: t.boolean }), t.partial({ port: t.number, host: t.string })]);
type Args = t.TypeOf<typeof Args>;

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
  program: (args, caps) => serveProgram(args, caps),
};

runMain(spec);
