import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { ErrorCode, WeightsmithError, byteLimit, isWeightsmithError } from '@weightsmith/core';
import { artifactManifestSchema, type Artifact, type ArtifactStore } from '@weightsmith/store';
import { openSafetensorsFile } from '@weightsmith/safetensors';
import { reply, type HttpResponse } from './route.js';
import type { Service } from './service.js';

/** The artifact resource every weight-producing call answers with. */
export const artifactSchema = z
  .object({
    id: z.string().meta({ description: 'sha256 of the bytes (content address)' }),
    sha256: z.string(),
    bytes: z.number().int().nonnegative(),
    uri: z.string().meta({ description: '`s3://bucket/key` or `file://` location of the bytes' }),
    manifest: artifactManifestSchema,
  })
  .meta({ id: 'Artifact' });

const idParams = z.object({ id: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters (a sha256)') });

const uploadQuery = z.object({
  kind: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._+-]{0,63}$/)
    .default('safetensors')
    .meta({ description: "What the bytes are; 'safetensors' uploads are validated and indexed" }),
});

export interface ArtifactRoutesOptions {
  /** Producer recorded in manifests of uploads. */
  service: string;
  version: string;
  /** Largest upload, in bytes. */
  uploadLimit: number;
}

/**
 * GET/DELETE /v1/artifacts/{id}, GET /v1/artifacts/{id}/manifest, GET /v1/artifacts, and
 * POST /v1/artifacts (raw upload). Every service mounts these, so any artifact id one service
 * returns can be fetched from any service on the same store.
 */
export function registerArtifactRoutes(service: Service, artifacts: ArtifactStore, options: ArtifactRoutesOptions): void {
  const tags = ['artifacts'];
  service.route({
    method: 'get',
    path: '/v1/artifacts',
    operationId: 'listArtifacts',
    summary: 'Artifacts in id order, one page at a time',
    tags,
    query: z.object({
      kind: z.string().max(64).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      token: z.string().max(2048).optional(),
    }),
    responses: {
      200: {
        description: 'A page of artifacts',
        schema: z.object({ items: z.array(artifactSchema), nextToken: z.string().optional() }).meta({ id: 'ArtifactPage' }),
      },
    },
    handler: ({ query }) => artifacts.list(query),
  });
  service.route({
    method: 'get',
    path: '/v1/artifacts/{id}/manifest',
    operationId: 'getArtifactManifest',
    summary: 'The artifact resource (manifest, size, location) without its bytes',
    tags,
    params: idParams,
    responses: { 200: { description: 'The artifact', schema: artifactSchema }, 404: { description: 'No such artifact' } },
    handler: ({ params }) => artifacts.get(params.id),
  });
  service.route({
    method: 'get',
    path: '/v1/artifacts/{id}',
    operationId: 'getArtifact',
    summary: "Download an artifact's bytes",
    tags,
    params: idParams,
    responses: {
      200: { description: 'The bytes', contentType: 'application/octet-stream' },
      404: { description: 'No such artifact' },
    },
    handler: async ({ params, res, req, signal }) => {
      const artifact = await artifacts.get(params.id);
      const etag = `"${artifact.sha256}"`;
      if (req.headers['if-none-match'] === etag) return reply(304);
      const ext = artifact.manifest.kind === 'safetensors' ? '.safetensors' : '';
      await sendArtifact(res, artifacts, artifact, { filename: `${artifact.id}${ext}`, signal });
      return undefined;
    },
  });
  service.route({
    method: 'delete',
    path: '/v1/artifacts/{id}',
    operationId: 'deleteArtifact',
    summary: 'Delete an artifact (its manifest first, so it disappears atomically)',
    tags,
    params: idParams,
    responses: { 204: { description: 'Deleted' }, 404: { description: 'No such artifact' } },
    handler: async ({ params }) => {
      await artifacts.get(params.id);
      await artifacts.delete(params.id);
      return reply(204);
    },
  });
  service.route({
    method: 'post',
    path: '/v1/artifacts',
    operationId: 'uploadArtifact',
    summary: 'Upload bytes as an artifact (safetensors files are validated and their tensors indexed)',
    tags,
    query: uploadQuery,
    bodyContentType: 'application/octet-stream',
    responses: {
      201: { description: 'Stored', schema: artifactSchema },
      200: { description: 'The same bytes were already stored', schema: artifactSchema },
    },
    handler: async ({ query, req, signal }) => {
      const dir = await mkdtemp(join(tmpdir(), 'weightsmith-upload-'));
      try {
        const path = join(dir, 'body');
        await pipeline(req, byteLimit(options.uploadLimit, 'the upload'), createWriteStream(path), { signal });
        if ((await stat(path)).size === 0) throw new WeightsmithError(ErrorCode.InvalidInput, 'the upload is empty', { field: 'body' });
        const index = query.kind === 'safetensors' ? await indexSafetensors(path) : {};
        const stored = await artifacts.put(
          { path },
          {
            kind: query.kind,
            mediaType: 'application/octet-stream',
            producer: { service: options.service, version: options.version },
            parameters: { upload: true },
            ...index,
          },
        );
        const { created, ...artifact } = stored;
        return reply(created ? 201 : 200, artifact);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  });
}

/**
 * Streams an artifact's bytes as the response: its media type (or `contentType`), exact length,
 * the sha256 as ETag (immutable: the id is the content), and a download file name.
 */
export async function sendArtifact(
  res: HttpResponse,
  artifacts: ArtifactStore,
  artifact: Artifact,
  options: { filename: string; contentType?: string; signal?: AbortSignal },
): Promise<void> {
  const body = await artifacts.open(artifact.id);
  res.status(200).set({
    'Content-Type': options.contentType ?? artifact.manifest.mediaType,
    'Content-Length': String(artifact.bytes),
    ETag: `"${artifact.sha256}"`,
    'Cache-Control': 'public, max-age=31536000, immutable',
    'Content-Disposition': `attachment; filename="${options.filename}"`,
    'X-Artifact-Kind': artifact.manifest.kind,
  });
  await pipeline(body, res, options.signal ? { signal: options.signal } : {}).catch((err: unknown) => {
    // Headers are gone; all we can do is cut the connection so the client sees a short body.
    if (!res.writableEnded) res.destroy(err instanceof Error ? err : undefined);
  });
}

/** Validates a safetensors file (header first) and returns its tensor index and metadata. */
async function indexSafetensors(path: string): Promise<{ tensors: { name: string; dtype: string; shape: number[] }[]; metadata: Record<string, unknown> }> {
  try {
    const file = await openSafetensorsFile(path);
    try {
      return {
        tensors: file.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape] })),
        metadata: { ...file.metadata },
      };
    } finally {
      await file.close();
    }
  } catch (err) {
    if (isWeightsmithError(err)) {
      // Whatever rule the file breaks (a header length over the cap included), the upload itself
      // is simply not a usable safetensors file: 422, not 413.
      throw new WeightsmithError(ErrorCode.InvalidFormat, `body is not a valid safetensors file: ${err.message}`, { field: 'body', cause: err });
    }
    throw err;
  }
}
