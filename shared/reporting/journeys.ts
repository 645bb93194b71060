import type { Knex } from 'knex';
import type { Journey, JourneySession } from '../attribution/types.js';
import { toEpochSeconds, type Window } from '../window.js';
import { num, placeholders, selectRows } from './sql.js';

/**
 * The window's stored journeys (build-journeys' journey_sessions), read in pages of conversions so that memory
 * stays flat whatever the window's size. Only journeys with at least one session are returned.
 */
export async function* journeyPages(db: Knex, w: Window, pageSize = 500): AsyncGenerator<Journey[]> {
  let after: string | null = null;
  for (;;) {
    const heads: Record<string, unknown>[] = await selectRows<Record<string, unknown>>(
      db,
      // the page's ids first, from the (conv_date, conv_id) index alone; only those 500 are joined to their
      // conversion (joining before the LIMIT fetched every conversion of the window once per page)
      `SELECT p.conv_id AS conv_id, c.conv_date AS conv_date, c.conv_time AS conv_time, c.revenue AS revenue
         FROM (SELECT j.conv_id FROM journeys j
                WHERE j.conv_date >= ? AND j.conv_date <= ? ${after === null ? '' : 'AND j.conv_id > ?'}
                ORDER BY j.conv_id
                LIMIT ${Math.floor(pageSize)}) p
         JOIN conversions c ON c.conv_id = p.conv_id
        ORDER BY p.conv_id`,
      after === null ? [w.start, w.end] : [w.start, w.end, after],
    );
    if (heads.length === 0) return;
    after = String(heads[heads.length - 1]!['conv_id']);
    const ids = heads.map((h) => String(h['conv_id']));
    const rows = await selectRows<Record<string, unknown>>(
      db,
      `SELECT conv_id, session_id, event_date, event_time, channel_name, holder_engagement, closer_engagement,
              impression_interaction, conversion
         FROM journey_sessions WHERE conv_id IN (${placeholders(ids.length)})
        ORDER BY conv_id, position`,
      ids,
    );
    const sessions = new Map<string, JourneySession[]>();
    for (const r of rows) {
      const id = String(r['conv_id']);
      let list = sessions.get(id);
      if (list === undefined) sessions.set(id, (list = []));
      list.push({
        sessionId: String(r['session_id']),
        timestamp: toEpochSeconds(String(r['event_date']), String(r['event_time'])),
        channel: String(r['channel_name']),
        holderEngagement: num(r['holder_engagement']) === 1 ? 1 : 0,
        closerEngagement: num(r['closer_engagement']) === 1 ? 1 : 0,
        impressionInteraction: num(r['impression_interaction']) === 1 ? 1 : 0,
        conversion: num(r['conversion']) === 1 ? 1 : 0,
      });
    }
    const page: Journey[] = [];
    for (const h of heads) {
      const list = sessions.get(String(h['conv_id']));
      if (list === undefined || list.length === 0) continue;
      page.push({
        conversionId: String(h['conv_id']),
        conversionTimestamp: toEpochSeconds(String(h['conv_date']), String(h['conv_time'])),
        revenue: num(h['revenue']),
        sessions: list,
      });
    }
    yield page;
    if (heads.length < pageSize) return;
  }
}
