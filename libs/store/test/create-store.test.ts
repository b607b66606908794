import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { baseConfigSchema, ErrorCode, loadConfig } from '@weightsmith/core';
import { createObjectStore } from '../src/create-store.js';
import { FsStore } from '../src/fs-store.js';
import { S3Store } from '../src/s3-store.js';
import { rejectsWith } from './helpers.js';
import { startS3rver } from './s3rver-harness.js';

describe('createObjectStore', () => {
  test('WEIGHTSMITH_STORE=fs (the default) gives an initialised folder store under STORE_DIR/STORE_PREFIX', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ws-create-'));
    try {
      const config = loadConfig(baseConfigSchema, { STORE_DIR: join(dir, 'data'), STORE_PREFIX: 'dev' });
      const store = await createObjectStore(config);
      assert.ok(store instanceof FsStore);
      await store.put('hello.txt', Buffer.from('hi'));
      assert.equal(await readFile(join(dir, 'data', 'dev', 'hello.txt'), 'utf8'), 'hi');
      await store.ping();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('WEIGHTSMITH_STORE=s3 gives an initialised S3 store, creating the bucket when allowed', async () => {
    const s3 = await startS3rver();
    try {
      const env = {
        WEIGHTSMITH_STORE: 's3',
        S3_ENDPOINT: s3.endpoint,
        S3_ACCESS_KEY: s3.accessKey,
        S3_SECRET_KEY: s3.secretKey,
        S3_BUCKET: 'created-by-config',
        STORE_PREFIX: 'svc',
      };
      const store = await createObjectStore(loadConfig(baseConfigSchema, env));
      assert.ok(store instanceof S3Store);
      await store.put('k', Buffer.from('v'));
      assert.equal(store.uri('k'), 's3://created-by-config/svc/k');
      await store.close();
      await rejectsWith(
        createObjectStore(loadConfig(baseConfigSchema, { ...env, S3_BUCKET: 'missing-bucket', S3_CREATE_BUCKET: 'false' })),
        ErrorCode.StoreUnavailable,
      );
    } finally {
      await s3.stop();
    }
  });

  test('an unreachable S3 endpoint fails with store_unavailable', async () => {
    const s3 = await startS3rver();
    const endpoint = s3.endpoint;
    await s3.stop();
    const config = loadConfig(baseConfigSchema, { WEIGHTSMITH_STORE: 's3', S3_ENDPOINT: endpoint, S3_ACCESS_KEY: 'a', S3_SECRET_KEY: 'b' });
    await rejectsWith(createObjectStore(config), ErrorCode.StoreUnavailable);
  });

  test('missing S3 settings are invalid_input naming the variable', async () => {
    const config = { ...loadConfig(baseConfigSchema, {}), WEIGHTSMITH_STORE: 's3' as const };
    await rejectsWith(createObjectStore(config), ErrorCode.InvalidInput, 'S3_ENDPOINT');
  });
});
