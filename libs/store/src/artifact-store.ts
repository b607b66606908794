import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { WeightsmithError, ErrorCode, invalidInput, isWeightsmithError } from '@weightsmith/core';
import { decodePageToken, encodePageToken, MAX_LIST_LIMIT } from './key.js';
import { mapFsError } from './fs-store.js';
import type { GetOptions, ObjectStore } from './object-store.js';

/** Artifact ids are the lowercase hex sha256 of the data bytes. */
export const artifactIdSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters (a sha256)');

export const artifactInputSchema = z.object({
  /** Id of an input artifact in this store. */
  id: artifactIdSchema.optional(),
  /** Where an input came from when it is not an artifact here (s3://…, https://…, hf://…). */
  uri: z.string().min(1).max(2048).optional(),
  sha256: artifactIdSchema.optional(),
  /** What the input was used as, e.g. 'expert', 'adapter', 'base'. */
  role: z.string().min(1).max(128).optional(),
});

export const tensorEntrySchema = z.object({
  name: z.string().min(1),
  dtype: z.string().min(1),
  shape: z.array(z.number().int().nonnegative()),
});

export const artifactManifestSchema = z.object({
  id: artifactIdSchema,
  sha256: artifactIdSchema,
  bytes: z.number().int().nonnegative(),
  /** What the bytes are: 'safetensors', 'peft-adapter', 't2w-weights', … */
  kind: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._+-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, ".", "_", "+", "-"'),
  mediaType: z.string().min(1).max(255),
  producer: z.object({ service: z.string().min(1).max(128), version: z.string().min(1).max(128) }),
  parameters: z.record(z.string(), z.unknown()),
  inputs: z.array(artifactInputSchema),
  tensors: z.array(tensorEntrySchema).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  /** ISO 8601 time the artifact was first stored. */
  created: z.iso.datetime(),
});
export type ArtifactManifest = z.infer<typeof artifactManifestSchema>;

/** What a producer supplies; id, sha256, bytes and created are filled in by `put`. */
export const artifactManifestFieldsSchema = artifactManifestSchema
  .omit({ id: true, sha256: true, bytes: true, created: true })
  .extend({
    mediaType: artifactManifestSchema.shape.mediaType.default('application/octet-stream'),
    parameters: artifactManifestSchema.shape.parameters.default({}),
    inputs: artifactManifestSchema.shape.inputs.default([]),
  });
export type ArtifactManifestFields = z.input<typeof artifactManifestFieldsSchema>;

export interface Artifact {
  id: string;
  sha256: string;
  bytes: number;
  /** Where the data lives: `s3://bucket/…/data` or `file:///…/data`. */
  uri: string;
  manifest: ArtifactManifest;
}

export interface ArtifactPutResult extends Artifact {
  /** False when the same bytes were already stored: the artifact (and manifest) are the existing ones. */
  created: boolean;
}

export type ArtifactBody = Uint8Array | Readable | { path: string };

export interface ArtifactListOptions {
  kind?: string;
  /** Page size, 1-1000 (default 100). */
  limit?: number;
  token?: string;
}

export interface ArtifactListPage {
  /** In id order. */
  items: Artifact[];
  nextToken?: string;
}

export interface ArtifactStoreOptions {
  /** Local folder for spooling streamed bodies while they are hashed (default: the OS temp folder). */
  tempDir?: string;
  /** Largest accepted artifact in bytes (default: no limit). */
  maxBytes?: number;
}

const ROOT = 'artifacts/';
const MANIFEST_FILE = 'manifest.json';
const DATA_FILE = 'data';
const MAX_MANIFEST_BYTES = 1024 * 1024;
const DEFAULT_ARTIFACT_PAGE = 100;
/** Manifests read in parallel while listing. */
const LIST_READ_CONCURRENCY = 8;
const MANIFEST_KEY = /^artifacts\/([0-9a-f]{2})\/([0-9a-f]{64})\/manifest\.json$/;

export function validateArtifactId(id: unknown, field = 'id'): string {
  const parsed = artifactIdSchema.safeParse(id);
  if (!parsed.success) throw invalidInput(field, `${field} must be 64 lowercase hex characters (a sha256), got '${String(id)}'`);
  return parsed.data;
}

export function artifactDataKey(id: string): string {
  return `${ROOT}${id.slice(0, 2)}/${id}/${DATA_FILE}`;
}

export function artifactManifestKey(id: string): string {
  return `${ROOT}${id.slice(0, 2)}/${id}/${MANIFEST_FILE}`;
}

function artifactNotFound(id: string): WeightsmithError {
  return new WeightsmithError(ErrorCode.NotFound, `artifact ${id} not found`, { field: 'id' });
}

/** Bytes ready to upload, hashed; `open()` can be called more than once (a retry re-reads). */
interface PreparedData {
  id: string;
  bytes: number;
  open(): Uint8Array | Readable;
  cleanup(): Promise<void>;
}

/**
 * Content-addressed weights on top of any ObjectStore.
 *
 * Layout: `artifacts/<id[0:2]>/<id>/data` and `…/manifest.json`. The manifest is the commit
 * marker: it is written (exclusively) only after the data is stored, and an id without a manifest
 * does not exist for get/open/list. So a failed or interrupted put leaves nothing visible, and a
 * leftover data object is simply reused or replaced by the next put of the same bytes.
 *
 * Idempotent: the same bytes give the same id and one stored copy; a later put of the same bytes
 * returns the first artifact and its manifest (with `created: false`), even if its manifest
 * fields differ. Concurrent puts of the same bytes store one copy and all return the same
 * artifact: the data and the manifest are both written with `ifNoneMatch`.
 *
 * Not guarded: a delete racing a put of the same bytes can leave a manifest whose data is gone
 * (the put found the data just before the delete removed it); open() then answers not_found.
 */
export class ArtifactStore {
  private readonly tempDir: string;
  private readonly maxBytes: number;

  constructor(
    readonly store: ObjectStore,
    options: ArtifactStoreOptions = {},
  ) {
    this.tempDir = options.tempDir ?? tmpdir();
    this.maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
  }

  uri(id: string): string {
    return this.store.uri(artifactDataKey(validateArtifactId(id)));
  }

  async put(body: ArtifactBody, fields: ArtifactManifestFields): Promise<ArtifactPutResult> {
    const parsedFields = parseManifestFields(fields);
    const data = await this.prepare(body);
    try {
      const existing = await this.find(data.id);
      if (existing) return { ...existing, created: false };

      const dataKey = artifactDataKey(data.id);
      const stored = await this.store.put(dataKey, data.open(), {
        size: data.bytes,
        ifNoneMatch: true,
        contentType: parsedFields.mediaType,
      });
      if (!stored.created && stored.size !== data.bytes) {
        // Not our bytes (no put of this id can leave a different size): replace them.
        await this.store.put(dataKey, data.open(), { size: data.bytes, contentType: parsedFields.mediaType });
      }

      const manifest: ArtifactManifest = {
        id: data.id,
        sha256: data.id,
        bytes: data.bytes,
        ...parsedFields,
        created: new Date().toISOString(),
      };
      const committed = await this.store.put(artifactManifestKey(data.id), encodeManifest(manifest), {
        ifNoneMatch: true,
        contentType: 'application/json',
      });
      if (!committed.created) return { ...(await this.get(data.id)), created: false };
      return { ...this.toArtifact(manifest), created: true };
    } finally {
      await data.cleanup();
    }
  }

  async get(id: string): Promise<Artifact> {
    validateArtifactId(id);
    const found = await this.find(id);
    if (!found) throw artifactNotFound(id);
    return found;
  }

  /** The data bytes (or a range of them) as a stream. */
  async open(id: string, range?: GetOptions): Promise<Readable> {
    validateArtifactId(id);
    // Data without a manifest is an incomplete put and must stay invisible.
    if (!(await this.store.exists(artifactManifestKey(id)))) throw artifactNotFound(id);
    try {
      return await this.store.get(artifactDataKey(id), range);
    } catch (err) {
      if (isWeightsmithError(err, ErrorCode.NotFound)) throw artifactNotFound(id);
      throw err;
    }
  }

  /**
   * Artifacts in id order, optionally of one kind. A page reads each listed manifest; a manifest
   * that cannot be parsed is skipped here (get() on its id reports it).
   */
  async list(options: ArtifactListOptions = {}): Promise<ArtifactListPage> {
    const limit = options.limit ?? DEFAULT_ARTIFACT_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) {
      throw invalidInput('limit', `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
    }
    if (options.kind !== undefined && !artifactManifestSchema.shape.kind.safeParse(options.kind).success) {
      throw invalidInput('kind', `kind '${String(options.kind)}' is not a valid artifact kind`);
    }
    let cursor = decodeArtifactToken(options.token);
    const items: Artifact[] = [];
    for (;;) {
      const page = await this.store.list({ prefix: ROOT, limit: MAX_LIST_LIMIT, ...(cursor === undefined ? {} : { startAfter: cursor }) });
      const ids = page.items.map((item) => MANIFEST_KEY.exec(item.key)?.[2]).filter((id): id is string => id !== undefined);
      for (let i = 0; i < ids.length; i += LIST_READ_CONCURRENCY) {
        const batch = ids.slice(i, i + LIST_READ_CONCURRENCY);
        const found = await Promise.all(batch.map((id) => this.find(id).catch(skipUnreadable)));
        for (const artifact of found) {
          if (artifact === undefined) continue;
          if (options.kind !== undefined && artifact.manifest.kind !== options.kind) continue;
          if (items.length === limit) {
            const last = items[items.length - 1] as Artifact;
            return { items, nextToken: encodePageToken(artifactManifestKey(last.id)) };
          }
          items.push(artifact);
        }
      }
      const lastKey = page.items[page.items.length - 1]?.key;
      if (page.nextToken === undefined || lastKey === undefined) return { items };
      cursor = lastKey;
    }
  }

  /** Deletes the manifest first (the artifact disappears at once), then the data. */
  async delete(id: string): Promise<void> {
    validateArtifactId(id);
    const manifestKey = artifactManifestKey(id);
    const dataKey = artifactDataKey(id);
    const hadManifest = await this.store.exists(manifestKey);
    if (hadManifest) await this.store.delete(manifestKey);
    const hadData = await this.store.exists(dataKey);
    if (hadData) await this.store.delete(dataKey);
    if (!hadManifest) throw artifactNotFound(id);
  }

  // --- internals -----------------------------------------------------------------------------

  private toArtifact(manifest: ArtifactManifest): Artifact {
    return { id: manifest.id, sha256: manifest.sha256, bytes: manifest.bytes, uri: this.uri(manifest.id), manifest };
  }

  /** The committed artifact with this id, or undefined when there is no manifest. */
  private async find(id: string): Promise<Artifact | undefined> {
    let raw: Uint8Array;
    try {
      raw = await this.store.getBytes(artifactManifestKey(id));
    } catch (err) {
      if (isWeightsmithError(err, ErrorCode.NotFound)) return undefined;
      throw err;
    }
    return this.toArtifact(decodeManifest(id, raw));
  }

  private async prepare(body: ArtifactBody): Promise<PreparedData> {
    if (body instanceof Uint8Array) {
      this.checkSize(body.byteLength);
      const id = createHash('sha256').update(body).digest('hex');
      return { id, bytes: body.byteLength, open: () => body, cleanup: async () => undefined };
    }
    if (body instanceof Readable) return this.spool(body);
    if (typeof body === 'object' && body !== null && typeof (body as { path?: unknown }).path === 'string') {
      return this.hashFile(body.path);
    }
    throw invalidInput('body', 'body must be a Uint8Array, a Readable stream or {path}');
  }

  /** Hashes a local file in place; it is read a second time for the upload and must not change. */
  private async hashFile(path: string): Promise<PreparedData> {
    let bytes: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw invalidInput('body.path', `${path} is not a file`);
      bytes = info.size;
    } catch (err) {
      if (err instanceof WeightsmithError) throw err;
      throw new WeightsmithError(ErrorCode.InvalidInput, `cannot read ${path}: ${(err as Error).message}`, { field: 'body.path', cause: err });
    }
    this.checkSize(bytes);
    const hash = createHash('sha256');
    await pipeline(createReadStream(path), hash);
    return { id: hash.digest('hex'), bytes, open: () => createReadStream(path), cleanup: async () => undefined };
  }

  /** Streams the body to a temp file while hashing: the id is known before anything is uploaded. */
  private async spool(body: Readable): Promise<PreparedData> {
    const path = join(this.tempDir, `weightsmith-artifact-${randomUUID()}`);
    const hash = createHash('sha256');
    let bytes = 0;
    const maxBytes = this.maxBytes;
    let sourceError: unknown;
    body.once('error', (err) => (sourceError = err));
    const tap = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
        bytes += chunk.length;
        if (bytes > maxBytes) {
          callback(new WeightsmithError(ErrorCode.TooLarge, `artifact is larger than the ${maxBytes}-byte limit`, { field: 'body' }));
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(body, tap, createWriteStream(path, { flags: 'wx' }));
    } catch (err) {
      await rm(path, { force: true });
      if (err instanceof WeightsmithError) throw err;
      if (sourceError !== undefined) {
        throw new WeightsmithError(ErrorCode.InvalidInput, `reading the body failed: ${(sourceError as Error).message ?? String(sourceError)}`, {
          field: 'body',
          cause: sourceError,
        });
      }
      throw mapFsError(err, `spooling the artifact to ${this.tempDir}`);
    }
    return {
      id: hash.digest('hex'),
      bytes,
      open: () => createReadStream(path),
      cleanup: () => rm(path, { force: true }),
    };
  }

  private checkSize(bytes: number): void {
    if (bytes > this.maxBytes) {
      throw new WeightsmithError(ErrorCode.TooLarge, `artifact of ${bytes} bytes is larger than the ${this.maxBytes}-byte limit`, { field: 'body' });
    }
  }
}

function parseManifestFields(fields: ArtifactManifestFields): z.output<typeof artifactManifestFieldsSchema> {
  const parsed = artifactManifestFieldsSchema.safeParse(fields);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({
      field: ['manifest', ...issue.path.map(String)].join('.'),
      message: issue.message,
    }));
    const first = issues[0] ?? { field: 'manifest', message: 'invalid manifest' };
    throw new WeightsmithError(
      ErrorCode.InvalidInput,
      `invalid artifact manifest: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      { field: first.field, issues },
    );
  }
  // Serialise once now, so unserialisable or oversized fields fail before any bytes are stored.
  encodeManifest(parsed.data);
  return parsed.data;
}

function encodeManifest(manifest: ArtifactManifest | z.output<typeof artifactManifestFieldsSchema>): Uint8Array {
  let json: string;
  try {
    json = JSON.stringify(manifest, null, 2);
  } catch (err) {
    throw invalidInput('manifest', `manifest is not JSON-serialisable: ${(err as Error).message}`);
  }
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new WeightsmithError(ErrorCode.TooLarge, `manifest is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`, { field: 'manifest' });
  }
  return bytes;
}

function decodeManifest(id: string, raw: Uint8Array): ArtifactManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8'));
  } catch (err) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `manifest of artifact ${id} is not JSON`, { field: 'manifest', cause: err });
  }
  const parsed = artifactManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new WeightsmithError(
      ErrorCode.InvalidFormat,
      `manifest of artifact ${id} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      { field: 'manifest' },
    );
  }
  if (parsed.data.id !== id || parsed.data.sha256 !== id) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `manifest stored under ${id} describes ${parsed.data.id}`, { field: 'manifest' });
  }
  return parsed.data;
}

function decodeArtifactToken(token: string | undefined): string | undefined {
  let key: string | undefined;
  try {
    key = decodePageToken(token);
  } catch {
    key = '';
  }
  if (key !== undefined && !MANIFEST_KEY.test(key)) throw invalidInput('token', 'token is not a page token returned by list()');
  return key;
}

function skipUnreadable(err: unknown): undefined {
  if (isWeightsmithError(err, ErrorCode.InvalidFormat)) return undefined;
  throw err;
}
