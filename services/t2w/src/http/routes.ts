/**
 * The t2w endpoints: the bundles being served, and generation as a job (202, or `?wait=true`
 * 200 with the artifacts). Requests are checked against the bundle and the caps before a job is
 * queued, so bad input is answered at once and nothing is written; samples are serialised in
 * full before the first artifact is stored.
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { jobStartQuery, jobStartResponses, reply, startJob, type Service, type ServiceContext } from '@weightsmith/http';
import type { Artifact } from '@weightsmith/store';
import { resolveGenerationRequest, sampleSafetensors, type GenerationLimits, type GenerationRequest, type T2wRuntime } from '../generation/index.js';
import { bundleListSchema, bundleManifestResponseSchema, bundleParams, bundleSummary, generationRequestSchema, generationResultSchema, type GenerationBody } from './schemas.js';

export const T2W_WEIGHTS_KIND = 't2w-weights';
const GENERATION_JOB = 'generation';

/** The runtime appears once warm-up is done; until then requests get 503 not_ready. */
export interface RuntimeHolder {
  current(): T2wRuntime;
}

interface GenerationJobInput {
  bundle: string;
  request: GenerationRequest;
}

const toRequest = (b: GenerationBody): GenerationRequest => ({
  classes: b.classes,
  text: b.text,
  n: b.n,
  seed: b.seed,
  sampler: b.sampler,
  steps: b.steps,
  eta: b.eta,
  guidance: b.guidance,
});

export function registerT2wRoutes(
  service: Service,
  ctx: ServiceContext,
  runtime: RuntimeHolder,
  limits: GenerationLimits,
  producer: { service: string; version: string },
): void {
  ctx.jobs.register<GenerationJobInput, unknown>(GENERATION_JOB, async (input, job) => {
    const rt = runtime.current();
    const bundle = rt.bundle(input.bundle, 'body.bundle');
    const result = await rt.generate(input.bundle, input.request, {
      signal: job.signal,
      onStep: (done, total) => job.progress((0.95 * done) / total, `step ${done}/${total}`),
    });
    const { resolved } = result;
    const files = await Promise.all(result.samples.map((s, i) => sampleSafetensors(bundle, s, resolved, i)));
    if (job.signal.aborted) throw new WeightsmithError(ErrorCode.Cancelled, 'generation was cancelled before its artifacts were stored');
    const artifacts: Artifact[] = [];
    for (const [i, bytes] of files.entries()) {
      const { created: _created, ...artifact } = await ctx.artifacts.put(bytes, {
        kind: T2W_WEIGHTS_KIND,
        mediaType: 'application/octet-stream',
        producer,
        parameters: {
          bundle: bundle.name,
          ...(resolved.condition.kind === 'classes' ? { classes: resolved.condition.classes } : { text: resolved.condition.text }),
          seed: resolved.seed,
          sampleIndex: i,
          sampler: resolved.sampler,
          steps: resolved.steps,
          ...(resolved.eta !== undefined ? { eta: resolved.eta } : {}),
          ...(resolved.guidance !== undefined ? { guidance: resolved.guidance } : {}),
        },
        metadata: { bundleVersion: bundle.manifest.version, bundleDigest: bundle.digest },
        tensors: bundle.manifest.target.layout.map((t) => ({ name: t.name, dtype: 'F32', shape: [...t.shape] })),
      });
      artifacts.push(artifact);
    }
    return { bundle: bundle.name, bundleDigest: bundle.digest, condition: resolved.condition, sampler: resolved.sampler, steps: resolved.steps, seed: resolved.seed, artifacts };
  });

  service.route({
    method: 'get',
    path: '/v1/bundles',
    operationId: 'listBundles',
    summary: 'The bundles this service generates with',
    tags: ['bundles'],
    responses: { 200: { description: 'Loaded bundles, by name', schema: bundleListSchema } },
    handler: async () => reply(200, { bundles: runtime.current().bundles().map(bundleSummary) }),
  });

  service.route({
    method: 'get',
    path: '/v1/bundles/{name}',
    operationId: 'getBundle',
    summary: "A bundle's manifest (bundle.json) and digest",
    tags: ['bundles'],
    params: bundleParams,
    responses: { 200: { description: 'The bundle', schema: bundleManifestResponseSchema }, 404: { description: 'No such bundle' } },
    handler: async ({ params }) => {
      const b = runtime.current().bundle(params.name, 'params.name');
      return reply(200, { name: b.name, digest: b.digest, manifest: b.manifest });
    },
  });

  service.route({
    method: 'post',
    path: '/v1/generations',
    operationId: 'createGeneration',
    summary: 'Generate weights for a task (job): classes or a description → safetensors artifacts',
    description:
      'Answers 202 with the job (poll `Location`), or with `?wait=true` 200 with one artifact per sample. ' +
      'Each artifact is a safetensors file with the bundle layout\'s tensor names (F32) and `__metadata__` recording bundle digest, prompt, seed, sample index and sampler. ' +
      'The same bundle, condition, seed and sampler settings give the same bytes, so the same artifact ids.',
    tags: ['generations'],
    query: jobStartQuery,
    body: generationRequestSchema(limits),
    responses: jobStartResponses(generationResultSchema, 'The generated artifacts (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      const rt = runtime.current();
      const bundle = rt.bundle(body.bundle, 'body.bundle');
      const request = toRequest(body);
      resolveGenerationRequest(bundle.manifest, request, rt.limits);
      const input: GenerationJobInput = { bundle: bundle.name, request: JSON.parse(JSON.stringify(request)) as GenerationRequest };
      return startJob(ctx.jobs, GENERATION_JOB, input, { wait: query.wait === true, signal, requestId });
    },
  });
}
