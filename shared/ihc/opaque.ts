import type { ContractJourney, ValueItem } from './contract.js';

/**
 * Opaque ids for external providers: conversion k of a batch is sent as `c<k>`, its i-th session as `s<i>`
 * (zero-padded, so they sort in journey order and the provider's tie-break between sessions of the same second
 * stays the same as with real ids). Nothing user-level leaves the company; the map lives only in memory for the
 * batch's lifetime, and answers are mapped back before they are checked against the real journeys.
 */
export interface OpaqueBatch {
  readonly journeys: readonly ContractJourney[];
  readonly back: (v: ValueItem) => ValueItem | undefined;
  readonly realConversionId: (opaque: string) => string | undefined;
}

export function toOpaque(journeys: readonly ContractJourney[]): OpaqueBatch {
  const convWidth = String(Math.max(journeys.length - 1, 0)).length;
  const convBack = new Map<string, { real: string; sessions: Map<string, string> }>();
  const out: ContractJourney[] = journeys.map((j, k) => {
    const cid = `c${String(k).padStart(convWidth, '0')}`;
    const width = String(Math.max(j.sessions.length - 1, 0)).length;
    const sessions = new Map<string, string>();
    convBack.set(cid, { real: j.conversionId, sessions });
    return {
      conversionId: cid,
      sessions: j.sessions.map((s, i) => {
        const sid = `s${String(i).padStart(width, '0')}`;
        sessions.set(sid, s.session_id);
        return { ...s, conversion_id: cid, session_id: sid };
      }),
    };
  });
  return {
    journeys: out,
    back: (v) => {
      const c = convBack.get(v.conversion_id);
      const s = c?.sessions.get(v.session_id);
      return c === undefined || s === undefined ? undefined : { ...v, conversion_id: c.real, session_id: s };
    },
    realConversionId: (o) => convBack.get(o)?.real,
  };
}
