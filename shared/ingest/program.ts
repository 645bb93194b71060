import * as path from 'node:path';
import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { requireSchema } from '../db/migrate.js';
import { usageError, type AppError } from '../errors.js';
import { count } from '../format.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { KINDS, kindByName } from './kinds.js';
import { describeLoad, loadFiles, type FileStats, type LoadFile } from './load.js';

/** The load program, shared by `load` and `generate-data --load` so the demo takes the real ingest path. */
export function loadProgram(files: readonly LoadFile[], strict: boolean, caps: Capabilities): TE.TaskEither<AppError, TaskResult & { stats: FileStats[] }> {
  return pipe(
    requireSchema(caps.db),
    TE.chain(() =>
      loadFiles(caps.db.knex(), files, {
        strict,
        runId: caps.runId,
        chunkRows: caps.config.database.insert_chunk_rows,
        stageChunkRows: caps.config.database.stage_chunk_rows,
        now: caps.clock,
        progress: (label, total) => caps.progress({ label, total }),
        note: (message) => caps.logger.info(message),
      }),
    ),
    TE.map((stats) => {
      for (const s of stats) {
        caps.logger.info(
          `${s.file}: ${count(s.read)} read, ${count(s.inserted)} inserted, ${count(s.updated)} updated, ${count(s.unchanged)} unchanged, ${count(s.quarantined)} quarantined`,
        );
      }
      const quarantined = stats.reduce((a, s) => a + s.quarantined, 0);
      if (quarantined > 0) caps.logger.warn(`${count(quarantined)} invalid row(s) are in table ingest_quarantine (run_id ${caps.runId}) with line, field and reason`);
      return { summary: describeLoad(stats), stats };
    }),
  );
}

/** What `load` is told on its command line: a folder of the three CSVs, and/or one file per kind. */
export interface LoadArgs {
  readonly dir?: string | undefined;
  readonly sessions?: string | undefined;
  readonly conversions?: string | undefined;
  readonly costs?: string | undefined;
  readonly strict: boolean;
}

/** load: the files the flags name, through loadProgram. */
export function loadArgsProgram(args: LoadArgs, caps: Capabilities): TE.TaskEither<AppError, TaskResult> {
  const files: LoadFile[] = [];
  if (args.dir !== undefined) {
    for (const k of KINDS) files.push({ kind: k, path: path.join(args.dir, k.fileName) });
  }
  for (const name of ['sessions', 'conversions', 'costs'] as const) {
    const p = args[name];
    if (p !== undefined) files.push({ kind: kindByName(name), path: p });
  }
  if (files.length === 0) return TE.left(usageError('nothing to load: give --dir, or one or more of --sessions, --conversions, --costs'));
  return loadProgram(files, args.strict, caps);
}
