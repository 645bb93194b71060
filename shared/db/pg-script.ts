import type { Knex } from 'knex';

/**
 * Several PostgreSQL statements in one round trip, as one transaction. Sent as one simple-protocol query, the
 * statements run in order in an implicit transaction: all of them commit together, or the first error rolls
 * back all of them and leaves the connection clean. Each statement still takes its own snapshot (READ COMMITTED),
 * so a statement after an advisory lock sees what the lock's previous holder committed, as in a BEGIN ... COMMIT
 * block of separate statements, which costs a round trip per statement.
 *
 * The simple protocol takes no parameters: values go into the text through pgLiteral / pgArray.
 */
export async function runPgScript(db: Knex, statements: readonly string[]): Promise<void> {
  const client = db.client as { acquireConnection(): Promise<PgConnection>; releaseConnection(c: PgConnection): Promise<void> };
  const conn = await client.acquireConnection();
  try {
    // the driver's own query: knex would take every `?` of the text, quoted values included, for a parameter
    await conn.query(statements.join(';\n'));
  } finally {
    await client.releaseConnection(conn);
  }
}

interface PgConnection {
  query(sql: string): Promise<unknown>;
}

/** A string constant that means `s` whatever standard_conforming_strings says (E'' with doubled backslashes). */
function quoted(s: string): string {
  return `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** One value as SQL text: NULL, a number, or a string constant (the column's type converts it, as a parameter would). */
export function pgLiteral(v: string | number | null): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`pgLiteral: ${v} is not a finite number`);
    return String(v);
  }
  return quoted(v);
}

/**
 * An array constant of the given element type, e.g. `E'{"a","b"}'::text[]`, elements quoted as in the driver's own
 * array parameters; numbers as JavaScript prints them (the shortest text that reads back to the same float8).
 */
export function pgArray(values: ReadonlyArray<string | number>, type: 'text' | 'float8' | 'int4'): string {
  const items = values.map((v) => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error(`pgArray: ${v} is not a finite number`);
      return String(v);
    }
    return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `${quoted(`{${items.join(',')}}`)}::${type}[]`;
}
