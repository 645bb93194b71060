import type { ModelName } from '../attribution/types.js';
import type { ModelComparison } from './models.js';
import { MODEL_LABELS } from './models.js';
import { esc } from './svg.js';

/**
 * The report's "how far to trust these numbers" part: how strongly the models disagree per channel on the
 * user's own data (the spread of each channel's share of orders across the models), and where the measured
 * accuracy of every model on planted truth is (make accuracy, docs/attribution-engine.md).
 */
export interface ChannelSpread {
  readonly channel: string;
  /** share of the orders under each model, 0..1 */
  readonly low: { readonly model: ModelName; readonly share: number };
  readonly high: { readonly model: ModelName; readonly share: number };
}

/**
 * Shares compared at 1e-9: the order of a sum (PostgreSQL's plans, concurrent writers) moves a share in its last
 * bits, which must not swap two models that tie, or two channels with the same range, from one run to the next
 * (ties keep the models' and the channels' own order: the sort is stable).
 */
const settled = (x: number): number => Math.round(x * 1e9);

export function channelSpreads(c: ModelComparison): ChannelSpread[] {
  const totals = new Map<ModelName, number>(c.models.map((m) => [m, c.channels.reduce((s, ch) => s + (ch.byModel.get(m)?.orders ?? 0), 0)]));
  const out: ChannelSpread[] = [];
  for (const ch of c.channels) {
    const shares = c.models
      .filter((m) => (totals.get(m) ?? 0) > 0)
      .map((m) => ({ model: m, share: (ch.byModel.get(m)?.orders ?? 0) / totals.get(m)! }));
    if (shares.length === 0) continue;
    shares.sort((a, b) => settled(a.share) - settled(b.share));
    out.push({ channel: ch.channel_name, low: shares[0]!, high: shares[shares.length - 1]! });
  }
  return out.sort((a, b) => settled(b.high.share - b.low.share) - settled(a.high.share - a.low.share));
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function trustSection(c: ModelComparison | undefined): string {
  if (c === undefined) return '';
  const spreads = channelSpreads(c);
  const rows = spreads
    .map(
      (s) =>
        `<tr><td>${esc(s.channel)}</td><td>${pct(s.low.share)} <span class="note">(${esc(MODEL_LABELS[s.low.model])})</span></td>` +
        `<td>${pct(s.high.share)} <span class="note">(${esc(MODEL_LABELS[s.high.model])})</span></td><td>${((s.high.share - s.low.share) * 100).toFixed(1)} pts</td></tr>`,
    )
    .join('');
  return `<section id="trust"><h2>How far to trust these numbers</h2>
<p class="lead">Attribution is an estimate. The models above disagree most on the channels at the top of this table: the share of orders a channel gets ranges from the lowest to the highest model by this many percentage points. A wide range means the data alone does not settle that channel's role.</p>
<div class="scroll"><table id="model-spread" class="compact"><thead><tr><th>Channel</th><th>Lowest share</th><th>Highest share</th><th>Range</th></tr></thead><tbody>${rows}</tbody></table></div>
<p class="note">How close each model comes to the truth was measured on simulated shops whose real channel effects are known (<code>make accuracy</code>; the table and its reading are in docs/attribution-engine.md). Only the Incremental (data-driven) model separates the orders that would have happened anyway; it needs the non-converting journeys that build-journeys stores by default.</p>
</section>`;
}
