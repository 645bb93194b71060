import test from 'ava';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { parse } from 'yaml';
import { decodeConfig, loadConfig } from '../shared/config.js';
import { formatError } from '../shared/errors.js';
import { CONFIG_FILE, tempDir } from './helpers/env.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a YAML tree edited freely by each test
const raw = (): Record<string, any> => parse(fs.readFileSync(CONFIG_FILE, 'utf8'));

const errorText = (r: ReturnType<typeof decodeConfig>): string => (E.isLeft(r) ? formatError(r.left) : 'decoded');

test('the shipped config decodes', (t) => {
  const r = loadConfig(CONFIG_FILE, {});
  t.true(E.isRight(r), errorText(r));
});

test('an unknown key is named', (t) => {
  const c = raw();
  c.provider.concurency = 4;
  const msg = errorText(decodeConfig(c, 'x.yaml', {}));
  t.regex(msg, /provider\.concurency: unknown key "concurency"/);
});

test('a wrong type names the key, the expectation and the value', (t) => {
  const c = raw();
  c.provider.concurrency = 0;
  c.database.insert_chunk_rows = 900;
  const msg = errorText(decodeConfig(c, 'x.yaml', {}));
  t.regex(msg, /provider\.concurrency: expected a whole number > 0, got 0/);
  t.regex(msg, /database\.insert_chunk_rows: expected a whole number from 1 to 500, got 900/);
});

test('a missing required value is reported as missing', (t) => {
  const c = raw();
  delete c.output.dir;
  t.regex(errorText(decodeConfig(c, 'x.yaml', {})), /output\.dir: missing/);
});

test('nested model parameters are checked too', (t) => {
  const c = raw();
  c.models.conversion_types.default.weights.holdr = 1;
  t.regex(errorText(decodeConfig(c, 'x.yaml', {})), /models\.conversion_types\.default\.weights\.holdr: unknown key/);
});

test('environment variables override what a container must change', (t) => {
  const r = decodeConfig(raw(), 'x.yaml', { DATABASE_URL: '/data/a.db', OUTPUT_DIR: '/out', PORT: '9000' });
  if (E.isLeft(r)) return t.fail(formatError(r.left));
  t.is(r.right.database.url, '/data/a.db');
  t.is(r.right.output.dir, '/out');
  t.is(r.right.server.port, 9000);
});

test('a bad environment override is an error naming the variable', (t) => {
  t.regex(errorText(decodeConfig(raw(), 'x.yaml', { PORT: 'eighty' })), /PORT must be a whole number/);
  t.regex(errorText(decodeConfig(raw(), 'x.yaml', { DATABASE_SQLITE_CLIENT: 'sqlite4' })), /database\.sqlite_client/);
});

test('an unreadable or non-YAML file is a clear error', (t) => {
  const dir = tempDir();
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, 'database: [unclosed');
  t.regex(errorText(loadConfig(bad, {})), /bad\.yaml is not valid YAML/);
  t.regex(errorText(loadConfig(path.join(dir, 'none.yaml'), {})), /cannot read the configuration file .*none\.yaml: ENOENT/);
});
