/**
 * The t2w endpoints: the bundles being served, and generation as a job (202, or `?wait=true`
 * 200 with the artifacts). Requests are checked against the bundle and the caps before a job is
 * queued, so bad input is answered at once and nothing is written; samples are serialised in
 * full before the first artifact is stored.
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { jobStartQuery, jobStartResponses, reply, startJob, type Service, type ServiceContext } from '@weightsmith/http';
import type { Artifact } from '@weightsmith/store';
import type { LoadedBundle } from '../bundle/index.js';
import {
  averageExperts,
  checkExpertCount,
  loadArtifactWeights,
  resolveGenerationRequest,
  resolveStrength,
  sampleSafetensors,
  sdeditStart,
  type GenerationLimits,
  type GenerationRequest,
  type GenerationResult,
  type SdeditStartPoint,
  type T2wRuntime,
} from '../generation/index.js';
import {
  bundleListSchema,
  bundleManifestResponseSchema,
  bundleParams,
  bundleSummary,
  enhancementRequestSchema,
  enhancementResultSchema,
  evaluationRequestSchema,
  evaluationResultSchema,
  fusionRequestSchema,
  fusionResultSchema,
  generationRequestSchema,
  generationResultSchema,
  type GenerationBody,
} from './schemas.js';

export const T2W_WEIGHTS_KIND = 't2w-weights';
const GENERATION_JOB = 'generation';
const ENHANCEMENT_JOB = 'enhancement';
const FUSION_JOB = 'fusion';

/** The runtime appears once warm-up is done; until then requests get 503 not_ready. */
export interface RuntimeHolder {
  current(): T2wRuntime;
}

interface GenerationJobInput {
  bundle: string;
  request: GenerationRequest;
}

interface EnhancementJobInput extends GenerationJobInput {
  weights: string;
  strength: number;
}

interface FusionJobInput extends GenerationJobInput {
  experts: string[];
  strength: number;
  align: boolean;
}

/** What an SDEdit run adds to each artifact: metadata strings, manifest parameters and inputs. */
interface SampleProvenance {
  metadata: Record<string, string>;
  parameters: Record<string, unknown>;
  inputs: { id: string; sha256: string; role: string }[];
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
  /** Serialises every sample before storing the first, so a failure leaves nothing behind. */
  async function storeSamples(bundle: LoadedBundle, result: GenerationResult, signal: AbortSignal, extra: SampleProvenance): Promise<Artifact[]> {
    const { resolved } = result;
    const files = await Promise.all(result.samples.map((s, i) => sampleSafetensors(bundle, s, resolved, i, extra.metadata)));
    if (signal.aborted) throw new WeightsmithError(ErrorCode.Cancelled, 'the job was cancelled before its artifacts were stored');
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
          ...extra.parameters,
        },
        inputs: extra.inputs,
        metadata: { bundleVersion: bundle.manifest.version, bundleDigest: bundle.digest },
        tensors: bundle.manifest.target.layout.map((t) => ({ name: t.name, dtype: 'F32', shape: [...t.shape] })),
      });
      artifacts.push(artifact);
    }
    return artifacts;
  }

  async function runSamples(input: GenerationJobInput, job: { signal: AbortSignal; progress: (p: number, message?: string) => void }, startFrom?: SdeditStartPoint) {
    const rt = runtime.current();
    const bundle = rt.bundle(input.bundle, 'body.bundle');
    const result = await rt.generate(input.bundle, input.request, {
      signal: job.signal,
      onStep: (done, total) => job.progress((0.95 * done) / total, `step ${done}/${total}`),
      ...(startFrom ? { startFrom } : {}),
    });
    const { resolved } = result;
    const summary = { bundle: bundle.name, bundleDigest: bundle.digest, condition: resolved.condition, sampler: resolved.sampler, steps: resolved.steps, seed: resolved.seed };
    return { bundle, result, summary };
  }

  const sha = async (id: string): Promise<string> => (await ctx.artifacts.get(id)).sha256;

  ctx.jobs.register<GenerationJobInput, unknown>(GENERATION_JOB, async (input, job) => {
    const { bundle, result, summary } = await runSamples(input, job);
    const artifacts = await storeSamples(bundle, result, job.signal, { metadata: {}, parameters: {}, inputs: [] });
    return { ...summary, artifacts };
  });

  ctx.jobs.register<EnhancementJobInput, unknown>(ENHANCEMENT_JOB, async (input, job) => {
    const bundle = runtime.current().bundle(input.bundle, 'body.bundle');
    const weights = await loadArtifactWeights(ctx.artifacts, input.weights, bundle.manifest.target.layout, 'body.weights');
    const start = sdeditStart(bundle.manifest, weights, input.strength);
    const { result, summary } = await runSamples(input, job, start);
    const artifacts = await storeSamples(bundle, result, job.signal, {
      metadata: { strength: String(input.strength), inputWeights: input.weights },
      parameters: { strength: input.strength, inputWeights: input.weights },
      inputs: [{ id: input.weights, sha256: await sha(input.weights), role: 'weights' }],
    });
    return { ...summary, strength: input.strength, tStart: start.tStart, inputWeights: input.weights, artifacts };
  });

  ctx.jobs.register<FusionJobInput, unknown>(FUSION_JOB, async (input, job) => {
    const bundle = runtime.current().bundle(input.bundle, 'body.bundle');
    const layout = bundle.manifest.target.layout;
    const experts = await Promise.all(input.experts.map((id, i) => loadArtifactWeights(ctx.artifacts, id, layout, `body.experts.${i}`)));
    const { average, aligned } = averageExperts(bundle.manifest, experts, input.align);
    // strength 1 is the paper's fusion: sample from the description alone, the average unused.
    const start = input.strength === 1 ? undefined : sdeditStart(bundle.manifest, average, input.strength);
    const tStart = start?.tStart ?? bundle.manifest.diffusion.timesteps - 1;
    const { result, summary } = await runSamples(input, job, start);
    const inputs = await Promise.all(input.experts.map(async (id) => ({ id, sha256: await sha(id), role: 'expert' })));
    const artifacts = await storeSamples(bundle, result, job.signal, {
      metadata: { strength: String(input.strength), experts: JSON.stringify(input.experts), aligned: String(aligned) },
      parameters: { strength: input.strength, experts: input.experts, align: input.align, aligned },
      inputs,
    });
    return { ...summary, strength: input.strength, tStart, experts: input.experts, aligned, artifacts };
  });

  service.route({
    method: 'get',
    path: '/v1/bundles',
    operationId: 'listBundles',
    summary: 'The bundles this service generates with',
    tags: ['bundles'],
    responses: { 200: { description: 'Loaded bundles, by name', schema: bundleListSchema } },
    handler: async () => {
      const rt = runtime.current();
      return reply(200, { bundles: rt.bundles().map((b) => bundleSummary(b, rt.serving(b.name))) });
    },
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

  /**
   * The bundle and the sampling fields, checked before anything is queued (a bad field is a 4xx
   * at once), and the request as plain JSON (no undefined keys) for the job record.
   */
  const checkedRequest = (body: GenerationBody): { bundle: LoadedBundle; request: GenerationRequest } => {
    const rt = runtime.current();
    const bundle = rt.bundle(body.bundle, 'body.bundle');
    const request = toRequest(body);
    resolveGenerationRequest(bundle.manifest, request, rt.limits);
    return { bundle, request: JSON.parse(JSON.stringify(request)) as GenerationRequest };
  };

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
      const { bundle, request } = checkedRequest(body);
      const input: GenerationJobInput = { bundle: bundle.name, request };
      return startJob(ctx.jobs, GENERATION_JOB, input, { wait: query.wait === true, signal, requestId });
    },
  });

  service.route({
    method: 'post',
    path: '/v1/enhancements',
    operationId: 'createEnhancement',
    summary: 'Enhance weights (job): SDEdit of given weights under a task condition',
    description:
      'Noises the given weights (artifact `weights`) to t = round(strength·T) − 1 with each sample\'s own seeded noise, then denoises under the condition (`classes` or `text`). ' +
      'A strength this small that t < 0 returns the input as it is. Answers 202 with the job, or with `?wait=true` 200 with one artifact per sample (metadata adds `strength` and `inputWeights`; the manifest lists the input).',
    tags: ['enhancements'],
    query: jobStartQuery,
    body: enhancementRequestSchema(limits),
    responses: jobStartResponses(enhancementResultSchema, 'The enhanced artifacts (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      const { bundle, request } = checkedRequest(body);
      resolveStrength(bundle.manifest, body.strength);
      // Read and check the weights now, so a wrong file is a 4xx at once rather than a failed job.
      await loadArtifactWeights(ctx.artifacts, body.weights, bundle.manifest.target.layout, 'body.weights');
      const input: EnhancementJobInput = { bundle: bundle.name, request, weights: body.weights, strength: body.strength };
      return startJob(ctx.jobs, ENHANCEMENT_JOB, input, { wait: query.wait === true, signal, requestId });
    },
  });

  service.route({
    method: 'post',
    path: '/v1/fusions',
    operationId: 'createFusion',
    summary: 'Text-guided fusion of expert weights (job): aligned average, then SDEdit under the union task',
    description:
      'Averages the experts (hidden units aligned to the first expert by Hungarian matching when `align` and the bundle target is an mlp-gelu-cosine-head), then runs SDEdit from the average under the condition. ' +
      '`strength` 1 (the default) samples from the description alone, as the paper fuses: the average is then not used. Answers 202 with the job, or with `?wait=true` 200 with one artifact per sample; manifests list every expert as an input.',
    tags: ['fusions'],
    query: jobStartQuery,
    body: fusionRequestSchema(limits),
    responses: jobStartResponses(fusionResultSchema, 'The fused artifacts (with `?wait=true`)'),
    handler: async ({ body, query, signal, requestId }) => {
      const { bundle, request } = checkedRequest(body);
      checkExpertCount(body.experts.length);
      resolveStrength(bundle.manifest, body.strength);
      for (const [i, id] of body.experts.entries()) await loadArtifactWeights(ctx.artifacts, id, bundle.manifest.target.layout, `body.experts.${i}`);
      const input: FusionJobInput = {
        bundle: bundle.name,
        request,
        experts: [...body.experts],
        strength: body.strength,
        align: body.align,
      };
      return startJob(ctx.jobs, FUSION_JOB, input, { wait: query.wait === true, signal, requestId });
    },
  });

  service.route({
    method: 'post',
    path: '/v1/evaluations',
    operationId: 'createEvaluation',
    summary: "Score a head on the bundle's evaluation data: top-1 accuracy for a task (a set of classes)",
    description:
      'Reads the weights (artifact id of a safetensors file with the bundle layout), runs the cosine head on the evaluation features of the task classes and answers at once with the accuracy, overall and per class. ' +
      'Needs a bundle that ships evaluation data (GET /v1/bundles shows `evaluation`) for an mlp-gelu-cosine-head target.',
    tags: ['evaluations'],
    body: evaluationRequestSchema,
    responses: { 200: { description: 'The accuracy', schema: evaluationResultSchema }, 404: { description: 'No such bundle or artifact' } },
    handler: async ({ body }) => {
      const rt = runtime.current();
      const bundle = rt.bundle(body.bundle, 'body.bundle');
      rt.evaluationOf(bundle.name); // refuse a bundle that cannot score before reading the weights
      const weights = await loadArtifactWeights(ctx.artifacts, body.weights, bundle.manifest.target.layout, 'body.weights');
      const result = await rt.evaluate(bundle.name, weights, body.classes);
      return reply(200, { bundle: bundle.name, bundleDigest: bundle.digest, weights: body.weights, ...result });
    },
  });
}
