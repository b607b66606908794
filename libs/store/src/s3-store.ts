import http from 'node:http';
import https from 'node:https';
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'minio';
import { signV4 } from 'minio/dist/esm/signing.mjs';
import { WeightsmithError, invalidInput } from '@weightsmith/core';
import { bodyFailure, readAll, toSizedBody, type SizedBody } from './body.js';
import { requestWithTimeouts, timeoutTransport, type HttpTimeouts } from './http-timeouts.js';
import {
  listStartAfter,
  encodePageToken,
  isValidKey,
  joinKey,
  normalizePrefix,
  validateKey,
  validateListLimit,
  validateListPrefix,
} from './key.js';
import type { GetOptions, ListOptions, ListPage, ObjectStat, ObjectStore, PutOptions, PutResult } from './object-store.js';
import { validateExpiry } from './presign.js';
import { rangeLength, validateRange } from './range.js';
import { isNotFound, mapS3Error, parseS3ErrorBody } from './s3-errors.js';
import { DEFAULT_RETRY_AFTER_SECONDS, storeUnavailable, undefinedIfNotFound } from './store-errors.js';

export interface S3StoreOptions {
  /** Endpoint URL, e.g. `http://minio:9000` or `https://s3.eu-west-1.amazonaws.com`. */
  endPoint: string;
  region?: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  /** Path-style addressing (`host/bucket/key`), which MinIO and most S3 APIs need. Default true. */
  pathStyle?: boolean;
  /** Key prefix inside the bucket, so several deployments can share one bucket. */
  prefix?: string;
  /** Create the bucket in `init()` when it does not exist. Default false. */
  createBucket?: boolean;
  /** Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Time to the first response byte after a request is sent. Default 30000 ms. */
  responseTimeoutMs?: number;
  /** Longest silence on a connection while a body is in flight. Default 60000 ms. */
  idleTimeoutMs?: number;
  /** `retryAfter` (seconds) on store_unavailable errors. Default 5. */
  retryAfterSeconds?: number;
  /**
   * Send `If-None-Match: *` on `ifNoneMatch` puts (AWS S3 and recent MinIO honour it; servers
   * that ignore it fall back to the stat-then-put check). Turn off for servers that reject it.
   * Default true.
   */
  conditionalPut?: boolean;
}

/** A single PUT can carry at most 5 GiB; larger bodies go through the minio client's multipart upload. */
const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** Validity of the internal presigned URL used only to obtain the request host and path. */
const ADDRESSING_URL_EXPIRY_SECONDS = 60;

/**
 * ObjectStore on any S3 API (MinIO, AWS S3, s3rver) through the `minio` client.
 *
 * Uploads: the minio client reads any body up to its part size (64 MiB) into memory to hash it
 * over plain HTTP, so puts up to 5 GiB are sent by this class as one streaming PUT signed with
 * `UNSIGNED-PAYLOAD` (nothing buffered, exact `Content-Length`); larger bodies use the client's
 * multipart upload (the size is always passed, so parts are bounded by the part size).
 *
 * `ifNoneMatch`: a stat first (cheap when the object exists, the common case for
 * content-addressed data), then a PUT with `If-None-Match: *`, which is atomic on servers that
 * support it (AWS since 2024, recent MinIO). Servers that ignore the header (s3rver, older
 * MinIO) leave a race between processes: two writers may both create the object. Writers in the
 * same process are serialised per key, so they never race. For content-addressed keys the race
 * is harmless: both writers store the same bytes.
 *
 * Atomicity relies on the server discarding an upload whose connection drops before
 * `Content-Length` bytes arrive (AWS S3 and MinIO do). A body that turns out too short or too
 * long never delivers its last chunk, so such a server never completes it. s3rver, the test
 * double, does not honour this: it writes objects in place and keeps what arrived.
 *
 * Ranges: a server may ignore or widen a Range header (HTTP allows it; s3rver answers
 * `bytes=0-0` with the whole object), so the returned Content-Range is checked and the stream
 * trimmed to exactly the requested bytes.
 */
export class S3Store implements ObjectStore {
  readonly location: string;
  readonly bucket: string;
  private readonly client: Client;
  private readonly agent: http.Agent;
  private readonly timeouts: HttpTimeouts;
  private readonly region: string;
  private readonly prefix: string;
  private readonly createBucket: boolean;
  private readonly retryAfter: number;
  private readonly conditionalPut: boolean;
  private readonly accessKey: string;
  private readonly secretKey: string;
  private readonly exclusiveWrites = new Map<string, Promise<void>>();

  constructor(options: S3StoreOptions) {
    let url: URL;
    try {
      url = new URL(options.endPoint);
    } catch {
      throw invalidInput('endPoint', `S3 endpoint '${options.endPoint}' is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw invalidInput('endPoint', `S3 endpoint must be http:// or https://, got '${url.protocol}'`);
    }
    if (url.pathname !== '/' && url.pathname !== '') {
      throw invalidInput('endPoint', `S3 endpoint must not have a path ('${url.pathname}'); set the bucket and prefix instead`);
    }
    if (typeof options.bucket !== 'string' || !BUCKET_NAME.test(options.bucket) || options.bucket.includes('..')) {
      throw invalidInput('bucket', `S3 bucket name '${String(options.bucket)}' is invalid: 3-63 characters of a-z, 0-9, '.', '-', starting and ending with a letter or digit`);
    }
    if (!options.accessKey || !options.secretKey) {
      throw invalidInput('accessKey', 'S3 access key and secret key are required');
    }
    const useSSL = url.protocol === 'https:';
    this.bucket = options.bucket;
    this.region = options.region ?? 'us-east-1';
    this.prefix = normalizePrefix(options.prefix);
    this.createBucket = options.createBucket ?? false;
    this.retryAfter = options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
    this.conditionalPut = options.conditionalPut ?? true;
    this.accessKey = options.accessKey;
    this.secretKey = options.secretKey;
    this.timeouts = {
      connectTimeoutMs: options.connectTimeoutMs ?? 5000,
      responseTimeoutMs: options.responseTimeoutMs ?? 30000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60000,
    };
    this.agent = useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
      useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: this.region,
      pathStyle: options.pathStyle ?? true,
      transport: timeoutTransport(this.timeouts),
      transportAgent: this.agent,
      // Retries are the caller's decision (store_unavailable carries retryAfter); the client's own
      // retry also logs to the console and cannot replay a stream body.
      retryOptions: { disableRetry: true },
    });
    this.location = `s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix}`}`;
  }

  /** Checks the bucket is reachable, creating it when missing and allowed. */
  async init(): Promise<this> {
    let exists: boolean;
    try {
      exists = await this.client.bucketExists(this.bucket);
    } catch (err) {
      throw this.mapError(err, `checking bucket '${this.bucket}'`);
    }
    if (exists) return this;
    if (!this.createBucket) {
      throw storeUnavailable(`S3 bucket '${this.bucket}' does not exist and bucket creation is off (S3_CREATE_BUCKET)`, undefined, this.retryAfter);
    }
    try {
      await this.client.makeBucket(this.bucket, this.region);
    } catch (err) {
      const code = (err as { code?: string }).code;
      // Another instance created it first.
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') {
        throw this.mapError(err, `creating bucket '${this.bucket}'`);
      }
    }
    return this;
  }

  uri(key: string): string {
    return `s3://${this.bucket}/${this.fullKey(validateKey(key))}`;
  }

  async put(key: string, body: Uint8Array | Readable, options: PutOptions & { size?: number } = {}): Promise<PutResult> {
    validateKey(key);
    const sized = toSizedBody(body, options.size);
    const write = async (): Promise<PutResult> => {
      if (options.ifNoneMatch) {
        const existing = await this.exists(key);
        if (existing) {
          sized.discard();
          return { key, size: existing.size, created: false };
        }
      }
      return this.upload(key, sized, options);
    };
    try {
      return options.ifNoneMatch ? await this.serialized(key, write) : await write();
    } catch (err) {
      sized.discard();
      throw err;
    }
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    validateKey(key);
    const range = validateRange(options);
    if (range.length === 0) {
      rangeLength(range, (await this.stat(key)).size, key);
      return Readable.from([]);
    }
    const full = this.fullKey(key);
    let response: Readable;
    try {
      response =
        range.offset === 0 && range.length === undefined
          ? await this.client.getObject(this.bucket, full)
          : await this.client.getPartialObject(this.bucket, full, range.offset, range.length ?? 0);
    } catch (err) {
      if ((err as { code?: string }).code === 'InvalidRange') {
        // Offset at or past the end: S3 cannot express an empty range, so decide with the size.
        if (rangeLength(range, (await this.stat(key)).size, key) === 0) return Readable.from([]);
      }
      throw this.mapError(err, `reading '${key}'`, key);
    }
    const served = servedRange(response);
    if (served !== undefined) {
      if (range.length !== undefined && range.offset + range.length > served.total) {
        // S3 shortens a range that runs past the end; the total in Content-Range tells.
        response.destroy();
        rangeLength(range, served.total, key);
      }
      if (served.start !== range.offset || (range.length !== undefined && served.end + 1 !== range.offset + range.length)) {
        if (served.start > range.offset || (range.length !== undefined && served.end + 1 < range.offset + range.length)) {
          response.destroy();
          throw storeUnavailable(`S3 endpoint returned bytes ${served.start}-${served.end} of '${key}' for a request of ${range.offset}+${range.length ?? 'rest'}`, undefined, this.retryAfter);
        }
        return this.mapStreamErrors(response, `reading '${key}'`, new ByteWindow(range.offset - served.start, range.length));
      }
    }
    return this.mapStreamErrors(response, `reading '${key}'`);
  }

  async getBytes(key: string, options?: GetOptions): Promise<Uint8Array> {
    return readAll(await this.get(key, options));
  }

  async stat(key: string): Promise<ObjectStat> {
    validateKey(key);
    try {
      const info = await this.client.statObject(this.bucket, this.fullKey(key));
      const contentType = info.metaData['content-type'] as string | undefined;
      return {
        key,
        size: info.size,
        modified: info.lastModified,
        etag: info.etag,
        ...(contentType === undefined ? {} : { contentType }),
      };
    } catch (err) {
      throw this.mapError(err, `reading '${key}'`, key);
    }
  }

  exists(key: string): Promise<ObjectStat | undefined> {
    return undefinedIfNotFound(this.stat(key));
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    const prefix = validateListPrefix(options.prefix);
    const limit = validateListLimit(options.limit);
    const startAfter = listStartAfter(options.token, options.startAfter);
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const items: ObjectStat[] = [];
    let more = false;
    const stream = this.client.listObjectsV2(
      this.bucket,
      base + prefix,
      true,
      startAfter === undefined ? '' : base + startAfter,
    );
    try {
      for await (const item of stream) {
        if (item.name === undefined || !item.name.startsWith(base)) continue;
        const key = item.name.slice(base.length);
        // Objects written by other tools with keys this API cannot address are left out.
        if (!isValidKey(key)) continue;
        if (items.length === limit) {
          more = true;
          break;
        }
        items.push({ key, size: item.size, modified: item.lastModified, etag: item.etag });
      }
    } catch (err) {
      throw this.mapError(err, 'listing');
    } finally {
      stream.destroy();
    }
    const last = items[items.length - 1];
    return more && last !== undefined ? { items, nextToken: encodePageToken(last.key) } : { items };
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    try {
      await this.client.removeObject(this.bucket, this.fullKey(key));
    } catch (err) {
      if (isNotFound(err)) return;
      throw this.mapError(err, `deleting '${key}'`);
    }
  }

  async presignedGetUrl(key: string, expirySeconds?: number): Promise<string> {
    validateKey(key);
    const expiry = validateExpiry(expirySeconds);
    try {
      return await this.client.presignedGetObject(this.bucket, this.fullKey(key), expiry);
    } catch (err) {
      throw this.mapError(err, `presigning '${key}'`);
    }
  }

  async ping(): Promise<void> {
    let exists: boolean;
    try {
      exists = await this.client.bucketExists(this.bucket);
    } catch (err) {
      throw this.mapError(err, 'checking the bucket');
    }
    if (!exists) throw storeUnavailable(`S3 bucket '${this.bucket}' does not exist`, undefined, this.retryAfter);
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  // --- internals -----------------------------------------------------------------------------

  private fullKey(key: string): string {
    return joinKey(this.prefix, key);
  }

  private mapError(err: unknown, what: string, key?: string): WeightsmithError {
    return mapS3Error(err, what, this.retryAfter, key);
  }

  /** Runs `fn` after any earlier exclusive write of the same key in this process has finished. */
  private async serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.exclusiveWrites.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.exclusiveWrites.set(key, mine);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.exclusiveWrites.get(key) === mine) this.exclusiveWrites.delete(key);
    }
  }

  private async upload(key: string, body: SizedBody, options: PutOptions): Promise<PutResult> {
    const full = this.fullKey(key);
    if (body.size > MAX_SINGLE_PUT_BYTES) {
      try {
        const meta = options.contentType === undefined ? {} : { 'Content-Type': options.contentType };
        await this.client.putObject(this.bucket, full, body.stream, body.size, meta);
        return { key, size: body.size, created: true };
      } catch (err) {
        throw bodyFailure(body, err) ?? this.mapError(err, `writing '${key}'`);
      }
    }
    try {
      const status = await this.streamingPut(full, body, options);
      if (status === 'exists') {
        body.discard(); // the server may have answered before reading the whole body
        const existing = await this.stat(key);
        return { key, size: existing.size, created: false };
      }
      return { key, size: body.size, created: true };
    } catch (err) {
      throw bodyFailure(body, err) ?? this.mapError(err, `writing '${key}'`);
    }
  }

  /**
   * One PUT whose body streams straight from the caller, signed with UNSIGNED-PAYLOAD (the
   * minio client insists on hashing, i.e. buffering, plain-HTTP bodies first).
   */
  private async streamingPut(full: string, body: SizedBody, options: PutOptions): Promise<'created' | 'exists'> {
    // minio builds the host and escaped path exactly as it does for its own requests.
    const address = new URL(await this.client.presignedUrl('PUT', this.bucket, full, ADDRESSING_URL_EXPIRY_SECONDS));
    const date = new Date();
    const headers: Record<string, string> = {
      host: address.host,
      'x-amz-date': amzDate(date),
      'x-amz-content-sha256': UNSIGNED_PAYLOAD,
    };
    if (options.ifNoneMatch && this.conditionalPut) headers['if-none-match'] = '*';
    headers['authorization'] = signV4(
      { protocol: address.protocol, method: 'PUT', path: address.pathname, headers },
      this.accessKey,
      this.secretKey,
      this.region,
      date,
      UNSIGNED_PAYLOAD,
    );
    headers['content-length'] = String(body.size);
    headers['content-type'] = options.contentType ?? 'application/octet-stream';

    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = requestWithTimeouts(
        {
          protocol: address.protocol,
          hostname: address.hostname,
          port: address.port,
          path: address.pathname,
          method: 'PUT',
          headers,
          agent: this.agent,
        },
        this.timeouts,
        resolve,
      );
      req.on('error', reject);
      pipeline(body.stream, req).catch((err: unknown) => {
        req.destroy(err instanceof Error ? err : new Error(String(err)));
        reject(err);
      });
    });
    const res = await response;
    const text = Buffer.from(await readAll(res)).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) {
      // The server may answer early (before reading the whole body) only with an error.
      return 'created';
    }
    if (status === 412) return 'exists';
    throw parseS3ErrorBody(status, text);
  }

  /** Re-emits errors of a response stream as WeightsmithErrors and frees the socket if abandoned. */
  private mapStreamErrors(response: Readable, what: string, window?: ByteWindow): Readable {
    const out: Transform = window ?? new PassThrough({ highWaterMark: 64 * 1024 });
    response.on('error', (err) => {
      if (!out.destroyed && !out.readableEnded) out.destroy(this.mapError(err, what));
    });
    // Abandoned by the consumer, or a window that has all its bytes: free the connection.
    const release = (): void => {
      if (!response.readableEnded) response.destroy();
    };
    out.once('close', release);
    out.once('end', release);
    response.pipe(out);
    return out;
  }
}

function amzDate(date: Date): string {
  return date.toISOString().replace(/[:-]|\.\d{3}/g, '');
}

/** The byte range a GET response carries: from Content-Range (206) or the whole body (200). */
function servedRange(response: Readable): { start: number; end: number; total: number } | undefined {
  const res = response as Partial<http.IncomingMessage>;
  const header = res.headers?.['content-range'];
  if (typeof header === 'string') {
    const match = /^bytes (\d+)-(\d+)\/(\d+)\s*$/.exec(header);
    if (!match) return undefined;
    return { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) };
  }
  const length = Number(res.headers?.['content-length']);
  if (res.statusCode === 200 && Number.isSafeInteger(length)) return { start: 0, end: length - 1, total: length };
  return undefined;
}

/** Passes bytes [skip, skip + take) of what it receives and ends; for servers that send more than asked. */
class ByteWindow extends Transform {
  private position = 0;
  private done = false;

  constructor(
    private readonly skipBytes: number,
    private readonly takeBytes: number | undefined,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.done) {
      callback();
      return;
    }
    const start = this.position;
    this.position += chunk.length;
    const end = this.takeBytes === undefined ? Infinity : this.skipBytes + this.takeBytes;
    const from = Math.max(0, this.skipBytes - start);
    const to = Math.min(chunk.length, end - start);
    if (to > from) this.push(chunk.subarray(from, to));
    if (this.position >= end) {
      this.done = true;
      this.push(null);
    }
    callback();
  }
}
