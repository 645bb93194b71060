import * as TE from 'fp-ts/lib/TaskEither.js';
import { pipe } from 'fp-ts/lib/function.js';
import { requireSchema } from '../db/migrate.js';
import type { AppError } from '../errors.js';
import { count } from '../reporting/format.js';
import type { Capabilities, TaskResult } from '../capabilities.js';
import { describeLoad, loadFiles, type FileStats, type LoadFile } from './load.js';

/** The load program, shared by `load` and `generate-data --load` so the demo takes the real ingest path. */
export function loadProgram(files: readonly LoadFile[], strict: boolean, caps: Capabilities): TE.TaskEither<AppError, TaskResult & { stats: FileStats[] }> {
  return pipe(
    requireSchema(caps.db()),
    TE.chain(() =>
      loadFiles(caps.db(), files, {
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
