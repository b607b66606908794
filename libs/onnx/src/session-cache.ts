/**
 * A cache of onnxruntime InferenceSessions keyed by model identity: the sha256 of the model
 * bytes, or path + mtime + size for a file. Sessions are created with explicit thread counts
 * (onnxruntime's default ignores the container's CPU limit) and full graph optimisation; the
 * least recently used session is released beyond `maxSessions`; concurrent requests for the same
 * model share one load.
 *
 * `session.run()` blocks the event loop for the whole run: in a server, use this cache inside a
 * worker thread (InferencePool does) rather than on the main thread.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ErrorCode, WeightsmithError, invalidInput, notFound } from '@weightsmith/core';
import { valueInfoFromMetadata, type ValueInfo } from './tensor-data.js';

/** Model bytes, or a path to an .onnx file. */
export type ModelSource = Uint8Array | string;

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOptions {
  /** Threads inside one operator (MLAS). Default 1; services pass ORT_INTRA_OP_THREADS. */
  intraOpNumThreads?: number;
  /** Threads running independent operators in parallel. Default 1. */
  interOpNumThreads?: number;
  /** Default 'all'. */
  graphOptimizationLevel?: GraphOptimizationLevel;
}

export interface SessionCacheOptions extends SessionOptions {
  /** Sessions kept open; the least recently used beyond this is released. Default 8. */
  maxSessions?: number;
}

export interface CachedSession {
  /** Model identity ('sha256:…' or 'file:…'), or the key the caller supplied. */
  readonly key: string;
  /** Human-readable name for messages (the caller's name, the file path, or the key). */
  readonly name: string;
  readonly session: ort.InferenceSession;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

export interface GetSessionOptions {
  /** Use this identity instead of hashing/stat-ing the source (the caller already knows it). */
  key?: string;
  /** Name used in error messages. */
  name?: string;
}

interface Entry {
  loading: Promise<CachedSession>;
  loaded: CachedSession | undefined;
  /** Callers inside use(); an evicted session is released when this reaches zero. */
  leases: number;
  evicted: boolean;
  released: boolean;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The identity of a model source: content hash for bytes, path + mtime + size for files. */
export async function modelKey(source: ModelSource): Promise<string> {
  if (typeof source === 'string') {
    const path = resolvePath(source);
    const st = await statModel(path);
    return `file:${path}:${st.mtimeMs}:${st.size}`;
  }
  if (!(source instanceof Uint8Array)) throw invalidInput('model', 'model must be a Uint8Array of ONNX bytes or a file path');
  return `sha256:${sha256Hex(source)}`;
}

export function ortSessionOptions(opts: SessionOptions): ort.InferenceSession.SessionOptions {
  const intra = opts.intraOpNumThreads ?? 1;
  const inter = opts.interOpNumThreads ?? 1;
  for (const [field, v] of [['intraOpNumThreads', intra], ['interOpNumThreads', inter]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 256) throw invalidInput(field, `${field} must be an integer from 1 to 256, got ${v}`);
  }
  return {
    intraOpNumThreads: intra,
    interOpNumThreads: inter,
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    executionMode: inter > 1 ? 'parallel' : 'sequential',
  };
}

/** Creates one session; a model onnxruntime cannot load is invalid_format with its message. */
export async function createSession(source: ModelSource, opts: SessionOptions, name: string): Promise<ort.InferenceSession> {
  const options = ortSessionOptions(opts);
  if (typeof source === 'string') await statModel(resolvePath(source));
  try {
    if (typeof source === 'string') return await ort.InferenceSession.create(source, options);
    // onnxruntime reads from a plain ArrayBuffer only (not a SharedArrayBuffer view).
    const bytes = source.buffer instanceof ArrayBuffer ? source : source.slice();
    return await ort.InferenceSession.create(bytes, options);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new WeightsmithError(ErrorCode.InvalidFormat, `model '${name}' could not be loaded by onnxruntime: ${message}`, {
      field: 'model',
      cause: err,
    });
  }
}

export class SessionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly options: SessionOptions;
  private readonly maxSessions: number;
  private closed = false;

  constructor(opts: SessionCacheOptions = {}) {
    const max = opts.maxSessions ?? 8;
    if (!Number.isInteger(max) || max < 1) throw invalidInput('maxSessions', `maxSessions must be a positive integer, got ${max}`);
    this.maxSessions = max;
    this.options = { ...opts };
    ortSessionOptions(this.options); // validate thread counts now, not at the first load
  }

  /** Number of sessions loaded or loading. */
  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * The session for a model, loading it on first use. The session may be released once it is
   * evicted; callers that hold it across other loads should use `use()` instead.
   */
  async get(source: ModelSource, opts: GetSessionOptions = {}): Promise<CachedSession> {
    const key = opts.key ?? (await modelKey(source));
    return this.entryFor(key, source, opts.name).loading;
  }

  /** Runs `fn` with the session held: eviction while `fn` runs defers the release until it ends. */
  async use<T>(source: ModelSource, fn: (s: CachedSession) => Promise<T> | T, opts: GetSessionOptions = {}): Promise<T> {
    const key = opts.key ?? (await modelKey(source));
    const entry = this.entryFor(key, source, opts.name);
    entry.leases++;
    try {
      return await fn(await entry.loading);
    } finally {
      entry.leases--;
      if (entry.evicted && entry.leases === 0) await release(entry);
    }
  }

  /** Releases one model's session (now, or when its last use() ends). */
  async delete(key: string): Promise<boolean> {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.entries.delete(key);
    await this.retire(entry);
    return true;
  }

  /** Releases every session; later get() calls fail with not_ready. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => this.retire(e)));
  }

  private entryFor(key: string, source: ModelSource, name: string | undefined): Entry {
    if (this.closed) throw new WeightsmithError(ErrorCode.NotReady, 'the session cache is closed');
    const existing = this.entries.get(key);
    if (existing !== undefined) {
      // Re-insert to mark it most recently used (Map iteration order is insertion order).
      this.entries.delete(key);
      this.entries.set(key, existing);
      return existing;
    }
    const label = name ?? (typeof source === 'string' ? source : key);
    const entry: Entry = { loading: Promise.resolve(undefined as never), loaded: undefined, leases: 0, evicted: false, released: false };
    entry.loading = (async () => {
      const session = await createSession(source, this.options, label);
      const loaded: CachedSession = {
        key,
        name: label,
        session,
        inputs: valueInfoFromMetadata(session.inputMetadata),
        outputs: valueInfoFromMetadata(session.outputMetadata),
      };
      entry.loaded = loaded;
      if (entry.evicted || this.closed) {
        // Deleted or closed while loading: nobody will release it later.
        if (entry.leases === 0) await release(entry);
      } else {
        this.evictOverflow();
      }
      return loaded;
    })();
    entry.loading.catch(() => {
      // A failed load is not cached: the next call tries again.
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    this.entries.set(key, entry);
    return entry;
  }

  private evictOverflow(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxSessions) break;
      if (entry.loaded === undefined) continue; // still loading; its waiters need it
      this.entries.delete(key);
      void this.retire(entry);
    }
  }

  private async retire(entry: Entry): Promise<void> {
    entry.evicted = true;
    if (entry.leases === 0) await release(entry);
  }
}

/** Releases an entry's session once, whichever of eviction, close() or the last use() gets there. */
async function release(entry: Entry): Promise<void> {
  if (entry.loaded === undefined || entry.released) return;
  entry.released = true;
  await entry.loaded.session.release();
}

async function statModel(path: string): Promise<{ mtimeMs: number; size: number }> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw invalidInput('model', `model path '${path}' is not a file`);
    return st;
  } catch (err) {
    if (err instanceof WeightsmithError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`model file '${path}' does not exist`, 'model');
    throw err;
  }
}
