/**
 * The schema the code expects after every migration has run. `setup-db --check` compares the live database
 * with this, so a drifted or hand-edited database is reported precisely instead of failing later in a query.
 */
export type ColumnType = 'text' | 'integer' | 'real' | 'date' | 'time' | 'timestamp';

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
}

export interface TableSpec {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly primaryKey: readonly string[];
  /** challenge tables keep their exact shape; extra columns there are reported */
  readonly challenge?: boolean;
}

const col = (name: string, type: ColumnType): ColumnSpec => ({ name, type });

export const CHALLENGE_TABLES: readonly TableSpec[] = [
  {
    name: 'session_sources',
    challenge: true,
    columns: [
      col('session_id', 'text'),
      col('user_id', 'text'),
      col('event_date', 'date'),
      col('event_time', 'time'),
      col('channel_name', 'text'),
      col('holder_engagement', 'integer'),
      col('closer_engagement', 'integer'),
      col('impression_interaction', 'integer'),
    ],
    primaryKey: ['session_id'],
  },
  {
    name: 'conversions',
    challenge: true,
    columns: [col('conv_id', 'text'), col('user_id', 'text'), col('conv_date', 'date'), col('conv_time', 'time'), col('revenue', 'real')],
    primaryKey: ['conv_id'],
  },
  {
    name: 'session_costs',
    challenge: true,
    columns: [col('session_id', 'text'), col('cost', 'real')],
    primaryKey: ['session_id'],
  },
  {
    name: 'attribution_customer_journey',
    challenge: true,
    columns: [col('conv_id', 'text'), col('session_id', 'text'), col('ihc', 'real')],
    primaryKey: ['conv_id', 'session_id'],
  },
  {
    name: 'channel_reporting',
    challenge: true,
    columns: [col('channel_name', 'text'), col('date', 'date'), col('cost', 'real'), col('ihc', 'real'), col('ihc_revenue', 'real')],
    primaryKey: ['channel_name', 'date'],
  },
];

export const OWN_TABLES: readonly TableSpec[] = [
  {
    name: 'ingest_quarantine',
    columns: [
      col('id', 'integer'),
      col('run_id', 'text'),
      col('source_file', 'text'),
      col('line', 'integer'),
      col('table_name', 'text'),
      col('record_key', 'text'),
      col('field', 'text'),
      col('reason', 'text'),
      col('detail', 'text'),
      col('raw', 'text'),
      col('created_at', 'text'),
    ],
    primaryKey: ['id'],
  },
  {
    name: 'pipeline_runs',
    columns: [
      col('run_id', 'text'),
      col('task', 'text'),
      col('window_start', 'date'),
      col('window_end', 'date'),
      col('started_at', 'text'),
      col('finished_at', 'text'),
      col('status', 'text'),
      col('summary', 'text'),
    ],
    primaryKey: ['run_id'],
  },
  {
    name: 'data_issues',
    columns: [
      col('id', 'integer'),
      col('window_start', 'date'),
      col('window_end', 'date'),
      col('table_name', 'text'),
      col('record_key', 'text'),
      col('reason', 'text'),
      col('severity', 'text'),
      col('detail', 'text'),
    ],
    primaryKey: ['id'],
  },
  {
    name: 'journeys',
    columns: [
      col('conv_id', 'text'),
      col('user_id', 'text'),
      col('conv_date', 'date'),
      col('conv_time', 'time'),
      col('revenue', 'real'),
      col('session_count', 'integer'),
      col('status', 'text'),
    ],
    primaryKey: ['conv_id'],
  },
  {
    name: 'journey_sessions',
    columns: [
      col('conv_id', 'text'),
      col('session_id', 'text'),
      col('position', 'integer'),
      col('conv_date', 'date'),
      col('event_date', 'date'),
      col('event_time', 'time'),
      col('channel_name', 'text'),
      col('holder_engagement', 'integer'),
      col('closer_engagement', 'integer'),
      col('impression_interaction', 'integer'),
      col('conversion', 'integer'),
    ],
    primaryKey: ['conv_id', 'session_id'],
  },
  {
    name: 'nonconverting_paths',
    columns: [
      col('path_id', 'integer'),
      col('user_id', 'text'),
      col('first_session', 'text'),
      col('last_date', 'date'),
      col('last_time', 'time'),
      col('session_count', 'integer'),
      col('channels', 'text'),
      col('later_sessions', 'text'),
    ],
    primaryKey: ['path_id'],
  },
  {
    name: 'nonconverting_path_days',
    columns: [col('last_date', 'date'), col('first_path', 'integer'), col('last_path', 'integer')],
    primaryKey: ['last_date'],
  },
  {
    name: 'api_batches',
    columns: [
      col('batch_id', 'text'),
      col('provider', 'text'),
      col('conv_type_id', 'text'),
      col('window_start', 'date'),
      col('window_end', 'date'),
      col('journeys', 'integer'),
      col('sessions', 'integer'),
      col('status', 'text'),
      col('http_status', 'integer'),
      col('attempts', 'integer'),
      col('error', 'text'),
      col('response', 'text'),
      col('created_at', 'text'),
      col('updated_at', 'text'),
    ],
    primaryKey: ['batch_id'],
  },
  {
    name: 'api_results',
    columns: [
      col('conv_id', 'text'),
      col('session_id', 'text'),
      col('batch_id', 'text'),
      col('initializer', 'real'),
      col('holder', 'real'),
      col('closer', 'real'),
      col('ihc', 'real'),
    ],
    primaryKey: ['conv_id', 'session_id'],
  },
  {
    name: 'api_failures',
    columns: [col('conv_id', 'text'), col('batch_id', 'text'), col('reason', 'text'), col('created_at', 'text')],
    primaryKey: ['conv_id'],
  },
  {
    name: 'model_credits',
    columns: [col('model', 'text'), col('conv_id', 'text'), col('session_id', 'text'), col('credit', 'real')],
    primaryKey: ['conv_id', 'session_id', 'model'],
  },
  {
    name: 'journey_insights',
    columns: [col('window_start', 'date'), col('window_end', 'date'), col('insights', 'text')],
    primaryKey: ['window_start', 'window_end'],
  },
  {
    name: 'conversion_types',
    columns: [col('name', 'text'), col('params', 'text'), col('source', 'text'), col('created_at', 'text')],
    primaryKey: ['name'],
  },
  {
    name: 'attribution_runs',
    columns: [
      col('id', 'integer'),
      col('run_id', 'text'),
      col('window_start', 'date'),
      col('window_end', 'date'),
      col('provider', 'text'),
      col('conv_type_id', 'text'),
      col('status', 'text'),
      col('journeys', 'integer'),
      col('failed', 'integer'),
      col('started_at', 'text'),
      col('finished_at', 'text'),
    ],
    primaryKey: ['id'],
  },
];

export function expectedSchema(): readonly TableSpec[] {
  return [...CHALLENGE_TABLES, ...OWN_TABLES];
}
