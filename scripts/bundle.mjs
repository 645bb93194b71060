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

async function bundleTask(task) {
  const outdir = path.join('dist/tasks', task);
  const { metafile } = await esbuild.build({ ...options, entryPoints: [`tasks/${task}/main.ts`], outfile: path.join(outdir, 'main.js'), metafile: true });
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

const tasks = fs.readdirSync(path.join(ROOT, 'tasks')).filter((t) => fs.existsSync(path.join(ROOT, 'tasks', t, 'main.ts')));
const only = process.argv.slice(2);
await Promise.all(tasks.filter((t) => only.length === 0 || only.includes(t)).map(bundleTask));
