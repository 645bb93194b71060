import * as t from 'io-ts';
import { sendToApi } from '../../shared/ihc/send.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.intersection([
  t.type({ force: t.boolean }),
  t.partial({ provider: t.string, convTypeId: t.string, shard: t.string }),
]);

export const spec: TaskSpec<t.TypeOf<typeof Args>> = {
  name: 'send-to-api',
  description:
    "Send the window's journeys to the attribution provider (local engine, the IHC API, or any server speaking its contract) in batches, " +
    'check every answer and stage it in api_batches / api_results / api_failures. A re-run resumes with the batches not yet answered.',
  windowed: true,
  options: (y) =>
    y
      .option('provider', { type: 'string', describe: 'local | ihc | an http(s):// base URL (default: config provider.name / $ATTRIBUTION_PROVIDER)' })
      .option('conv-type-id', { type: 'string', describe: 'conversion type / parameter set (default: config provider.conv_type_id)' })
      .option('force', { type: 'boolean', default: false, describe: 're-send batches that were already answered' })
      .option('shard', {
        type: 'string',
        describe: 'I/N: send only shard I of N (1-based; a stable hash of the conversion id), so that N processes share one window',
      }),
  args: Args,
  examples: [
    ['$0 --start-date 2023-08-29 --end-date 2023-09-07', 'attribute the window with the configured provider (default: local engine)'],
    ['IHC_API_KEY=... $0 --provider ihc', "send to the vendor's IHC API"],
    ['IHC_API_KEY=... $0 --provider http://attribution.internal:8080', 'send to a self-hosted attribution-api'],
    ['$0 --start-date 2023-08-01 --end-date 2023-08-31 --shard 2/4', 'one of four processes sharing a month (then one process-attribution)'],
  ],
  program: (args, caps) => sendToApi(args, caps),
};

runMain(spec);
