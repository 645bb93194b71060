import { type Cell, DateCell, Flag, Id, Money, OptionalMoney, Text, TimeCell } from './fields.js';

/** One kind of input file: the table it fills, its key, and a codec per column (the header names). */
export interface Kind {
  readonly name: 'sessions' | 'conversions' | 'costs';
  readonly table: string;
  readonly key: string;
  /** file name looked for by --dir */
  readonly fileName: string;
  readonly columns: Readonly<Record<string, Cell<unknown>>>;
}

export const KINDS: readonly Kind[] = [
  {
    name: 'sessions',
    table: 'session_sources',
    key: 'session_id',
    fileName: 'session_sources.csv',
    columns: {
      session_id: Id,
      user_id: Id,
      event_date: DateCell,
      event_time: TimeCell,
      channel_name: Text,
      holder_engagement: Flag,
      closer_engagement: Flag,
      impression_interaction: Flag,
    },
  },
  {
    name: 'conversions',
    table: 'conversions',
    key: 'conv_id',
    fileName: 'conversions.csv',
    columns: { conv_id: Id, user_id: Id, conv_date: DateCell, conv_time: TimeCell, revenue: Money },
  },
  {
    name: 'costs',
    table: 'session_costs',
    key: 'session_id',
    fileName: 'session_costs.csv',
    columns: { session_id: Id, cost: OptionalMoney },
  },
];

export function kindByName(name: Kind['name']): Kind {
  return KINDS.find((k) => k.name === name)!;
}

/** Header check: every column present once, nothing unknown; column order is free. */
export function headerProblems(kind: Kind, header: readonly string[]): string[] {
  const want = Object.keys(kind.columns);
  const have = header.map((h) => h.trim());
  const problems: string[] = [];
  const missing = want.filter((w) => !have.includes(w));
  const unknown = have.filter((h) => !want.includes(h));
  const repeated = have.filter((h, i) => have.indexOf(h) !== i);
  if (missing.length > 0) problems.push(`missing column(s): ${missing.join(', ')}`);
  if (unknown.length > 0) problems.push(`unknown column(s): ${unknown.join(', ')}`);
  if (repeated.length > 0) problems.push(`repeated column(s): ${[...new Set(repeated)].join(', ')}`);
  return problems;
}
