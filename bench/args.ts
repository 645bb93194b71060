import yargs, { type Options } from 'yargs';

/**
 * The benches' command lines: strict (an unknown or misspelt flag stops with a message instead of running a long
 * bench with defaults in the shared work folder) and with a real --help. Bench scripts are not tasks, so they do
 * not go through shared/task.ts; yargs is the project's CLI parser all the same.
 */
export function benchArgs<O extends Record<string, Options>>(script: string, about: string, options: O) {
  return yargs(process.argv.slice(2))
    .scriptName(script)
    .usage(`$0 [options]\n\n${about}`)
    .options(options)
    .strict()
    .help()
    .version(false)
    // yargs breaks long words at its width; the terminal wraps whole words
    .wrap(null)
    .parseSync();
}
