import type { Knex } from 'knex';
import type { Journey, JourneySession } from '../attribution/types.js';
import { dbOver } from '../db/db.js';
import { journeyPages as storedPages } from '../journeys/read.js';
import { toEpochSeconds, type Window } from '../window.js';

/**
 * The window's stored journeys as the attribution engine takes them, page by page (shared/journeys/read.ts
 * reads them). Only journeys of an order with at least one session are returned.
 */
export async function* journeyPages(db: Knex, w: Window, pageSize = 500): AsyncGenerator<Journey[]> {
  for await (const stored of storedPages(dbOver(db), w, { pageSize })) {
    const page: Journey[] = [];
    for (const j of stored) {
      if (j.order === null || j.sessions.length === 0) continue;
      page.push({
        conversionId: j.conv_id,
        conversionTimestamp: toEpochSeconds(j.order.date, j.order.time),
        revenue: j.order.revenue,
        sessions: j.sessions.map(
          (s): JourneySession => ({
            sessionId: s.session_id,
            timestamp: toEpochSeconds(s.event_date, s.event_time),
            channel: s.channel_name,
            holderEngagement: s.holder_engagement,
            closerEngagement: s.closer_engagement,
            impressionInteraction: s.impression_interaction,
            conversion: s.conversion,
          }),
        ),
      });
    }
    yield page;
  }
}
