import { z } from 'zod';
import { ErrorCode, invalidInput, isWeightsmithError, notFound } from '@weightsmith/core';
import { artifactSchema, jobStartQuery, jobStartResponses, reply, runTaskInWorker, sendArtifact, startJob, type Service, type ServiceContext } from '@weightsmith/http';
import { parseAdapterUpload } from '../adapter/index.js';
import type { AnalysisTaskInput } from '../pipeline/analysis-task.js';
import { ARTIFACT_ID } from '../pipeline/adapter-refs.js';
import type { MergeTaskInput } from '../pipeline/merge-task.js';
import { TASK_WORKER_MODULE } from '../worker/run-task.js';
import { analysisRequestSchema, analysisSchema, mergeRequestSchema, mergeResultSchema } from './schemas.js';

const ADAPTER_KIND = 'peft-adapter';
const idParams = z.object({ id: z.string().regex(ARTIFACT_ID, 'must be 64 lowercase hex characters (an artifact id)') });

/** Artifact-id refs must name stored adapters: checked before a job is queued (404/400 at once). */
async function checkArtifactRefs(ctx: ServiceContext, adapters: { ref: string }[]): Promise<void> {
  for (const [i, { ref }] of adapters.entries()) {
    if (!ARTIFACT_ID.test(ref)) continue;
    const artifact = await ctx.artifacts.get(ref).catch((err: unknown) => {
      if (isWeightsmithError(err, ErrorCode.NotFound)) throw notFound(`adapter artifact ${ref} does not exist`, `adapters.${i}.ref`);
      throw err;
    });
    if (artifact.manifest.kind !== ADAPTER_KIND) {
      throw invalidInput(`adapters.${i}.ref`, `artifact ${ref} is a '${artifact.manifest.kind}', not a '${ADAPTER_KIND}'`);
    }
  }
}

export function registerLoraLegoRoutes(service: Service, ctx: ServiceContext, producer: { service: string; version: string }): void {
  const tags = ['adapters'];
  const worker = { store: ctx.config, intraOpNumThreads: ctx.config.ORT_INTRA_OP_THREADS };

  ctx.jobs.register<MergeTaskInput, unknown>('merge', (input, job) =>
    runTaskInWorker(TASK_WORKER_MODULE, { ...worker, task: 'merge', input }, { progress: (f, m) => job.progress(f, m), signal: job.signal }),
  );
  ctx.jobs.register<AnalysisTaskInput, unknown>('analysis', (input, job) =>
    runTaskInWorker(TASK_WORKER_MODULE, { ...worker, task: 'analysis', input }, { progress: (f, m) => job.progress(f, m), signal: job.signal }),
  );

  service.route({
    method: 'post',
    path: '/v1/adapters',
    operationId: 'uploadAdapter',
    summary: 'Upload a PEFT LoRA adapter',
    description:
      'Body: a tar of `adapter_config.json` and `adapter_model.safetensors` (`Content-Type: application/x-tar`), or `multipart/form-data` with those two files. ' +
      'The adapter is validated (config, LoRA key structure, shapes against r, no NaN/Inf, DoRA refused) and stored as a deterministic tar: the same two files always get the same id.',
    tags,
    bodyContentType: 'application/x-tar',
    responses: {
      201: { description: 'Stored', schema: artifactSchema },
      200: { description: 'The same adapter was already stored', schema: artifactSchema },
    },
    handler: async ({ req }) => {
      const upload = await parseAdapterUpload(req, req.headers['content-type'], { maxBytes: ctx.config.UPLOAD_LIMIT });
      try {
        const { adapter } = upload;
        const stored = await ctx.artifacts.put(
          { path: upload.tarPath },
          {
            kind: ADAPTER_KIND,
            mediaType: 'application/x-tar',
            producer,
            parameters: { upload: true },
            metadata: {
              peftConfig: adapter.config,
              ...(adapter.baseModel === undefined ? {} : { baseModel: adapter.baseModel }),
              modules: adapter.modules.length,
              ranks: [...new Set(adapter.modules.map((m) => m.r))].sort((a, b) => a - b),
            },
            tensors: adapter.modules.flatMap((m) => [
              { name: m.tensors.A, dtype: m.dtype, shape: [m.r, m.dIn] },
              { name: m.tensors.B, dtype: m.dtype, shape: [m.dOut, m.r] },
            ]),
          },
        );
        const { created, ...artifact } = stored;
        return reply(created ? 201 : 200, artifact);
      } finally {
        await upload.cleanup();
      }
    },
  });

  service.route({
    method: 'get',
    path: '/v1/adapters/{id}',
    operationId: 'downloadAdapter',
    summary: 'Download an adapter as a tar (adapter_config.json + adapter_model.safetensors), loadable by PEFT once extracted',
    tags,
    params: idParams,
    responses: { 200: { description: 'The adapter tar', contentType: 'application/x-tar' }, 404: { description: 'No such adapter' } },
    handler: async ({ params, res, signal }) => {
      const artifact = await ctx.artifacts.get(params.id);
      if (artifact.manifest.kind !== ADAPTER_KIND) throw notFound(`artifact ${params.id} is not an adapter`, 'id');
      await sendArtifact(res, ctx.artifacts, artifact, { filename: `adapter-${artifact.id.slice(0, 12)}.tar`, contentType: 'application/x-tar', signal });
      return undefined;
    },
  });

  service.route({
    method: 'post',
    path: '/v1/merges',
    operationId: 'createMerge',
    summary: 'Merge adapters (job): LoRA-LEGO rank-wise clustering or a baseline',
    description: 'Answers 202 with the job (poll `Location`), or with `?wait=true` 200 with the merged adapter artifact and the report.',
    tags: ['merges'],
    query: jobStartQuery,
    body: mergeRequestSchema,
    responses: jobStartResponses(mergeResultSchema, 'The merged adapter and its report (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      await checkArtifactRefs(ctx, body.adapters);
      const { adapters, method, k, seed, dtype, options } = body;
      const input: MergeTaskInput = {
        adapters: adapters.map((a) => ({ ref: a.ref, weight: a.weight })),
        options: { ...options, method, seed, dtype, ...(k === undefined ? {} : { k }) },
        producer,
      };
      return startJob(ctx.jobs, 'merge', input, { wait: query.wait === true, signal, requestId });
    },
  });

  service.route({
    method: 'post',
    path: '/v1/analyses',
    operationId: 'createAnalysis',
    summary: 'Per-module statistics of adapters (job): norms, alignment, energy kept at candidate ranks',
    tags: ['merges'],
    query: jobStartQuery,
    body: analysisRequestSchema,
    responses: jobStartResponses(analysisSchema, 'The analysis (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      await checkArtifactRefs(ctx, body.adapters);
      const input: AnalysisTaskInput = { adapters: body.adapters.map((a) => ({ ref: a.ref, weight: a.weight })), ...(body.ks ? { ks: body.ks } : {}) };
      return startJob(ctx.jobs, 'analysis', input, { wait: query.wait === true, signal, requestId });
    },
  });
}
