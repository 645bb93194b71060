import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
        { selector: "CallExpression[callee.property.name='transaction']", message: 'use writeTransaction(db, fn) from shared/db/connect.ts' },
      ],
    },
  },
  { files: ['shared/db/connect.ts'], rules: { 'no-restricted-syntax': 'off' } },
);
