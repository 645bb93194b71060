import type { Knex } from 'knex';
import type { Window } from '../window.js';
import { num, selectRows } from './sql.js';

/** What the report says about the data behind the numbers. */
export interface DataQuality {
  /** rows refused at load, by table and reason (every load so far: the quarantine is not dated by window) */
  readonly quarantine: readonly { table: string; reason: string; rows: number }[];
  /** why journeys (with sessions) failed at the provider, for the window's conversions */
  readonly failures: readonly { reason: string; count: number }[];
  /** sessions dated in the window without a cost row */
  readonly sessionsWithoutCost: number;
}

export async function readDataQuality(db: Knex, w: Window): Promise<DataQuality> {
  const quarantine = await selectRows<{ table_name: string; reason: string; n: unknown }>(
    db,
    `SELECT table_name, reason, COUNT(*) AS n FROM ingest_quarantine GROUP BY table_name, reason`,
  );
  const failures = await selectRows<{ reason: string; n: unknown }>(
    db,
    `SELECT f.reason AS reason, COUNT(*) AS n FROM api_failures f JOIN conversions c ON c.conv_id = f.conv_id
      WHERE c.conv_date >= ? AND c.conv_date <= ?
        AND EXISTS (SELECT 1 FROM journey_sessions js WHERE js.conv_id = f.conv_id)
      GROUP BY f.reason`,
    [w.start, w.end],
  );
  const [nocost] = await selectRows<{ n: unknown }>(
    db,
    `SELECT COUNT(*) AS n FROM session_sources s
      WHERE s.event_date >= ? AND s.event_date <= ?
        AND NOT EXISTS (SELECT 1 FROM session_costs sc WHERE sc.session_id = s.session_id)`,
    [w.start, w.end],
  );
  const desc = <T extends { n: unknown }>(a: T, b: T): number => num(b.n) - num(a.n);
  return {
    quarantine: quarantine.sort(desc).map((r) => ({ table: String(r.table_name), reason: String(r.reason), rows: num(r.n) })),
    failures: failures.sort(desc).map((r) => ({ reason: String(r.reason), count: num(r.n) })),
    sessionsWithoutCost: num(nocost?.n),
  };
}
