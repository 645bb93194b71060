/**
 * The engine's input and output shapes. Pure data: no I/O, no database types.
 * Timestamps are epoch seconds (UTC) so that gaps are plain subtraction.
 */

export interface JourneySession {
  readonly sessionId: string;
  /** epoch seconds, UTC */
  readonly timestamp: number;
  readonly channel: string;
  readonly holderEngagement: 0 | 1;
  readonly closerEngagement: 0 | 1;
  readonly impressionInteraction: 0 | 1;
  /** 1 for the session in which the conversion happened (the last one), else 0 */
  readonly conversion: 0 | 1;
}

export interface Journey {
  readonly conversionId: string;
  /** epoch seconds, UTC; when absent the converting session's timestamp stands in */
  readonly conversionTimestamp?: number;
  readonly revenue?: number;
  /** ordered by timestamp, then sessionId */
  readonly sessions: readonly JourneySession[];
}

export interface PhaseScores {
  readonly initializer: number;
  readonly holder: number;
  readonly closer: number;
}

/** One session's IHC answer, the same fields as the IHC API's `value` items. */
export interface IhcSessionResult extends PhaseScores {
  readonly conversionId: string;
  readonly sessionId: string;
  readonly ihc: number;
}

export const MODEL_NAMES = [
  'ihc',
  'first_touch',
  'last_touch',
  'last_non_direct',
  'linear',
  'time_decay',
  'position_based',
  'markov',
  'shapley',
  'incremental',
] as const;
export type ModelName = (typeof MODEL_NAMES)[number];
