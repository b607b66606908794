import { z } from 'zod';
import { artifactSchema } from '@weightsmith/http';
import { artifactIdSchema } from '@weightsmith/store';
import type { LoadedBundle } from '../bundle/index.js';
import type { BundleServing } from '../generation/index.js';
import { MAX_EXPERTS, MIN_EXPERTS, SAMPLERS, type GenerationLimits } from '../generation/index.js';

const bundleName = z.string().min(1).max(64).meta({ description: 'A loaded bundle (GET /v1/bundles)' });

function generationFields(limits: GenerationLimits) {
  return {
    bundle: bundleName,
    classes: z
      .array(z.string().min(1).max(limits.maxTextChars))
      .min(1)
      .max(1024)
      .optional()
      .meta({ description: "The task's class names (distinct); each becomes the bundle's prompt template, pooled by prior attention. Give this or `text`." }),
    text: z.string().min(1).max(limits.maxTextChars).optional().meta({ description: 'A free-form task description, embedded as it is. Give this or `classes`.' }),
    n: z.number().int().min(1).max(limits.maxN).default(1).meta({ description: 'Samples to generate; each is its own artifact' }),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
    sampler: z.enum(SAMPLERS as ['ddim', 'ddpm']).default('ddim').meta({ description: "'ddim' (default 50 steps) or 'ddpm' (ancestral, all T steps, as the paper)" }),
    steps: z.number().int().min(1).optional().meta({ description: "DDIM steps, 1..T (default min(50, T)); 'ddpm' always runs T" }),
    eta: z.number().min(0).optional().meta({ description: 'DDIM η (default 0 = deterministic DDIM)' }),
    guidance: z.number().optional().meta({ description: 'Classifier-free guidance scale; only for bundles trained with condition dropout' }),
  };
}

/** Caps come from the service configuration, so the schema (and the OpenAPI document) states them. */
export function generationRequestSchema(limits: GenerationLimits) {
  return z.object(generationFields(limits)).strict().meta({ id: 'GenerationRequest' });
}
export type GenerationBody = z.output<ReturnType<typeof generationRequestSchema>>;

const weightsRef = artifactIdSchema.meta({ description: 'Artifact id of a safetensors file holding every tensor of the bundle layout (exact shapes; F32, F16 or BF16; finite). Other tensors are ignored.' });
const strengthDoc =
  'Fraction of the diffusion chain re-run, in (0, 1]: the weights are noised to t = round(strength·T) − 1, then denoised under the condition. Near 0 keeps the input; 1 starts from (almost) pure noise.';

export function enhancementRequestSchema(limits: GenerationLimits) {
  return z
    .object({
      ...generationFields(limits),
      weights: weightsRef,
      strength: z.number().gt(0).max(1).meta({ description: strengthDoc }),
    })
    .strict()
    .meta({ id: 'EnhancementRequest' });
}
export type EnhancementBody = z.output<ReturnType<typeof enhancementRequestSchema>>;

export function fusionRequestSchema(limits: GenerationLimits) {
  return z
    .object({
      ...generationFields(limits),
      experts: z.array(weightsRef).min(MIN_EXPERTS).max(MAX_EXPERTS).meta({ description: `The expert weights to fuse (${MIN_EXPERTS}..${MAX_EXPERTS} artifact ids); the first is the alignment reference` }),
      strength: z
        .number()
        .gt(0)
        .max(1)
        .default(1)
        .meta({ description: `${strengthDoc} The start is the experts' average; the default 1 samples from the description alone (the paper's fusion: the average is not used).` }),
      align: z.boolean().default(true).meta({ description: "Align the experts' hidden units to the first expert (Hungarian matching) before averaging; applies to mlp-gelu-cosine-head bundles, others always average plainly" }),
    })
    .strict()
    .meta({ id: 'FusionRequest' });
}
export type FusionBody = z.output<ReturnType<typeof fusionRequestSchema>>;

export const generationResultSchema = z
  .object({
    bundle: z.string(),
    bundleDigest: z.string(),
    condition: z.union([z.object({ kind: z.literal('classes'), classes: z.array(z.string()) }), z.object({ kind: z.literal('text'), text: z.string() })]),
    sampler: z.enum(SAMPLERS as ['ddim', 'ddpm']),
    steps: z.number().int(),
    seed: z.number().int(),
    artifacts: z.array(artifactSchema).meta({ description: 'One safetensors file per sample, in sample order' }),
  })
  .meta({ id: 'GenerationResult' });

export const enhancementResultSchema = generationResultSchema
  .extend({ strength: z.number(), tStart: z.number().int().meta({ description: 'Timestep the input was noised to (−1: returned unchanged)' }), inputWeights: z.string() })
  .meta({ id: 'EnhancementResult' });

export const fusionResultSchema = generationResultSchema
  .extend({
    strength: z.number(),
    tStart: z.number().int().meta({ description: 'Timestep the average was noised to (−1: the average itself); strength 1 samples from the description alone' }),
    experts: z.array(z.string()),
    aligned: z.boolean().meta({ description: 'Whether hidden units were aligned before averaging' }),
  })
  .meta({ id: 'FusionResult' });

export const evaluationRequestSchema = z
  .object({
    bundle: bundleName,
    weights: weightsRef,
    classes: z
      .array(z.string().min(1).max(512))
      .min(2)
      .max(1024)
      .optional()
      .meta({ description: "The task: classes of the bundle's evaluation data (distinct, at least 2). Only their samples are scored, and the head chooses among them. Default: every evaluation class." }),
  })
  .strict()
  .meta({ id: 'EvaluationRequest' });

export const evaluationResultSchema = z
  .object({
    bundle: z.string(),
    bundleDigest: z.string(),
    weights: z.string(),
    classes: z.array(z.string()),
    samples: z.number().int(),
    correct: z.number().int(),
    accuracy: z.number().meta({ description: 'Top-1 accuracy over the task samples: argmax over classes of τ·cos(head(features), text embedding of the class prompt)' }),
    perClass: z.array(z.object({ class: z.string(), samples: z.number().int(), correct: z.number().int(), accuracy: z.number().nullable() })),
  })
  .meta({ id: 'EvaluationResult' });

export const bundleSummarySchema = z
  .object({
    name: z.string(),
    version: z.string(),
    description: z.string(),
    digest: z.string().meta({ description: 'sha256 over bundle.json and the denoiser; recorded in every generated file' }),
    classes: z.array(z.string()),
    requireKnownClasses: z.boolean(),
    layout: z.object({
      tensors: z.array(z.object({ name: z.string(), shape: z.array(z.number().int()) })),
      parameterCount: z.number().int(),
      architecture: z.string(),
    }),
    diffusion: z.object({ timesteps: z.number().int(), prediction: z.string(), guidance: z.boolean() }),
    evaluation: z.object({ classes: z.array(z.string()) }).nullable().meta({ description: 'The evaluation data POST /v1/evaluations scores on, when the bundle ships some' }),
    serving: z
      .object({
        batchInvariance: z.enum(['any', 'two-or-more-rows', 'none']).meta({
          description:
            "Checked at load: a denoiser row's output bits do not depend on the other rows of its call — for any batch, from two rows on (a lone row then runs padded to two), or not at all",
        }),
        dynamicBatching: z.boolean().meta({ description: "Concurrent requests share denoiser calls: T2W_BATCHING is on and the denoiser's rows are batch-invariant" }),
      })
      .meta({ description: 'How this service runs the bundle' }),
  })
  .meta({ id: 'BundleSummary' });

export const bundleListSchema = z.object({ bundles: z.array(bundleSummarySchema) }).meta({ id: 'BundleList' });

export const bundleManifestResponseSchema = z
  .object({ name: z.string(), digest: z.string(), manifest: z.record(z.string(), z.unknown()).meta({ description: 'bundle.json as loaded (defaults filled in)' }) })
  .meta({ id: 'Bundle' });

export const bundleParams = z.object({ name: z.string().min(1).max(64) });

export function bundleSummary(b: LoadedBundle, serving: BundleServing): z.infer<typeof bundleSummarySchema> {
  const m = b.manifest;
  return {
    name: b.name,
    version: m.version,
    description: m.description,
    digest: b.digest,
    classes: [...m.classes],
    requireKnownClasses: m.requireKnownClasses,
    layout: { tensors: m.target.layout.map((t) => ({ name: t.name, shape: [...t.shape] })), parameterCount: m.denoiser.parameterCount, architecture: m.target.architecture.type },
    diffusion: { timesteps: m.diffusion.timesteps, prediction: m.diffusion.prediction, guidance: (m.diffusion.condDropout ?? 0) > 0 },
    evaluation: m.evaluation ? { classes: [...m.evaluation.classes] } : null,
    serving,
  };
}
