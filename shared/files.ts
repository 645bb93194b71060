import * as fs from 'node:fs/promises';
import { createObjectCsvWriter } from 'csv-writer';
import { outputError, type AppError } from './errors.js';

/**
 * The one place outputs are written. Every file goes to a temporary name beside its target and is renamed over
 * it, so a reader (or a crash) never sees half a file; when writing fails the temporary file is removed and the
 * failure becomes an OutputError (its own exit code) that says which path and why in words, not errno codes.
 */

/** Thrown by the writers below; programs turn it into the AppError with `asOutputError`. */
export class OutputFailure extends Error {
  constructor(readonly error: AppError) {
    super(error.message);
  }
}

const tmpOf = (file: string): string => `${file}.tmp-${process.pid}`;

/** What went wrong, for a person: the errno code decides the words. */
export function describeOutputFailure(file: string, cause: unknown): AppError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
      ? 'permission denied (the folder is not writable)'
      : code === 'ENOSPC' || code === 'EDQUOT'
        ? 'the disk is full'
        : code === 'ENOTDIR' || code === 'EEXIST'
          ? 'a file is in the place of a folder on the path'
          : code === 'EISDIR'
            ? 'a folder is in the place of the file'
            : cause instanceof Error
              ? cause.message
              : String(cause);
  return outputError(`cannot write ${file}: ${why}; fix output.dir (or OUTPUT_DIR) and re-run`, file);
}

/** Creates the folder (and its parents) for outputs. */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new OutputFailure(describeOutputFailure(dir, e));
  }
}

async function viaTemp(file: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = tmpOf(file);
  try {
    await write(tmp);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new OutputFailure(describeOutputFailure(file, e));
  }
}

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await viaTemp(file, (tmp) => fs.writeFile(tmp, text, 'utf8'));
}

export type CsvRow = Record<string, string>;

/** A CSV of preformatted string cells (precision is the caller's decision, not csv-writer's number printing). */
export async function writeCsvAtomic(file: string, header: readonly { id: string; title: string }[], rows: readonly CsvRow[]): Promise<void> {
  await viaTemp(file, async (tmp) => {
    await createObjectCsvWriter({ path: tmp, header: [...header] }).writeRecords([...rows]);
    // csv-writer creates no file for an empty header-only write on some versions; make sure the header is there
    await fs.access(tmp).catch(() => fs.writeFile(tmp, header.map((h) => h.title).join(',') + '\n'));
  });
}

/** Removes an output that would no longer match the run (e.g. a comparison that was switched off). */
export async function removeOutput(file: string): Promise<void> {
  try {
    await fs.rm(file, { force: true });
  } catch (e) {
    throw new OutputFailure(describeOutputFailure(file, e));
  }
}

/** For TE.tryCatch around output writing: an OutputFailure keeps its words, anything else goes to `other`. */
export const asOutputError =
  (other: (e: unknown) => AppError) =>
  (e: unknown): AppError =>
    e instanceof OutputFailure ? e.error : other(e);
