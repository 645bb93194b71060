import type { Logger } from './log.js';
import { human } from './format.js';

/**
 * Progress for long work. On a terminal: one live line rewritten in place. Elsewhere (Airflow's task log,
 * CI): a log line soon after the task starts (`firstMs`), then every `intervalMs`, with rows done, rate and
 * time left, so a stuck task is visible. The schedule belongs to the task, not to one progress: a task that
 * walks through many small files (or steps) keeps one rhythm instead of restarting the clock per file.
 * A timer carries the schedule through a long database statement that ticks nothing.
 */
export interface Progress {
  readonly tick: (n?: number) => void;
  readonly setTotal: (total: number) => void;
  /** ends the live line; returns rows done and elapsed seconds for the summary */
  readonly done: () => { readonly count: number; readonly seconds: number };
}

/** When the task's next progress line is due; one per task run, shared by all its progress lines. */
export interface Pace {
  next: number;
  readonly intervalMs: number;
}

export const makePace = (startedAt: number, firstMs: number, intervalMs: number): Pace => ({ next: startedAt + firstMs, intervalMs });

export interface ProgressOptions {
  readonly label: string;
  readonly unit?: string;
  readonly total?: number;
  readonly logger: Logger;
  readonly isTTY?: boolean;
  readonly intervalMs?: number;
  /** the task's schedule; without one, this progress has its own (first line after intervalMs) */
  readonly pace?: Pace;
  readonly stream?: NodeJS.WritableStream;
  readonly now?: () => number;
  /** how often the timer looks at the schedule; 0 turns the timer off (tests drive tick() with a fake clock) */
  readonly timerMs?: number;
}

export function makeProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => Date.now());
  const isTTY = opts.isTTY ?? Boolean(process.stderr.isTTY);
  const interval = opts.intervalMs ?? opts.pace?.intervalMs ?? (isTTY ? 200 : 10_000);
  const stream = opts.stream ?? process.stderr;
  const unit = opts.unit ?? 'rows';
  const started = now();
  const pace = opts.pace ?? makePace(started, interval, interval);
  let total = opts.total;
  let count = 0;
  let liveShown = false;

  const show = (): void => {
    const text = progressLine(opts.label, unit, count, total, (now() - started) / 1000);
    if (isTTY) {
      stream.write(`\r\x1b[2K${text}`);
      liveShown = true;
    } else {
      opts.logger.info(text);
    }
  };
  const maybeShow = (): void => {
    const t = now();
    if (t < pace.next) return;
    pace.next = t + (isTTY ? Math.min(interval, 200) : interval);
    show();
  };
  const timerMs = opts.timerMs ?? 250;
  const timer = timerMs > 0 ? setInterval(maybeShow, timerMs) : undefined;
  // the timer must never keep a finished task alive
  timer?.unref();

  return {
    tick: (n = 1) => {
      count += n;
      maybeShow();
    },
    setTotal: (n) => {
      total = n;
    },
    done: () => {
      if (timer !== undefined) clearInterval(timer);
      const seconds = (now() - started) / 1000;
      if (liveShown) stream.write(`\r\x1b[2K`);
      return { count, seconds };
    },
  };
}

/**
 * One progress line: "loading sessions.csv: 120,000/290,204 rows, 41.4%, 60k rows/s, about 3s left".
 * Before the first row (or the first second) there is no rate to speak of: the line says how long the step has run.
 */
export function progressLine(label: string, unit: string, count: number, total: number | undefined, seconds: number): string {
  const parts = [`${label}: ${human(count, 0)}${total !== undefined ? `/${human(total, 0)}` : ''} ${unit}`];
  if (total !== undefined && total > 0) parts.push(`${((100 * count) / total).toFixed(1)}%`);
  // under a second of work says nothing about the speed (one row in 0.1 s is not "1h30m left")
  if (count > 0 && seconds >= 1) {
    const rate = count / seconds;
    parts.push(`${formatRate(rate)} ${unit}/s`);
    if (total !== undefined && count < total) parts.push(`about ${formatDuration((total - count) / rate)} left`);
  } else {
    parts.push(`working for ${formatDuration(seconds)}`);
  }
  return parts.join(', ');
}

/** A rate for people; undefined when nothing was done (a re-run that sent nothing has no speed). */
export function rateText(done: number, seconds: number, unit: string): string | undefined {
  return done > 0 && seconds > 0 ? `${formatRate(done / seconds)} ${unit}/s` : undefined;
}

export function formatRate(rate: number): string {
  if (rate >= 1e6) return `${human(rate / 1e6, 1)}M`;
  if (rate >= 1e4) return `${human(rate / 1e3, 0)}k`;
  return human(rate, rate >= 100 ? 0 : 1);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
