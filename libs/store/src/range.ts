import { WeightsmithError, ErrorCode } from '@weightsmith/core';
import type { GetOptions } from './object-store.js';

/** A validated request for bytes `[offset, offset + length)`, `length` undefined = to the end. */
export interface ByteRange {
  offset: number;
  length: number | undefined;
}

function reject(field: string, message: string): never {
  throw new WeightsmithError(ErrorCode.InvalidInput, message, { field });
}

export function validateRange(options: GetOptions | undefined): ByteRange {
  const offset = options?.offset ?? 0;
  const length = options?.length;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    reject('offset', `offset must be a non-negative integer, got ${String(offset)}`);
  }
  if (length !== undefined && (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0)) {
    reject('length', `length must be a non-negative integer, got ${String(length)}`);
  }
  return { offset, length };
}

/**
 * Resolves a range against the object size. A range must lie inside the object: reading past the
 * end is an error rather than a short read, so that a caller that trusts its own offsets (a
 * safetensors reader) notices a truncated object instead of parsing fewer bytes.
 * Returns the number of bytes to read.
 */
export function rangeLength(range: ByteRange, size: number, key: string): number {
  if (range.offset > size) {
    reject('offset', `offset ${range.offset} is past the end of object '${key}' (${size} bytes)`);
  }
  const available = size - range.offset;
  if (range.length === undefined) return available;
  if (range.length > available) {
    reject(
      'length',
      `range ${range.offset}+${range.length} runs past the end of object '${key}' (${size} bytes)`,
    );
  }
  return range.length;
}
