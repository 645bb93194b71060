import type { Config } from './config.js';
import type { Db } from './db/db.js';
import type { Files } from './files.js';
import type { Logger } from './log.js';
import type { Progress, ProgressOptions } from './progress.js';

/**
 * The types a step's program is written against. They live apart from the runner (task.ts, which pulls in yargs
 * and dotenv) so that programs in shared/ never import the runner.
 */

/** What a program may touch. Built once by the edge; tests build their own. */
export interface Capabilities {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly env: NodeJS.ProcessEnv;
  /** opened on first use, closed by the edge */
  readonly db: Db;
  /** every output file goes through here: atomic, and a failure is an OutputError (exit 9) */
  readonly files: Files;
  readonly progress: (opts: Omit<ProgressOptions, 'logger'>) => Progress;
  /** what the user asked to see (tables, JSON); logs go to the logger */
  readonly stdout: (text: string) => void;
  readonly runId: string;
}

export interface TaskResult {
  /** the one line that says what the task did */
  readonly summary: string;
  /** a non-zero code for "done, but with problems the caller must see" (e.g. --strict with quarantined rows) */
  readonly exitCode?: number;
  /** stderr when stdout carries machine-readable output (JSON) that the summary line would spoil */
  readonly summaryStream?: 'stdout' | 'stderr';
}
