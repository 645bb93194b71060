import * as t from 'io-ts';
import { sendToApi } from '../../shared/ihc/send.js';
import { runMain, type TaskSpec } from '../../shared/task.js';

const Args = t.intersection([
  t.type({ force: t.boolean }),
  t.partial({ provider: t.string, convTypeId: t.string }),
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
      .option('force', { type: 'boolean', default: false, describe: 're-send batches that were already answered' }),
  args: Args,
  examples: [
    ['$0 --start-date 2023-08-29 --end-date 2023-09-07', 'attribute the window with the configured provider (default: local engine)'],
    ['IHC_API_KEY=... $0 --provider ihc', "send to the vendor's IHC API"],
    ['IHC_API_KEY=... $0 --provider http://attribution.internal:8080', 'send to a self-hosted attribution-api'],
  ],
  program: (args, caps) => sendToApi(args, caps),
};

runMain(spec);
