/**
 * References to stored files. The domain never fetches anything itself: the HTTP layer injects
 * `resolveRef`, which knows artifact ids, `s3://bucket/key` URIs and store keys.
 */
import { isValidKey } from '@weightsmith/store';

/** Fetches the bytes a reference points to; rejects with `not_found` / `store_unavailable`. */
export type ResolveRef = (ref: string) => Promise<Uint8Array>;

const ARTIFACT_ID = /^[0-9a-f]{64}$/;
const S3_URI = /^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\/.+$/;

export type RefKind = 'artifact' | 's3' | 'key';

/** How a reference string is meant, or undefined when it is none of the three forms. */
export function refKind(ref: string): RefKind | undefined {
  if (ARTIFACT_ID.test(ref)) return 'artifact';
  if (ref.startsWith('s3://')) return S3_URI.test(ref) ? 's3' : undefined;
  return isValidKey(ref) ? 'key' : undefined;
}
