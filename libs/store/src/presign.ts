import { invalidInput } from '@weightsmith/core';

export const DEFAULT_PRESIGN_EXPIRY_SECONDS = 3600;
/** SigV4 presigned URLs are valid for at most 7 days. */
export const MAX_PRESIGN_EXPIRY_SECONDS = 7 * 24 * 3600;

export function validateExpiry(expirySeconds: unknown): number {
  if (expirySeconds === undefined) return DEFAULT_PRESIGN_EXPIRY_SECONDS;
  if (
    typeof expirySeconds !== 'number' ||
    !Number.isInteger(expirySeconds) ||
    expirySeconds < 1 ||
    expirySeconds > MAX_PRESIGN_EXPIRY_SECONDS
  ) {
    throw invalidInput('expirySeconds', `expirySeconds must be an integer from 1 to ${MAX_PRESIGN_EXPIRY_SECONDS}`);
  }
  return expirySeconds;
}
