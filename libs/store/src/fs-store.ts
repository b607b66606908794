import { randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
import { link, lstat, mkdir, open, opendir, readdir, realpath, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { WeightsmithError, ErrorCode, invalidInput } from '@weightsmith/core';
import { bodyFailure, readAll, toSizedBody, type SizedBody } from './body.js';
import {
  compareKeys,
  listStartAfter,
  encodePageToken,
  normalizePrefix,
  validateKey,
  validateListLimit,
  validateListPrefix,
} from './key.js';
import type { GetOptions, ListOptions, ListPage, ObjectStat, ObjectStore, PutOptions, PutResult } from './object-store.js';
import { validateExpiry } from './presign.js';
import { rangeLength, validateRange } from './range.js';
import { DEFAULT_RETRY_AFTER_SECONDS, describeError, internalStoreError, objectNotFound, storeUnavailable, undefinedIfNotFound } from './store-errors.js';

export interface FsStoreOptions {
  /** Folder that holds the objects; created by `init()` when missing. */
  root: string;
  /** Key prefix (a sub-folder), so several deployments can share one root. */
  prefix?: string;
  /** `retryAfter` (seconds) on store_unavailable errors. */
  retryAfterSeconds?: number;
}

/** Where in-flight writes live: inside the root, so `rename`/`link` stay on one filesystem. */
const TEMP_DIR = '.tmp';
/** Temp files older than this are leftovers of a crashed process and are removed by `init()`. */
const STALE_TEMP_MS = 24 * 3600 * 1000;
/** A write retries its final link/rename when a concurrent delete pruned the parent folder. */
const PLACE_ATTEMPTS = 5;

/** errno codes that mean "the disk or mount is in trouble", not "this key is wrong". */
const UNAVAILABLE_CODES = new Set([
  'ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EIO', 'EMFILE', 'ENFILE', 'EBUSY', 'EAGAIN',
  'ESTALE', 'ETIMEDOUT', 'ENOTCONN', 'EXDEV', 'ENODEV', 'ENXIO',
]);

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? (err as NodeJS.ErrnoException).code : undefined;
}

/**
 * Maps a filesystem error to the project's error codes. Exported for its unit test: disk-full and
 * I/O errors cannot be provoked reliably from a test running as root.
 */
export function mapFsError(err: unknown, what: string, retryAfter = DEFAULT_RETRY_AFTER_SECONDS): WeightsmithError {
  if (err instanceof WeightsmithError) return err;
  const code = errnoCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return storeUnavailable(`folder store is out of space (${what}): ${describeError(err)}`, err, retryAfter);
  }
  if (code !== undefined && UNAVAILABLE_CODES.has(code)) {
    return storeUnavailable(`folder store cannot be used (${what}): ${describeError(err)}`, err, retryAfter);
  }
  if (code === 'ENAMETOOLONG') {
    return new WeightsmithError(ErrorCode.InvalidInput, `key is too long for the folder store (${what})`, { field: 'key', cause: err });
  }
  return internalStoreError(`folder store failed (${what}): ${describeError(err)}`, err);
}

/**
 * The embedded object store: one file per object under a root folder.
 *
 * - Writes go to `<root>/.tmp/<uuid>` (same filesystem), are fsync'ed, then `rename`d into place,
 *   so readers see the old object or the whole new one. `ifNoneMatch` places the file with
 *   `link()`, which fails with EEXIST if the key exists: of several concurrent writers exactly
 *   one creates the object and the others get `created: false`.
 * - Keys are validated (see key.ts) and every resolved path is checked with `realpath` to stay
 *   inside the root, so a symbolic link inside the root cannot lead reads or writes outside it.
 * - A folder cannot be both an object and a prefix: `a` and `a/b` cannot coexist (S3 allows it);
 *   such a put fails with `conflict`.
 * - `contentType` is accepted and not stored (`stat` reports none); services know what they serve.
 * - There are no signed URLs: `presignedGetUrl` returns a plain `file://` URL, useful to a process
 *   on the same machine only. HTTP services stream objects to clients instead.
 * - A missing or unusable root (removed, replaced by a file, unmounted, disk full, read-only) is
 *   `store_unavailable`; the root is only created by `init()`, never re-created behind a
 *   vanished mount.
 */
export class FsStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;
  private readonly prefix: string;
  private readonly base: string;
  private readonly retryAfter: number;

  constructor(options: FsStoreOptions) {
    if (typeof options?.root !== 'string' || options.root.trim() === '') {
      throw invalidInput('root', 'FsStore needs a root folder');
    }
    this.root = resolve(options.root);
    this.prefix = normalizePrefix(options.prefix);
    this.base = this.prefix === '' ? this.root : join(this.root, ...this.prefix.split('/'));
    this.location = pathToFileURL(this.base).href;
    this.retryAfter = options.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
  }

  /** Creates the root (and temp folder) if needed and removes stale temp files. */
  async init(): Promise<this> {
    try {
      await mkdir(this.root, { recursive: true });
      await mkdir(join(this.root, TEMP_DIR), { recursive: true });
      await this.removeStaleTempFiles();
    } catch (err) {
      const mapped = this.mapError(err, `initialising ${this.root}`);
      throw mapped.code === ErrorCode.StoreUnavailable ? mapped : this.rootUnavailable(err);
    }
    return this;
  }

  uri(key: string): string {
    return pathToFileURL(this.pathOf(validateKey(key))).href;
  }

  async put(key: string, body: Uint8Array | Readable, options: PutOptions & { size?: number } = {}): Promise<PutResult> {
    validateKey(key);
    const sized = toSizedBody(body, options.size);
    const target = this.pathOf(key);
    try {
      if (options.ifNoneMatch) {
        const existing = await this.exists(key);
        if (existing) {
          sized.discard();
          return { key, size: existing.size, created: false };
        }
      }
      const temp = await this.writeTemp(sized);
      try {
        const placed = await this.place(temp, target, key, options.ifNoneMatch === true);
        if (!placed.created) return { key, size: placed.size, created: false };
      } finally {
        await rm(temp, { force: true });
      }
      return { key, size: sized.size, created: true };
    } catch (err) {
      sized.discard();
      throw bodyFailure(sized, err) ?? (await this.failure(err, `writing '${key}'`));
    }
  }

  async get(key: string, options?: GetOptions): Promise<Readable> {
    validateKey(key);
    const range = validateRange(options);
    const real = await this.resolveExisting(key);
    try {
      const handle = await open(real, fsConstants.O_RDONLY);
      try {
        const info = await handle.stat();
        if (!info.isFile()) throw objectNotFound(key);
        const length = rangeLength(range, info.size, key);
        if (length === 0) {
          await handle.close();
          return Readable.from([]);
        }
        // The open handle pins this version of the file: a concurrent overwrite (rename) or
        // delete does not change what this stream returns.
        return handle.createReadStream({ start: range.offset, end: range.offset + length - 1 });
      } catch (err) {
        await handle.close();
        throw err;
      }
    } catch (err) {
      throw await this.failure(err, `reading '${key}'`, key);
    }
  }

  async getBytes(key: string, options?: GetOptions): Promise<Uint8Array> {
    return readAll(await this.get(key, options));
  }

  async stat(key: string): Promise<ObjectStat> {
    validateKey(key);
    const real = await this.resolveExisting(key);
    try {
      const info = await stat(real);
      if (!info.isFile()) throw objectNotFound(key);
      return toObjectStat(key, info.size, info.mtime, info.mtimeMs);
    } catch (err) {
      throw await this.failure(err, `reading '${key}'`, key);
    }
  }

  exists(key: string): Promise<ObjectStat | undefined> {
    return undefinedIfNotFound(this.stat(key));
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    const prefix = validateListPrefix(options.prefix);
    const limit = validateListLimit(options.limit);
    const startAfter = listStartAfter(options.token, options.startAfter);
    try {
      await this.realRoot();
      const items: ObjectStat[] = [];
      let more = false;
      for await (const entry of this.walk(this.base, '', prefix, startAfter)) {
        if (items.length === limit) {
          more = true;
          break;
        }
        items.push(entry);
      }
      const last = items[items.length - 1];
      return more && last !== undefined ? { items, nextToken: encodePageToken(last.key) } : { items };
    } catch (err) {
      throw await this.failure(err, 'listing');
    }
  }

  async delete(key: string): Promise<void> {
    validateKey(key);
    const target = this.pathOf(key);
    try {
      const realParent = await this.realParentIfExists(target, key);
      if (realParent === undefined) return;
      try {
        await unlink(join(realParent, lastSegment(key)));
      } catch (err) {
        // Nothing stored under the key: missing, or a folder (a prefix, not an object).
        const code = errnoCode(err);
        if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'EPERM') throw err;
        if (code === 'EPERM' && !(await isDirectory(join(realParent, lastSegment(key))))) throw err;
      }
      await this.pruneEmptyFolders(dirname(target));
    } catch (err) {
      throw await this.failure(err, `deleting '${key}'`);
    }
  }

  async presignedGetUrl(key: string, expirySeconds?: number): Promise<string> {
    validateKey(key);
    validateExpiry(expirySeconds);
    // No signing exists for plain files; the URL is only meaningful on this machine.
    return pathToFileURL(this.pathOf(key)).href;
  }

  async ping(): Promise<void> {
    const probe = join(this.root, TEMP_DIR, `ping-${randomUUID()}`);
    try {
      await this.realRoot();
      await this.ensureTempDir();
      const handle = await open(probe, 'wx');
      await handle.close();
      await unlink(probe);
    } catch (err) {
      throw await this.failure(err, 'checking the store is writable');
    }
  }

  async close(): Promise<void> {
    // Nothing to release: every operation opens and closes its own files.
  }

  // --- paths -------------------------------------------------------------------------------

  private pathOf(key: string): string {
    return join(this.base, ...key.split('/'));
  }

  /** The root's real path; store_unavailable when the root is missing or not a folder. */
  private async realRoot(): Promise<string> {
    try {
      const real = await realpath(this.root);
      const info = await stat(real);
      if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      return real;
    } catch (err) {
      throw this.rootUnavailable(err);
    }
  }

  private rootUnavailable(err: unknown): WeightsmithError {
    return storeUnavailable(
      `folder store root ${this.root} is missing or not a folder (${describeError(err)})`,
      err,
      this.retryAfter,
    );
  }

  private inside(realRoot: string, real: string): boolean {
    return real === realRoot || real.startsWith(realRoot + sep);
  }

  private escapes(key: string): WeightsmithError {
    return invalidInput('key', `key '${key}' resolves outside the store root through a symbolic link`);
  }

  /** Real path of an existing object, checked to be inside the root. */
  private async resolveExisting(key: string): Promise<string> {
    const realRoot = await this.realRoot();
    let real: string;
    try {
      real = await realpath(this.pathOf(key));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') throw objectNotFound(key);
      throw await this.failure(err, `resolving '${key}'`);
    }
    if (!this.inside(realRoot, real)) throw this.escapes(key);
    return real;
  }

  /**
   * Real path of the key's parent folder if it exists (checked to be inside the root), else
   * undefined. Used by delete, which must not follow a symlinked folder out of the root.
   */
  private async realParentIfExists(target: string, key: string): Promise<string | undefined> {
    const realRoot = await this.realRoot();
    let real: string;
    try {
      real = await realpath(dirname(target));
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (!this.inside(realRoot, real)) throw this.escapes(key);
    return real;
  }

  /**
   * Creates the key's parent folders without ever creating anything outside the root: the
   * deepest existing ancestor is resolved and checked first, then only missing folders (which
   * cannot be links) are created below it. Returns the real parent path.
   */
  private async ensureParent(target: string, key: string): Promise<string> {
    const realRoot = await this.realRoot();
    const parent = dirname(target);
    let existing = parent;
    for (;;) {
      try {
        const real = await realpath(existing);
        if (!this.inside(realRoot, real)) throw this.escapes(key);
        break;
      } catch (err) {
        if (errnoCode(err) === 'ENOTDIR') throw this.prefixIsObject(key, err);
        if (errnoCode(err) !== 'ENOENT') throw err;
        if (existing === this.root) throw this.rootUnavailable(err);
        existing = dirname(existing);
      }
    }
    try {
      await mkdir(parent, { recursive: true });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOTDIR' || code === 'EEXIST') throw this.prefixIsObject(key, err);
      throw err;
    }
    const realParent = await realpath(parent);
    if (!this.inside(realRoot, realParent)) throw this.escapes(key);
    return realParent;
  }

  private prefixIsObject(key: string, cause: unknown): WeightsmithError {
    return new WeightsmithError(
      ErrorCode.Conflict,
      `cannot store '${key}': part of its path is an existing object, and the folder store cannot hold a key that is both an object and a prefix`,
      { field: 'key', cause },
    );
  }

  // --- writing -----------------------------------------------------------------------------

  private async ensureTempDir(): Promise<string> {
    const dir = join(this.root, TEMP_DIR);
    await mkdir(dir, { recursive: false }).catch((err: unknown) => {
      if (errnoCode(err) !== 'EEXIST') throw err;
    });
    return dir;
  }

  /** Streams the body into a fresh temp file and fsyncs it; the file is removed on any failure. */
  private async writeTemp(body: SizedBody): Promise<string> {
    await this.realRoot();
    const temp = join(await this.ensureTempDir(), `${randomUUID()}.part`);
    const handle = await open(temp, 'wx', 0o644);
    try {
      for await (const chunk of body.stream) {
        const buf = chunk as Buffer;
        let offset = 0;
        while (offset < buf.length) {
          const { bytesWritten } = await handle.write(buf, offset, buf.length - offset);
          offset += bytesWritten;
        }
      }
      await handle.sync();
      await handle.close();
      return temp;
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(temp, { force: true });
      throw err;
    }
  }

  /**
   * Moves a finished temp file to the key. `exclusive` uses link(), which fails if the key exists
   * (the temp file is removed by the caller either way); otherwise rename() replaces atomically.
   */
  private async place(temp: string, target: string, key: string, exclusive: boolean): Promise<{ created: boolean; size: number }> {
    for (let attempt = 1; ; attempt++) {
      const realParent = await this.ensureParent(target, key);
      const destination = join(realParent, lastSegment(key));
      try {
        if (exclusive) await link(temp, destination);
        else await rename(temp, destination);
        await syncFolder(realParent);
        return { created: true, size: 0 };
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'ENOENT' && attempt < PLACE_ATTEMPTS) continue; // parent pruned by a concurrent delete
        if (code === 'EEXIST' && exclusive) {
          const info = await lstat(destination);
          if (info.isDirectory()) throw this.keyIsPrefix(key, err);
          if (info.isSymbolicLink()) await this.resolveExisting(key); // rejects links that leave the root
          return { created: false, size: info.size };
        }
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw this.keyIsPrefix(key, err);
        throw err;
      }
    }
  }

  private keyIsPrefix(key: string, cause: unknown): WeightsmithError {
    return new WeightsmithError(
      ErrorCode.Conflict,
      `cannot store '${key}': other objects are stored under '${key}/', and the folder store cannot hold a key that is both an object and a prefix`,
      { field: 'key', cause },
    );
  }

  /** Removes folders left empty by a delete, up to (not including) the store's base folder. */
  private async pruneEmptyFolders(folder: string): Promise<void> {
    let current = folder;
    while (current !== this.base && current.startsWith(this.base + sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty, already gone, or in use: all fine to leave
      }
      current = dirname(current);
    }
  }

  private async removeStaleTempFiles(): Promise<void> {
    const dir = join(this.root, TEMP_DIR);
    const now = Date.now();
    for (const name of await readdir(dir)) {
      const file = join(dir, name);
      const info = await lstat(file).catch(() => undefined);
      if (info?.isFile() && now - info.mtimeMs > STALE_TEMP_MS) await rm(file, { force: true });
    }
  }

  // --- listing -----------------------------------------------------------------------------

  /**
   * Yields objects under `folder` in byte order of their keys. Folder entries sort as `name/`,
   * which is where their keys fall among sibling files ('a-b' < 'a/x' because '-' < '/').
   * Hidden entries (the temp folder, anything starting with '.') and symbolic links are skipped;
   * folders that cannot hold a matching key after `startAfter` are not opened.
   */
  private async *walk(folder: string, rel: string, prefix: string, startAfter: string | undefined): AsyncGenerator<ObjectStat> {
    let entries: Dirent[];
    try {
      entries = [];
      for await (const entry of await opendir(folder)) entries.push(entry);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return;
      throw err;
    }
    const named = entries
      .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isDirectory()))
      .map((e) => ({ entry: e, sortKey: rel + e.name + (e.isDirectory() ? '/' : '') }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const { entry, sortKey } of named) {
      if (entry.isDirectory()) {
        // Keys below are sortKey + something: skip unless that can match prefix and pass startAfter.
        if (!(sortKey.startsWith(prefix) || prefix.startsWith(sortKey))) continue;
        if (startAfter !== undefined && compareKeys(sortKey, startAfter) < 0 && !startAfter.startsWith(sortKey)) continue;
        yield* this.walk(join(folder, entry.name), sortKey, prefix, startAfter);
        continue;
      }
      const key = sortKey;
      if (!key.startsWith(prefix)) continue;
      if (startAfter !== undefined && compareKeys(key, startAfter) <= 0) continue;
      if (!isListableKey(key)) continue;
      const info = await lstat(join(folder, entry.name)).catch((err: unknown) => {
        if (errnoCode(err) === 'ENOENT') return undefined; // deleted while listing
        throw err;
      });
      if (info?.isFile()) yield toObjectStat(key, info.size, info.mtime, info.mtimeMs);
    }
  }

  // --- errors ------------------------------------------------------------------------------

  private mapError(err: unknown, what: string): WeightsmithError {
    return mapFsError(err, what, this.retryAfter);
  }

  /**
   * Maps an error, first checking whether the root itself is gone: then every ENOENT is an outage
   * rather than a missing object.
   */
  private async failure(err: unknown, what: string, key?: string): Promise<WeightsmithError> {
    const code = errnoCode(err);
    if (err instanceof WeightsmithError) {
      if (err.code !== ErrorCode.NotFound) return err;
    } else if (code !== 'ENOENT' && code !== 'ENOTDIR') {
      return this.mapError(err, what);
    }
    try {
      await this.realRoot();
    } catch (rootErr) {
      return rootErr as WeightsmithError;
    }
    if (err instanceof WeightsmithError) return err;
    return key === undefined ? this.mapError(err, what) : objectNotFound(key);
  }
}

function lastSegment(key: string): string {
  const i = key.lastIndexOf('/');
  return i < 0 ? key : key.slice(i + 1);
}

function isListableKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** fsync the folder so the new directory entry survives a crash, not only the file's bytes. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, fsConstants.O_RDONLY);
  try {
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on folders; the rename itself is still atomic.
  } finally {
    await handle.close();
  }
}

function toObjectStat(key: string, size: number, modified: Date, mtimeMs: number): ObjectStat {
  return { key, size, modified, etag: `${size.toString(16)}-${Math.round(mtimeMs * 1000).toString(16)}` };
}
