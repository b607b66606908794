import { WeightsmithError, ErrorCode } from '@weightsmith/core';

/**
 * Object keys, shared by every store so that a key valid on one backend is valid on all of them.
 * Keys are `/`-separated relative paths. The rules exist because the folder store maps keys onto
 * the filesystem (where `..`, absolute paths and backslashes escape or alias), and S3 treats keys
 * as opaque bytes (where the same strings would silently create unreachable objects elsewhere).
 */
export const MAX_KEY_BYTES = 1024;
/** NAME_MAX on common filesystems; S3 has no such limit but the folder store does. */
export const MAX_SEGMENT_BYTES = 255;

// C0 controls, DEL and C1 controls: invisible in logs and listings, NUL truncates C strings.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
// A lone surrogate has no UTF-8 encoding, so the key could not round-trip through S3 or a path.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function reject(field: string, message: string): never {
  throw new WeightsmithError(ErrorCode.InvalidInput, message, { field });
}

/** Checks a key against every rule and returns it unchanged; throws invalid_input naming the rule. */
export function validateKey(key: unknown, field = 'key'): string {
  if (typeof key !== 'string') reject(field, `${field} must be a string`);
  if (key.length === 0) reject(field, `${field} must not be empty`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) reject(field, `${field} is ${bytes} bytes in UTF-8; the limit is ${MAX_KEY_BYTES}`);
  if (LONE_SURROGATE.test(key)) reject(field, `${field} is not valid Unicode (lone surrogate)`);
  if (CONTROL_CHARS.test(key)) reject(field, `${field} must not contain NUL or control characters`);
  if (key.includes('\\')) reject(field, `${field} must not contain backslashes ('\\'); use '/' to separate segments`);
  if (key.startsWith('/')) reject(field, `${field} must be relative: it must not start with '/'`);
  for (const segment of key.split('/')) {
    if (segment === '') reject(field, `${field} must not contain empty segments ('//' or a trailing '/')`);
    if (segment === '..') reject(field, `${field} must not contain '..' segments`);
    if (segment === '.') reject(field, `${field} must not contain '.' segments`);
    if (segment.startsWith('.')) {
      // Dot-names are where stores keep their own bookkeeping (the folder store's `.tmp/`), and
      // listings skip them; allowing them as keys would make objects that list() never shows.
      reject(field, `${field} segment '${segment}' starts with '.'; such names are reserved for the store`);
    }
    const segmentBytes = Buffer.byteLength(segment, 'utf8');
    if (segmentBytes > MAX_SEGMENT_BYTES) {
      reject(field, `${field} segment is ${segmentBytes} bytes in UTF-8; the limit per segment is ${MAX_SEGMENT_BYTES}`);
    }
  }
  return key;
}

/** True when `key` passes `validateKey` (for filtering listings of foreign objects). */
export function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

/**
 * Normalises a deployment prefix (`STORE_PREFIX`): surrounding slashes are dropped, the rest must
 * be a valid key. Returns '' for no prefix.
 */
export function normalizePrefix(prefix: string | undefined, field = 'prefix'): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  return validateKey(trimmed, field);
}

/** Joins a normalised deployment prefix and a validated key. */
export function joinKey(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}/${key}`;
}

/**
 * Listing prefixes are partial keys ("artifacts/ab" matches "artifacts/abc/..."), so only the
 * rules that no key could ever satisfy apply.
 */
export function validateListPrefix(prefix: unknown, field = 'prefix'): string {
  if (prefix === undefined) return '';
  if (typeof prefix !== 'string') reject(field, `${field} must be a string`);
  if (Buffer.byteLength(prefix, 'utf8') > MAX_KEY_BYTES) reject(field, `${field} is longer than ${MAX_KEY_BYTES} bytes`);
  if (CONTROL_CHARS.test(prefix)) reject(field, `${field} must not contain NUL or control characters`);
  if (prefix.includes('\\')) reject(field, `${field} must not contain backslashes ('\\')`);
  if (prefix.startsWith('/')) reject(field, `${field} must be relative: it must not start with '/'`);
  return prefix;
}

/** Page tokens are the last key of the previous page, base64url-encoded so callers treat them as opaque. */
export function encodePageToken(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

export function decodePageToken(token: unknown): string | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+$/.test(token)) {
    reject('token', 'token is not a page token returned by list()');
  }
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (!isValidKey(key)) reject('token', 'token is not a page token returned by list()');
  return key;
}

/** Where a listing starts: after the later of `token` and `startAfter`. */
export function listStartAfter(token: unknown, startAfter: unknown): string | undefined {
  const fromToken = decodePageToken(token);
  if (startAfter === undefined) return fromToken;
  if (typeof startAfter !== 'string' || startAfter.length === 0) reject('startAfter', 'startAfter must be a non-empty key');
  validateListPrefix(startAfter, 'startAfter');
  if (fromToken === undefined) return startAfter;
  return compareKeys(fromToken, startAfter) >= 0 ? fromToken : startAfter;
}

export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 1000;

export function validateListLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIST_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
    reject('limit', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  return limit;
}

/** Byte-wise (UTF-8) comparison, the order S3 lists keys in; differs from JS string order above U+FFFF. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
