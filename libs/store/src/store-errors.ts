import { WeightsmithError, ErrorCode } from '@weightsmith/core';

/** Seconds a client should wait before retrying after an outage, unless a store is told otherwise. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

export function storeUnavailable(
  message: string,
  cause?: unknown,
  retryAfter: number = DEFAULT_RETRY_AFTER_SECONDS,
): WeightsmithError {
  return new WeightsmithError(ErrorCode.StoreUnavailable, message, { retryAfter, cause });
}

export function objectNotFound(key: string): WeightsmithError {
  return new WeightsmithError(ErrorCode.NotFound, `no object with key '${key}'`, { field: 'key' });
}

export function internalStoreError(message: string, cause: unknown): WeightsmithError {
  return new WeightsmithError(ErrorCode.Internal, message, { cause });
}

/** The message of an unknown thrown value, for wrapping into a WeightsmithError. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** `exists` of both stores: a stat whose `not_found` means "no". */
export async function undefinedIfNotFound<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (err) {
    if (err instanceof WeightsmithError && err.code === ErrorCode.NotFound) return undefined;
    throw err;
  }
}
