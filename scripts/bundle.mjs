// Bundles each task's entrypoint into one file (dist/tasks/<task>/main.js), run by `npm run build` after tsc.
//
// Why: a task started as tsc's output loads ~100 of our modules and, imported from ESM, every CommonJS
// dependency (io-ts, fp-ts, dotenv) goes through Node's CommonJS export lexer, read and resolved file by file:
// about 0.3 CPU s before any work, paid by every process of the pipeline. One file per task costs a fraction.
// tsc still compiles everything into dist/ (the tests import dist/shared/ and dist/tests/); only the task
// entrypoints are replaced by their bundles. Source maps (main.js.map) map back to the .ts files
// (run with `node --enable-source-maps` for stack traces that name them).
//
// Kept outside the bundle: the native drivers (better-sqlite3, sqlite3, pg-native) and the drivers knex can
// name but this project does not install. They are required at run time from node_modules.
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = ['better-sqlite3', 'sqlite3', 'pg-native'];
// knex's other dialects require these when chosen; none is installed, none is ever chosen here
const ABSENT = ['mariadb', 'mariadb/callback', 'mysql', 'mysql2', 'oracledb', 'tedious', 'pg-query-stream'];

// Our lazy CommonJS requires go through createRequire(import.meta.url) so that they work unbundled; in the
// bundle that would load knex, pg and yaml file by file from node_modules again. With the line removed,
// `require` is the bundler's own and those modules are bundled, still evaluated only at the first call.
const bundledRequire = {
  name: 'bundled-require',
  setup(build) {
    build.onLoad({ filter: /[\\/]shared[\\/].*\.ts$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, 'utf8');
      const contents = text.replace(/^const require = createRequire\(import\.meta\.url\);$/m, '');
      if (contents === text && text.includes('createRequire(import.meta.url)')) {
        throw new Error(`${args.path}: write its createRequire as the one line 'const require = createRequire(import.meta.url);' so that the bundle can drop it`);
      }
      return { contents, loader: 'ts' };
    });
  },
};

// CommonJS code in an ESM bundle asks for node's builtins and the external drivers with require()
const banner = "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);";

const options = {
  absWorkingDir: ROOT,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  sourcesContent: false,
  external: [...NATIVE, ...ABSENT],
  banner: { js: banner },
  plugins: [bundledRequire],
  logLevel: 'warning',
};

// A module that starts a file by `new URL('./x.js', import.meta.url)` (the load's reader thread) would look for it
// next to the bundle: each such file gets its own bundle there.
const companionRef = /new URL\(\s*['"]\.\/([\w.-]+)\.js['"]\s*,\s*import\.meta\.url\s*\)/g;

// The task's code is one CommonJS file (bundle.cjs) started by a small main.js that compiles it through vm.Script
// with V8's code cache: compiling the 1.8 MB bundle (and then each function it calls) was ~0.13 of the ~0.4 CPU s
// every process paid before any work. An ES module cannot be given a code cache on Node 20.
// import.meta.url is the bundle's own URL, so files found next to it (package.json upwards, the reader thread)
// are found as before. 'use strict' leads the banner: esbuild's own directive comes after the banner, where it no
// longer counts, and our code was strict as ES modules.
const cjsOptions = {
  ...options,
  format: 'cjs',
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: "'use strict'; const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
};

async function bundleTask(task) {
  const outdir = path.join('dist/tasks', task);
  const { metafile } = await esbuild.build({ ...cjsOptions, entryPoints: [`tasks/${task}/main.ts`], outfile: path.join(outdir, 'bundle.cjs'), metafile: true });
  await writeLauncher(outdir, task);
  const companions = new Set();
  for (const input of Object.keys(metafile.inputs).filter((f) => /^(shared|tasks)\/.*\.ts$/.test(f))) {
    for (const m of fs.readFileSync(path.join(ROOT, input), 'utf8').matchAll(companionRef)) {
      const source = path.join(path.dirname(input), `${m[1]}.ts`);
      if (!fs.existsSync(path.join(ROOT, source))) throw new Error(`${input} starts ./${m[1]}.js, but ${source} does not exist`);
      companions.add(source);
    }
  }
  await Promise.all([...companions].map((source) => esbuild.build({ ...options, entryPoints: [source], outfile: path.join(outdir, path.basename(source, '.ts') + '.js') })));
}

// V8 flags of a task, set by its main.js before the bundle is compiled (a flag set later would also change the hash
// of flags that V8 checks a code cache against, so that every run rejected the cache that the one before wrote).
// process-attribution: no allocation-site pretenuring. V8 makes an allocation site allocate straight into the old
// generation once most of what it allocated survived a young-generation collection; in some runs a site of the
// model comparison's crediting pass was switched so (which one depends on when the collections fall), and each page
// of journeys then went to the old generation as garbage until the next full collection: peak RSS at scale 30
// 230-235 MB in 3 runs, 167-170 without it (3 + 2 runs), the same CPU. What that pass keeps is one page at a time.
// send-to-api: a full collection once the old generation has grown by half of what the last one left (about 20 MB),
// where V8 chose up to 3.5 times. Against a server the batches in flight, the ones prepared ahead and those waiting
// for the staging writer live through two young collections, so part of every batch is promoted and is garbage soon
// after; the old generation grew to V8's threshold, later the more batches there were (peak RSS, medians of 3 runs,
// scale 10 / 30 / 100: 122 / 142 / 182 MB, with the flag 121 / 133 / 140; CPU s 0.91 / 2.20 / 6.45 -> 0.96 / 2.30 /
// 6.64, nine full collections at scale 100 instead of two). The local engine promotes almost nothing: unchanged.
const V8_FLAGS = { 'process-attribution': ['--no-allocation-site-pretenuring'], 'send-to-api': ['--heap-growing-percent=50'] };

// The cache is named by the bundle's content hash: V8 checks only the source's length, so a cache left from an
// earlier build of the same length would run that build's code. It is written by the first run that finds
// none (or one V8 rejects: another Node version or V8 flags), into a temporary file renamed into place, so
// parallel runs never read half a file; a folder the run cannot write (a read-only image) just means no cache.
async function writeLauncher(outdir, task) {
  for (const f of fs.readdirSync(outdir)) if (f.endsWith('.v8cache')) fs.rmSync(path.join(outdir, f));
  const hash = createHash('sha256').update(fs.readFileSync(path.join(outdir, 'bundle.cjs'))).digest('hex').slice(0, 16);
  const flags = V8_FLAGS[task] ?? [];
  const launcher = `// Written by scripts/bundle.mjs: runs bundle.cjs with V8's code cache (see there)
import * as fs from 'node:fs';
import * as vm from 'node:vm';
import { Module, createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
${flags.length === 0 ? '' : `import { setFlagsFromString } from 'node:v8';\n\n// the task's V8 flags (scripts/bundle.mjs, V8_FLAGS), set before anything is compiled or allocated\n${flags.map((f) => `setFlagsFromString('${f}');`).join('\n')}\n`}
const file = fileURLToPath(new URL('./bundle.cjs', import.meta.url));
const require = createRequire(file);
// node --enable-source-maps maps stack traces only for files Node loads itself
if (process.execArgv.some((a) => a.startsWith('--enable-source-maps'))) {
  require(file);
} else {
  const cacheFile = \`\${file}.${hash}.v8cache\`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
  if (cachedData === undefined || script.cachedDataRejected === true) {
    // at exit the cache also holds the functions this run compiled, not only the top level
    process.once('exit', () => {
      const tmp = \`\${cacheFile}.\${process.pid}.tmp\`;
      try {
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        fs.rmSync(tmp, { force: true });
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, require, module, file, fileURLToPath(new URL('.', import.meta.url)));
}
`;
  fs.writeFileSync(path.join(outdir, 'main.js'), launcher);
  // tsc's map of the entrypoint it compiled, which main.js no longer is
  fs.rmSync(path.join(outdir, 'main.js.map'), { force: true });
}

const tasks = fs.readdirSync(path.join(ROOT, 'tasks')).filter((t) => fs.existsSync(path.join(ROOT, 'tasks', t, 'main.ts')));
const only = process.argv.slice(2);
await Promise.all(tasks.filter((t) => only.length === 0 || only.includes(t)).map(bundleTask));
