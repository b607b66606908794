import type { BaseConfig } from '@weightsmith/core';
import { invalidInput } from '@weightsmith/core';
import { FsStore } from './fs-store.js';
import type { ObjectStore } from './object-store.js';
import { S3Store } from './s3-store.js';

/** The configuration keys the store reads; any `BaseConfig` (or a service's extension) fits. */
export type StoreConfig = Pick<
  BaseConfig,
  | 'WEIGHTSMITH_STORE'
  | 'STORE_DIR'
  | 'STORE_PREFIX'
  | 'S3_ENDPOINT'
  | 'S3_REGION'
  | 'S3_BUCKET'
  | 'S3_ACCESS_KEY'
  | 'S3_SECRET_KEY'
  | 'S3_PATH_STYLE'
  | 'S3_CREATE_BUCKET'
>;

/**
 * Builds and initialises the store the configuration asks for: the folder store under
 * `STORE_DIR` (the embedded default) or an S3 bucket. Throws store_unavailable when the
 * backend cannot be reached, so a service can decide to start unready or to exit.
 */
export async function createObjectStore(config: StoreConfig): Promise<ObjectStore> {
  if (config.WEIGHTSMITH_STORE === 'fs') {
    return new FsStore({ root: config.STORE_DIR, prefix: config.STORE_PREFIX }).init();
  }
  const missing = (['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const).filter((k) => !config[k]);
  const [first] = missing;
  if (first !== undefined) throw invalidInput(first, `WEIGHTSMITH_STORE=s3 needs ${missing.join(', ')}`);
  return new S3Store({
    endPoint: config.S3_ENDPOINT as string,
    region: config.S3_REGION,
    bucket: config.S3_BUCKET,
    accessKey: config.S3_ACCESS_KEY as string,
    secretKey: config.S3_SECRET_KEY as string,
    pathStyle: config.S3_PATH_STYLE,
    prefix: config.STORE_PREFIX,
    createBucket: config.S3_CREATE_BUCKET,
  }).init();
}
