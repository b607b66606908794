import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { baseConfigSchema, loadConfig, isWeightsmithError, ErrorCode } from '../src/index.js';

test('defaults give an embedded folder store on port 8080', () => {
  const cfg = loadConfig(baseConfigSchema, {});
  assert.equal(cfg.WEIGHTSMITH_STORE, 'fs');
  assert.equal(cfg.PORT, 8080);
  assert.deepEqual(cfg.API_TOKENS, []);
});

test('a service extends the base schema and empty strings count as unset', () => {
  const schema = baseConfigSchema.extend({ BUNDLES_DIR: z.string().default('models') });
  const cfg = loadConfig(schema, { PORT: '9000', BUNDLES_DIR: '', API_TOKENS: 'a, b,' });
  assert.equal(cfg.PORT, 9000);
  assert.equal(cfg.BUNDLES_DIR, 'models');
  assert.deepEqual(cfg.API_TOKENS, ['a', 'b']);
});

test('invalid variables are all listed by name', () => {
  assert.throws(
    () => loadConfig(baseConfigSchema, { PORT: 'abc', WEIGHTSMITH_STORE: 'gcs' }),
    (err: unknown) =>
      isWeightsmithError(err, ErrorCode.InvalidInput) &&
      err.issues.some((i) => i.field === 'PORT') &&
      err.issues.some((i) => i.field === 'WEIGHTSMITH_STORE'),
  );
});

test('the S3 store needs its endpoint and credentials', () => {
  assert.throws(
    () => loadConfig(baseConfigSchema, { WEIGHTSMITH_STORE: 's3', S3_ENDPOINT: 'http://127.0.0.1:9000' }),
    (err: unknown) => isWeightsmithError(err) && err.issues.map((i) => i.field).join() === 'S3_ACCESS_KEY,S3_SECRET_KEY',
  );
});
