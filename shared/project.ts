import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * A file of the project's folder (the nearest folder above this module that holds package.json), e.g.
 * config/config.yaml. A fixed '../..' from import.meta.url cannot serve both ways the code runs: tsc's output
 * runs from dist/shared/, a task's bundle from dist/tasks/<task>/ (scripts/bundle.mjs).
 */
export function projectFile(...parts: string[]): string {
  if (root === undefined) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    let dir = here;
    while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    root = fs.existsSync(path.join(dir, 'package.json')) ? dir : path.resolve(here, '../..');
  }
  return path.join(root, ...parts);
}
