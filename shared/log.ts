import { redact } from './errors.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  readonly debug: (msg: string) => void;
  readonly info: (msg: string) => void;
  readonly warn: (msg: string) => void;
  readonly error: (msg: string) => void;
}

export interface LoggerOptions {
  readonly task: string;
  readonly level?: Level;
  /** `json` gives one JSON object per line for log shippers; `text` is for people and Airflow's task log */
  readonly format?: 'text' | 'json';
  readonly write?: (line: string) => void;
  readonly now?: () => Date;
}

/** Logs go to stderr so stdout stays for what the user asked for; every line passes through redact(). */
export function makeLogger(opts: LoggerOptions): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const now = opts.now ?? (() => new Date());
  const emit = (level: Level) => (msg: string) => {
    if (ORDER[level] < min) return;
    const text = redact(msg);
    const ts = now().toISOString();
    write(
      opts.format === 'json'
        ? JSON.stringify({ ts, level, task: opts.task, msg: text })
        : `${ts} ${level.toUpperCase().padEnd(5)} [${opts.task}] ${text}`,
    );
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
