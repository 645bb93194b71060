import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const runner = { group: ['**/task.js'], message: 'import Capabilities/TaskResult from shared/capabilities.ts; only tasks/ use the runner' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.venv/**', 'output/**', 'data/**', 'build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'warn',
      // SQLite write transactions must begin IMMEDIATE or a second writer fails at once: shared/db/connect.ts
      'no-restricted-syntax': [
        'error',
        // the Db capability's transaction(what, work) takes its purpose first and goes through writeTransaction
        {
          selector: "CallExpression[callee.property.name='transaction'][arguments.0.type!='Literal'][arguments.0.type!='TemplateLiteral']",
          message: 'use writeTransaction(db, fn) from shared/db/connect.ts, or the Db capability (shared/db/db.ts)',
        },
      ],
    },
  },
  { files: ['shared/db/connect.ts'], rules: { 'no-restricted-syntax': 'off' } },
  // The layers of docs/design.md: the engine is pure, the database layer knows no model, and no program in
  // shared/ imports the runner (task.ts pulls in yargs and dotenv); programs get their types from capabilities.ts.
  {
    files: ['shared/attribution/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../*', '!../codecs', '!../codecs/*', '!../numbers.js'], message: 'the engine imports only codecs (and numbers.js): it stays pure' }] }],
    },
  },
  {
    files: ['shared/db/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/attribution/*', '**/ihc/*', '**/ingest/*', '**/journeys/*', '**/reporting/*', '**/generate/*'], message: 'shared/db knows no domain module' }] }],
    },
  },
  {
    files: ['shared/**/*.ts'],
    ignores: ['shared/task.ts', 'shared/attribution/**/*.ts', 'shared/db/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [runner] }],
    },
  },
  // Data flows one way: setup-db (db) -> load (ingest) -> build-journeys (journeys) -> send-to-api (ihc) -> process-attribution
  // (reporting). A step may import what comes before it, never what comes after.
  ...downstream('shared/ingest/**/*.ts', ['journeys', 'ihc', 'reporting', 'fit']),
  ...downstream('shared/journeys/**/*.ts', ['ihc', 'reporting', 'fit']),
  ...downstream('shared/ihc/**/*.ts', ['reporting', 'fit']),
  ...downstream('shared/fit/**/*.ts', ['reporting']),
);

function downstream(files, later) {
  const group = later.map((d) => `**/${d}/*`);
  return [{ files: [files], rules: { 'no-restricted-imports': ['error', { patterns: [runner, { group, message: `${files.split('/')[1]} comes before ${later.join(', ')} in the pipeline: move what both need upstream (e.g. shared/format.ts)` }] }] } }];
}
