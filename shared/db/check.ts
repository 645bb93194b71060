import type { Knex } from 'knex';
import { dialectOf } from './connect.js';
import type { ColumnType, TableSpec } from './schema.js';

export interface LiveColumn {
  readonly name: string;
  readonly declaredType: string;
  /** 1-based position in the primary key, 0 when not part of it */
  readonly pk: number;
}

/** Reads tables and columns from the live database, in each dialect's own catalogue. */
export async function readLiveSchema(db: Knex): Promise<Map<string, LiveColumn[]>> {
  const out = new Map<string, LiveColumn[]>();
  if (dialectOf(db) === 'sqlite') {
    const tables = (await db.raw(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)) as Array<{ name: string }>;
    for (const { name } of tables) {
      const cols = (await db.raw(`PRAGMA table_info(${quoteIdent(name)})`)) as Array<{ name: string; type: string; pk: number }>;
      out.set(name, cols.map((c) => ({ name: c.name, declaredType: c.type, pk: Number(c.pk) })));
    }
    return out;
  }
  const cols = (
    await db.raw(
      `SELECT c.table_name, c.column_name, c.data_type,
              COALESCE((SELECT k.ordinal_position FROM information_schema.table_constraints tc
                 JOIN information_schema.key_column_usage k
                   ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema AND k.table_name = tc.table_name
                WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema
                  AND tc.table_name = c.table_name AND k.column_name = c.column_name), 0) AS pk
         FROM information_schema.columns c
        WHERE c.table_schema = current_schema()
        ORDER BY c.table_name, c.ordinal_position`,
    )
  ).rows as Array<{ table_name: string; column_name: string; data_type: string; pk: number }>;
  for (const c of cols) {
    const list = out.get(c.table_name) ?? [];
    list.push({ name: c.column_name, declaredType: c.data_type, pk: Number(c.pk) });
    out.set(c.table_name, list);
  }
  return out;
}

/**
 * The family a declared type belongs to. SQLite accepts any type name and the challenge script's
 * names differ from knex's (VARCHAR vs TEXT, REAL vs DOUBLE), so names are compared by family.
 */
export function typeFamily(declared: string): ColumnType | 'unknown' {
  const d = declared.toLowerCase().trim();
  if (d.startsWith('timestamp') || d === 'datetime') return 'timestamp';
  if (d === 'date') return 'date';
  if (d.startsWith('time')) return 'time';
  if (/int/.test(d) || d === 'boolean') return 'integer';
  if (/char|text|clob|string|uuid/.test(d)) return 'text';
  if (/real|floa|doub|numeric|decimal/.test(d)) return 'real';
  return 'unknown';
}

function compatible(expected: ColumnType, actual: ColumnType | 'unknown', dialect: 'sqlite' | 'pg'): boolean {
  if (expected === actual) return true;
  // SQLite has no date or time storage class: a column declared TEXT holds 'YYYY-MM-DD' just the same.
  if (dialect === 'sqlite' && (expected === 'date' || expected === 'time' || expected === 'timestamp') && actual === 'text') return true;
  if (expected === 'text' && actual === 'timestamp' && dialect === 'sqlite') return true;
  return false;
}

export interface SchemaReport {
  /** differences that make the code fail: missing tables and columns, wrong types, wrong keys */
  readonly errors: readonly string[];
  /** differences the code tolerates, said so that nobody is surprised (extra columns in challenge tables) */
  readonly warnings: readonly string[];
}

export function compareSchema(expected: readonly TableSpec[], live: Map<string, LiveColumn[]>, dialect: 'sqlite' | 'pg'): SchemaReport {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const table of expected) {
    const cols = live.get(table.name);
    if (cols === undefined) {
      errors.push(`table ${table.name} is missing`);
      continue;
    }
    const byName = new Map(cols.map((c) => [c.name.toLowerCase(), c]));
    for (const c of table.columns) {
      const have = byName.get(c.name.toLowerCase());
      if (have === undefined) {
        errors.push(`${table.name}.${c.name} is missing (expected ${c.type})`);
      } else if (!compatible(c.type, typeFamily(have.declaredType), dialect)) {
        errors.push(`${table.name}.${c.name} has type ${have.declaredType || '(none)'}, expected ${c.type}`);
      }
    }
    const known = new Set(table.columns.map((c) => c.name.toLowerCase()));
    for (const c of cols) {
      if (!known.has(c.name.toLowerCase())) warnings.push(`${table.name}.${c.name} is not used by the pipeline`);
    }
    const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name.toLowerCase());
    const want = table.primaryKey.map((k) => k.toLowerCase());
    if (pk.join(',') !== want.join(',')) {
      errors.push(`${table.name} has primary key (${pk.join(', ') || 'none'}), expected (${want.join(', ')})`);
    }
  }
  return { errors, warnings };
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
