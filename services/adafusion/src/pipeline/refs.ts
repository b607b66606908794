/**
 * Where feature, target and model files come from: an artifact id (64 hex, the artifact's data),
 * an `s3://bucket/<store prefix>/key` URI in the service's own store, or a plain store key. The
 * cohort code takes this as its injected `ResolveRef`; store outages (store_unavailable) pass
 * through untouched so the caller answers 503, never "not found".
 */
import { ErrorCode, isWeightsmithError, notFound } from '@weightsmith/core';
import { artifactDataKey, storeKeyOfUri, type ArtifactStore } from '@weightsmith/store';
import { refKind, type ResolveRef } from '../cohort/index.js';

/** A resolver over the service's store; `field` names the request field in its errors. */
export function storeRefResolver(artifacts: ArtifactStore, field = 'ref'): ResolveRef {
  const store = artifacts.store;
  const missing = (ref: string, what: string) => (err: unknown): never => {
    if (isWeightsmithError(err, ErrorCode.NotFound)) throw notFound(`${what} '${ref}' does not exist`, field);
    throw err;
  };
  return async (ref: string): Promise<Uint8Array> => {
    switch (refKind(ref)) {
      case 'artifact':
        // The manifest is the commit marker: data without one is not an artifact (yet).
        await artifacts.get(ref).catch(missing(ref, 'artifact'));
        return store.getBytes(artifactDataKey(ref)).catch(missing(ref, 'artifact'));
      case 's3': {
        const key = storeKeyOfUri(ref, store, field);
        return store.getBytes(key).catch(missing(ref, 'object'));
      }
      case 'key':
        return store.getBytes(ref).catch(missing(ref, 'store key'));
      default:
        throw notFound(`'${ref}' is neither an artifact id, an s3:// URI nor a store key`, field);
    }
  };
}
