import { spawn } from 'node:child_process';
import { ROOT } from './env.js';

/**
 * The first writer is another process (better-sqlite3 waits synchronously, so two connections in one process
 * would wait on each other): it takes the write lock, inserts, holds the lock for `holdMs`, commits.
 */
export async function otherProcessWrites(file: string, holdMs: number): Promise<{ done: Promise<number> }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 5000');
    db.exec("BEGIN IMMEDIATE; INSERT INTO conversion_types (name, params, source, created_at) VALUES ('a', '{}', 'test', 'x')");
    process.stdout.write('locked\\n');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]));
    db.exec('COMMIT');
    db.close();`;
  const child = spawn(process.execPath, ['-e', script, file, String(holdMs)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => (d.toString().includes('locked') ? resolve() : undefined));
    child.on('close', () => reject(new Error('the other writer exited before taking the lock')));
  });
  return { done };
}

