import type { Readable } from 'node:stream';

/**
 * The one storage interface. Keys are `/`-separated relative paths (no `..`, no leading `/`,
 * not empty). Implementations: `FsStore` (a folder, the embedded default) and `S3Store`
 * (any S3 API through the `minio` client). Errors: `WeightsmithError` with code `not_found`
 * for a missing key, `invalid_input` (field `key`) for a bad key, and `store_unavailable`
 * (with `retryAfter`) when the backend cannot be reached — the HTTP layer answers 503.
 */
export interface ObjectStat {
  key: string;
  size: number;
  /** Last modification time. */
  modified: Date;
  /** Backend entity tag when it has one (S3 ETag, or size-mtime for the folder store). */
  etag: string;
  contentType?: string;
}

export interface PutOptions {
  contentType?: string;
  /**
   * Only write if no object exists under the key; returns `created: false` without writing
   * otherwise. Used for content-addressed data, where an existing object already holds the bytes.
   */
  ifNoneMatch?: boolean;
}

export interface PutResult {
  key: string;
  size: number;
  created: boolean;
}

export interface GetOptions {
  /** First byte to read (inclusive). */
  offset?: number;
  /** Number of bytes to read from `offset`; to the end when omitted. */
  length?: number;
}

export interface ListOptions {
  /** Only keys starting with this prefix. */
  prefix?: string;
  /** Page size (default 1000). */
  limit?: number;
  /** Opaque token from a previous page's `nextToken`. */
  token?: string;
  /**
   * Only keys strictly after this key (S3's `start-after`), for callers that resume from a key of
   * their own (e.g. ArtifactStore's pages). With `token` too, the later position wins.
   */
  startAfter?: string;
}

export interface ListPage {
  /** Keys in lexicographic (byte) order. */
  items: ObjectStat[];
  nextToken?: string;
}

export interface ObjectStore {
  /** Human-readable location, e.g. `file:///data` or `s3://bucket/prefix`. */
  readonly location: string;
  /** The URI of one key, e.g. `file:///data/a/b` or `s3://bucket/prefix/a/b`. */
  uri(key: string): string;
  /**
   * Write an object atomically: readers see the old object or the whole new one, never a part.
   * `size` is required for streams (S3 needs it to avoid buffering whole parts in memory), and
   * a stream that ends early or late is rejected without leaving anything behind.
   */
  put(key: string, body: Uint8Array | Readable, options?: PutOptions & { size?: number }): Promise<PutResult>;
  /** Read a whole object or a byte range as a stream. */
  get(key: string, options?: GetOptions): Promise<Readable>;
  /** Read a whole object or a byte range into memory (small objects, headers). */
  getBytes(key: string, options?: GetOptions): Promise<Uint8Array>;
  stat(key: string): Promise<ObjectStat>;
  /** `stat` that answers `undefined` instead of throwing `not_found`. */
  exists(key: string): Promise<ObjectStat | undefined>;
  list(options?: ListOptions): Promise<ListPage>;
  /** Delete; deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** A URL that allows a GET of the key without credentials for `expirySeconds`. */
  presignedGetUrl(key: string, expirySeconds?: number): Promise<string>;
  /** Cheap reachability check for readiness probes; throws `store_unavailable`. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
