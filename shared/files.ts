import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { internal, messageOf, outputError, type AppError } from './errors.js';

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

/** RFC 4180, for CSV lines built by hand where rows are too many for csv-writer's records: quote only what needs it. */
export const csvField = (s: string): string => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** A CSV of preformatted string cells (precision is the caller's decision, not csv-writer's number printing). */
export async function writeCsvAtomic(file: string, header: readonly { id: string; title: string }[], rows: readonly CsvRow[]): Promise<void> {
  // imported where used: most tasks write no CSV of records, and every task imports this module
  const { createObjectCsvWriter } = await import('csv-writer');
  await viaTemp(file, async (tmp) => {
    await createObjectCsvWriter({ path: tmp, header: [...header] }).writeRecords([...rows]);
    // csv-writer creates no file for an empty header-only write on some versions; make sure the header is there
    await fs.access(tmp).catch(() => fs.writeFile(tmp, header.map((h) => h.title).join(',') + '\n'));
  });
}

/** One file of `writeLinesAtomic`: lines are collected and written on `flush`, so a caller decides the batch size. */
export interface LineOut {
  /** appends text as is; the caller ends each line with \n */
  readonly line: (text: string) => void;
  /** writes what was collected, waiting while the disk is behind (memory stays flat) */
  readonly flush: () => Promise<void>;
}

class BufferedOut implements LineOut {
  private chunk: string;
  private failure: unknown;
  readonly tmp: string;
  readonly stream: WriteStream;

  constructor(
    readonly file: string,
    header: string,
  ) {
    this.tmp = tmpOf(file);
    this.stream = createWriteStream(this.tmp);
    this.stream.on('error', (e) => {
      this.failure = e;
    });
    this.chunk = `${header}\n`;
  }

  line = (text: string): void => {
    this.chunk += text;
  };

  flush = async (): Promise<void> => {
    this.check();
    if (this.chunk === '') return;
    const ok = this.stream.write(this.chunk);
    this.chunk = '';
    if (!ok) await this.wait('drain');
  };

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    if (!this.stream.writableFinished) await this.wait('finish');
    this.check();
  }

  private check(): void {
    if (this.failure !== undefined) throw new OutputFailure(describeOutputFailure(this.file, this.failure));
  }

  private async wait(event: string): Promise<void> {
    try {
      await once(this.stream, event);
    } catch (e) {
      throw new OutputFailure(describeOutputFailure(this.file, e));
    }
  }
}

/**
 * Files too large to hold in memory (generated data: millions of rows), written together: each goes to its
 * temporary name, and all are renamed into place only when `write` has finished; on any failure none is.
 */
export async function writeLinesAtomic<A>(
  targets: readonly { readonly file: string; readonly header: string }[],
  write: (outs: readonly LineOut[]) => Promise<A>,
): Promise<A> {
  const outs = targets.map((t) => new BufferedOut(t.file, t.header));
  try {
    const a = await write(outs);
    await Promise.all(outs.map((o) => o.close()));
    for (const o of outs) {
      await fs.rename(o.tmp, o.file).catch((e: unknown) => {
        throw new OutputFailure(describeOutputFailure(o.file, e));
      });
    }
    return a;
  } catch (e) {
    for (const o of outs) o.stream.destroy();
    await Promise.all(outs.map((o) => fs.rm(o.tmp, { force: true }).catch(() => undefined)));
    throw e;
  }
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

/**
 * The outputs capability: the writers above as values, so that "cannot write the output" is one OutputError
 * (exit 9) in every step. The runner hands programs `localFiles`; a test may hand a failing one.
 */
export interface Files {
  /** creates the folder and its parents */
  readonly ensureDir: (dir: string) => TE.TaskEither<AppError, void>;
  readonly writeText: (file: string, text: string) => TE.TaskEither<AppError, void>;
  readonly writeCsv: (file: string, header: readonly { id: string; title: string }[], rows: readonly CsvRow[]) => TE.TaskEither<AppError, void>;
  /** see writeLinesAtomic; an error `write` throws itself is a bug (Internal), not an output failure */
  readonly writeLines: <A>(
    targets: readonly { readonly file: string; readonly header: string }[],
    write: (outs: readonly LineOut[]) => Promise<A>,
  ) => TE.TaskEither<AppError, A>;
  /** removes an output that would no longer match the run; a missing file is fine */
  readonly remove: (file: string) => TE.TaskEither<AppError, void>;
}

/** Anything but an OutputFailure thrown while writing is a bug in the caller, not a full disk. */
const asFilesError = asOutputError((e) => internal(`writing an output failed unexpectedly: ${messageOf(e)}`));

export const localFiles: Files = {
  ensureDir: (dir) => TE.tryCatch(() => ensureDir(dir), asFilesError),
  writeText: (file, text) => TE.tryCatch(() => writeFileAtomic(file, text), asFilesError),
  writeCsv: (file, header, rows) => TE.tryCatch(() => writeCsvAtomic(file, header, rows), asFilesError),
  writeLines: (targets, write) => TE.tryCatch(() => writeLinesAtomic(targets, write), asFilesError),
  remove: (file) => TE.tryCatch(() => removeOutput(file), asFilesError),
};
