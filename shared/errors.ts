/**
 * Every way a task can fail, as values. The edge (shared/task.ts) reports an AppError once and maps it to
 * the exit code documented in the README.
 */
export type AppError =
  | { readonly _tag: 'UsageError'; readonly message: string }
  | { readonly _tag: 'ConfigError'; readonly message: string; readonly details?: readonly string[] }
  | {
      readonly _tag: 'InputError';
      readonly message: string;
      readonly file?: string;
      readonly line?: number;
      readonly field?: string;
    }
  | { readonly _tag: 'SchemaError'; readonly message: string; readonly differences: readonly string[] }
  | { readonly _tag: 'DatabaseError'; readonly message: string }
  | { readonly _tag: 'ProviderError'; readonly message: string }
  | { readonly _tag: 'CheckFailed'; readonly message: string; readonly details?: readonly string[] }
  /** an output could not be written (folder not writable, a file in its place, disk full); the tables are committed */
  | { readonly _tag: 'OutputError'; readonly message: string; readonly path: string }
  | { readonly _tag: 'Internal'; readonly message: string };

export const EXIT_CODES: Readonly<Record<AppError['_tag'], number>> = {
  Internal: 1,
  UsageError: 2,
  ConfigError: 3,
  InputError: 4,
  SchemaError: 5,
  DatabaseError: 6,
  ProviderError: 7,
  CheckFailed: 8,
  OutputError: 9,
};

export const usageError = (message: string): AppError => ({ _tag: 'UsageError', message });
export const configError = (message: string, details?: readonly string[]): AppError =>
  details === undefined ? { _tag: 'ConfigError', message } : { _tag: 'ConfigError', message, details };
export const inputError = (
  message: string,
  where: { file?: string; line?: number; field?: string } = {},
): AppError => ({ _tag: 'InputError', message, ...where });
export const schemaError = (message: string, differences: readonly string[]): AppError => ({
  _tag: 'SchemaError',
  message,
  differences,
});
export const providerError = (message: string): AppError => ({ _tag: 'ProviderError', message });
export const checkFailed = (message: string, details?: readonly string[]): AppError =>
  details === undefined ? { _tag: 'CheckFailed', message } : { _tag: 'CheckFailed', message, details };
export const outputError = (message: string, path: string): AppError => ({ _tag: 'OutputError', message, path });
export const internal = (message: string): AppError => ({ _tag: 'Internal', message });

/** Database drivers put SQL and sometimes connection strings in messages; keep the gist, drop credentials. */
export function databaseError(context: string, cause: unknown): AppError {
  if (isLockTimeout(cause)) {
    // knex prefixes the whole statement to the driver's words; for a lock it says nothing the user can act on
    return {
      _tag: 'DatabaseError',
      message: `${context}: the database is locked: another task kept writing to it for longer than database.busy_timeout_ms; nothing was written, re-run when it has finished (or raise busy_timeout_ms)`,
    };
  }
  return { _tag: 'DatabaseError', message: `${context}: ${redact(messageOf(cause))}` };
}

/** SQLITE_BUSY from either driver: the busy timeout ran out while another connection held the write lock. */
export function isLockTimeout(cause: unknown): boolean {
  const code = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || /\bdatabase is locked\b|SQLITE_BUSY/.test(messageOf(cause));
}

export function messageOf(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

/** Removes passwords from URLs (postgres://user:secret@host) and known secret variables from a text. */
export function redact(text: string): string {
  // send-to-api redacts every answer it stores: without the \b (same matches: a match inside a word also
  // matches from the word's start) each run of a long hex id was rescanned from each of its characters, a
  // fifth of the step's CPU; the check skips the scan for texts without a URL
  let out = text.includes('://') ? text.replace(/\b(\w+:\/\/[^:/\s]+:)([^@\s]+)@/g, '$1***@') : text;
  for (const name of ['IHC_API_KEY', 'PGPASSWORD', 'DATABASE_PASSWORD', 'ATTRIBUTION_API_KEYS']) {
    const value = process.env[name];
    if (value !== undefined && value.length >= 4) {
      for (const part of value.split(',').filter((p) => p.length >= 4)) out = out.split(part).join('***');
    }
  }
  return out;
}

/** The words a user reads: where, what, and the details, one per line. */
export function formatError(e: AppError): string {
  switch (e._tag) {
    case 'InputError': {
      const where = [e.file, e.line !== undefined ? `line ${e.line}` : undefined, e.field !== undefined ? `field "${e.field}"` : undefined]
        .filter((s) => s !== undefined)
        .join(', ');
      return where === '' ? e.message : `${where}: ${e.message}`;
    }
    case 'SchemaError':
      return [e.message, ...e.differences.map((d) => `  - ${d}`)].join('\n');
    case 'ConfigError':
    case 'CheckFailed':
      return [e.message, ...(e.details ?? []).map((d) => `  - ${d}`)].join('\n');
    default:
      return e.message;
  }
}
