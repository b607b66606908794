/**
 * `s3://bucket/<store prefix>/key` URIs that users pass to name objects of the service's own
 * store (features and adapters they already keep in S3), mapped to store keys.
 */
import { invalidInput } from '@weightsmith/core';
import type { ObjectStore } from './object-store.js';

/** Maps `s3://bucket/<store prefix>/key` to the store key, or says (naming `field`) why it cannot. */
export function storeKeyOfUri(uri: string, store: ObjectStore, field: string): string {
  const root = store.location.replace(/\/+$/, '');
  if (!root.startsWith('s3://')) throw invalidInput(field, `'${uri}': URIs can only name objects when the service runs on an S3 store; use an artifact id`);
  if (!uri.startsWith(`${root}/`)) throw invalidInput(field, `'${uri}' is outside this service's store (${root}/…)`);
  return uri.slice(root.length + 1).replace(/\/+$/, '');
}
