import { WeightsmithError, ErrorCode } from '@weightsmith/core';
import { describeError, internalStoreError, objectNotFound, storeUnavailable } from './store-errors.js';

/** Transport-level failures: the endpoint is down, unreachable, or dropped the connection. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENETDOWN', 'ECONNABORTED', 'EHOSTDOWN', 'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

/** S3 error codes that mean "try again later". */
const BUSY_CODES = new Set([
  'SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'OperationAborted',
  'XMinioServerNotInitialized', 'XMinioStorageFull', 'XMinioReadQuorum', 'XMinioWriteQuorum',
  'ConditionalRequestConflict',
]);

/** Problems with the deployment (credentials, bucket, clock): a retry helps only after an operator acts. */
const CONFIG_CODES = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'RequestTimeTooSkewed',
  'NoSuchBucket', 'AuthorizationHeaderMalformed', 'InvalidBucketName', 'PermanentRedirect',
  'MovedPermanently', 'TemporaryRedirect', 'ExpiredToken', 'InvalidToken',
]);

/** Seconds to suggest after a configuration problem: nothing changes faster than a human. */
const CONFIG_RETRY_AFTER_SECONDS = 30;

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps a minio-client or HTTP error to the project's codes. `key` (when the operation was about
 * one object) turns NoSuchKey/NotFound into `not_found` for that key.
 */
export function mapS3Error(err: unknown, what: string, retryAfter: number, key?: string): WeightsmithError {
  if (err instanceof WeightsmithError) return err;
  const code = errorCode(err);
  const detail = describeError(err);
  if ((code === 'NoSuchKey' || code === 'NotFound') && key !== undefined) return objectNotFound(key);
  if (code !== undefined && NETWORK_CODES.has(code)) {
    return storeUnavailable(`S3 endpoint unreachable while ${what}: ${detail}`, err, retryAfter);
  }
  if (code !== undefined && BUSY_CODES.has(code)) {
    return storeUnavailable(`S3 endpoint is busy or failing (${code}) while ${what}: ${detail}`, err, retryAfter);
  }
  if (code !== undefined && CONFIG_CODES.has(code)) {
    return storeUnavailable(
      `S3 endpoint refused the request (${code}) while ${what}: check endpoint, bucket, region and credentials`,
      err,
      CONFIG_RETRY_AFTER_SECONDS,
    );
  }
  // With retries disabled, minio reports a 5xx (and 408/429) without its body as this message.
  const retryable = /Retryable HTTP status: (\d+)/.exec(detail);
  if (retryable) {
    return storeUnavailable(`S3 endpoint answered HTTP ${retryable[1]} while ${what}`, err, retryAfter);
  }
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 500) {
    return storeUnavailable(`S3 endpoint answered HTTP ${status} while ${what}: ${detail}`, err, retryAfter);
  }
  return internalStoreError(`S3 request failed while ${what}: ${detail}`, err);
}

export function isNotFound(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'NoSuchKey' || code === 'NotFound' || (err instanceof WeightsmithError && err.code === ErrorCode.NotFound);
}

/**
 * The error of a non-2xx S3 response whose XML body we read ourselves (our streaming PUT), shaped
 * like minio's errors (`code`) so `mapS3Error` handles both. Never leaves the store unmapped.
 */
export type S3ResponseError = Error & { statusCode: number; code: string };

export function parseS3ErrorBody(statusCode: number, body: string): S3ResponseError {
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? `HTTP${statusCode}`;
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? `HTTP ${statusCode}`;
  return Object.assign(new Error(`${code}: ${message}`), { statusCode, code });
}
