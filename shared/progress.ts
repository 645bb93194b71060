import type { Logger } from './log.js';

/**
 * Progress for long work. On a terminal: one live line rewritten in place. Elsewhere (Airflow's task log,
 * CI): a log line every `intervalMs` with rows done, rate and time left, so a stuck task is visible.
 */
export interface Progress {
  readonly tick: (n?: number) => void;
  readonly setTotal: (total: number) => void;
  /** ends the live line; returns rows done and elapsed seconds for the summary */
  readonly done: () => { readonly count: number; readonly seconds: number };
}

export interface ProgressOptions {
  readonly label: string;
  readonly unit?: string;
  readonly total?: number;
  readonly logger: Logger;
  readonly isTTY?: boolean;
  readonly intervalMs?: number;
  readonly stream?: NodeJS.WritableStream;
  readonly now?: () => number;
}

export function makeProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => Date.now());
  const isTTY = opts.isTTY ?? Boolean(process.stderr.isTTY);
  const interval = opts.intervalMs ?? (isTTY ? 200 : 10_000);
  const stream = opts.stream ?? process.stderr;
  const unit = opts.unit ?? 'rows';
  const started = now();
  let total = opts.total;
  let count = 0;
  let lastShown = started;
  let liveShown = false;

  const line = (): string => {
    const seconds = Math.max((now() - started) / 1000, 1e-3);
    const rate = count / seconds;
    const parts = [`${opts.label}: ${count.toLocaleString('en-US')}${total !== undefined ? `/${total.toLocaleString('en-US')}` : ''} ${unit}`];
    if (total !== undefined && total > 0) parts.push(`${((100 * count) / total).toFixed(1)}%`);
    parts.push(`${formatRate(rate)} ${unit}/s`);
    if (total !== undefined && rate > 0 && count < total) parts.push(`about ${formatDuration((total - count) / rate)} left`);
    return parts.join(', ');
  };

  const show = (): void => {
    if (isTTY) {
      stream.write(`\r\x1b[2K${line()}`);
      liveShown = true;
    } else {
      opts.logger.info(line());
    }
  };

  return {
    tick: (n = 1) => {
      count += n;
      const t = now();
      if (t - lastShown >= interval) {
        lastShown = t;
        show();
      }
    },
    setTotal: (n) => {
      total = n;
    },
    done: () => {
      const seconds = (now() - started) / 1000;
      if (liveShown) stream.write(`\r\x1b[2K`);
      return { count, seconds };
    },
  };
}

export function formatRate(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(1)}M`;
  if (rate >= 1e4) return `${(rate / 1e3).toFixed(0)}k`;
  return rate.toFixed(rate >= 100 ? 0 : 1);
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
