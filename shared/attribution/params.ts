import * as t from 'io-ts';
import { strict, strictPartial } from '../codecs/strict.js';

/**
 * Parameter sets of the engine, as they appear under `models:` in config/config.yaml.
 * Codecs are strict (unknown keys are errors) so a typo in config is reported, not ignored.
 */

const UnitInterval = t.refinement(t.number, (n) => n >= 0 && n <= 1, 'number in [0, 1]');
const NonNegative = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'number >= 0');
const Positive = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'number > 0');

export const Direction = t.keyof({ earlier_sessions_only: null, later_sessions_only: null, any_session: null });
export type Direction = t.TypeOf<typeof Direction>;

// strict: the server takes these from request bodies, where a misspelt key must be a 400 naming it
export const PhaseRedistribution = strict(
  {
    direction: Direction,
    receive_threshold: UnitInterval,
    redistribution_channel_labels: t.array(t.string),
  },
  'phase redistribution',
);
export type PhaseRedistribution = t.TypeOf<typeof PhaseRedistribution>;

export const RedistributionParameter = strictPartial(
  { initializer: PhaseRedistribution, holder: PhaseRedistribution, closer: PhaseRedistribution },
  'redistribution parameter',
);
export type RedistributionParameter = t.TypeOf<typeof RedistributionParameter>;

const ChannelMultipliers = t.record(t.string, NonNegative);

export const IhcParams = t.exact(
  t.type({
    weights: strict({ initializer: NonNegative, holder: NonNegative, closer: NonNegative }),
    /** initializer membership: 0 at or below `start` hours since the previous session, 1 at or above `end`, linear between */
    initializer_ramp_hours: strict({ start: NonNegative, end: NonNegative }),
    /** closer membership of closer-engaged sessions: 1 at `full` hours before the conversion, 0 at `zero` hours, linear between */
    closer_ramp_hours: strict({ full: NonNegative, zero: NonNegative }),
    channel_weights: t.exact(
      t.partial({ initializer: ChannelMultipliers, holder: ChannelMultipliers, closer: ChannelMultipliers }),
    ),
    redistribution: t.union([t.null, RedistributionParameter]),
  }),
);
export type IhcParams = t.TypeOf<typeof IhcParams>;

export const ModelsConfig = t.exact(
  t.type({
    /** parameter sets by conversion type name; `default` must exist */
    conversion_types: t.record(t.string, IhcParams),
    default_conversion_type: t.string,
    direct_channels: t.array(t.string),
    time_decay_half_life_hours: Positive,
    position_based: strict({ first: UnitInterval, middle: UnitInterval, last: UnitInterval }),
    markov: strict({ order: t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1 && n <= 4, 'integer 1..4'), collapse_repeats: t.boolean }),
    shapley: strict({ max_channels: t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1 && n <= 20, 'integer 1..20') }),
    /** the baseline-separating model: L2 penalty on the channel coefficients of its noisy-OR fit */
    incremental: strict({ l2: NonNegative }),
  }),
);
export type ModelsConfig = t.TypeOf<typeof ModelsConfig>;

export const DEFAULT_IHC_PARAMS: IhcParams = {
  weights: { initializer: 0.331, holder: 0.378, closer: 0.291 },
  initializer_ramp_hours: { start: 2, end: 52 },
  closer_ramp_hours: { full: 0, zero: 45 },
  channel_weights: {},
  redistribution: null,
};

export const DEFAULT_MODELS_CONFIG: ModelsConfig = {
  conversion_types: { default: DEFAULT_IHC_PARAMS },
  default_conversion_type: 'default',
  direct_channels: ['Direct Traffic', 'Direct'],
  time_decay_half_life_hours: 168,
  position_based: { first: 0.4, middle: 0.2, last: 0.4 },
  markov: { order: 1, collapse_repeats: false },
  shapley: { max_channels: 12 },
  incremental: { l2: 1 },
};
