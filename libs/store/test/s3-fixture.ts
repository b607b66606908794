import { randomUUID } from 'node:crypto';
import { S3Store, type S3StoreOptions } from '../src/s3-store.js';
import type { StoreFixture } from './contract.js';
import { startCountingProxy } from './counting-proxy.js';
import { startS3rver } from './s3rver-harness.js';

/**
 * The S3 endpoint the tests run against: a real one when `S3_ENDPOINT` (+ `S3_ACCESS_KEY`,
 * `S3_SECRET_KEY`, `S3_BUCKET`) is set — e.g. a MinIO — otherwise an s3rver started per fixture.
 * Against a real endpoint every fixture works under its own random prefix and deletes it after.
 */
export const externalS3 =
  process.env['S3_ENDPOINT'] !== undefined && process.env['S3_ENDPOINT'] !== ''
    ? {
        endpoint: process.env['S3_ENDPOINT'],
        accessKey: process.env['S3_ACCESS_KEY'] ?? '',
        secretKey: process.env['S3_SECRET_KEY'] ?? '',
        bucket: process.env['S3_BUCKET'] ?? 'weightsmith-test',
        region: process.env['S3_REGION'] ?? 'us-east-1',
      }
    : undefined;

export const s3TargetName = externalS3 ? `S3Store (${externalS3.endpoint})` : 'S3Store (s3rver)';

async function deleteAll(store: S3Store): Promise<void> {
  for (;;) {
    const page = await store.list({ limit: 1000 });
    for (const item of page.items) await store.delete(item.key);
    if (page.nextToken === undefined) return;
  }
}

/**
 * A fresh S3Store behind a counting proxy (plain-HTTP endpoints only), so the contract's
 * streaming test can see upload bytes leave the store.
 */
export async function makeS3Fixture(options: Partial<S3StoreOptions> = {}): Promise<StoreFixture & { store: S3Store }> {
  if (externalS3) {
    const target = new URL(externalS3.endpoint);
    const proxy = target.protocol === 'http:' ? await startCountingProxy(target) : undefined;
    const prefix = [options.prefix?.replace(/^\/+|\/+$/g, ''), `weightsmith-test-${randomUUID().slice(0, 8)}`].filter(Boolean).join('/');
    const store = await new S3Store({
      endPoint: proxy?.endpoint ?? externalS3.endpoint,
      region: externalS3.region,
      bucket: externalS3.bucket,
      accessKey: externalS3.accessKey,
      secretKey: externalS3.secretKey,
      createBucket: true,
      ...options,
      prefix,
    }).init();
    return {
      store,
      ...(proxy ? { receivedBytes: async () => proxy.sentBytes() } : {}),
      async cleanup() {
        await deleteAll(store);
        await store.close();
        await proxy?.close();
      },
    };
  }
  const s3 = await startS3rver();
  const proxy = await startCountingProxy(new URL(s3.endpoint));
  const store = await new S3Store({
    endPoint: proxy.endpoint,
    bucket: s3.bucket,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
    ...options,
  }).init();
  return {
    store,
    receivedBytes: async () => proxy.sentBytes(),
    // Both verified against s3rver 3.7.1; real S3 and MinIO behave as the contract expects.
    limitations: { keepsAbortedUploads: true, listsByPathSegments: true },
    async cleanup() {
      await store.close();
      await proxy.close();
      await s3.stop();
    },
  };
}
