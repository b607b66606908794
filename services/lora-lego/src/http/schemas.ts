import { z } from 'zod';
import { artifactSchema } from '@weightsmith/http';
import { MAX_MERGE_RANK, MERGE_METHODS } from '../merge/index.js';

/** Most adapters one merge takes (the MSU pool grows with Σ r_i). */
export const MAX_ADAPTERS = 64;

export const adapterInputSchema = z
  .object({
    ref: z
      .string()
      .min(1)
      .max(2048)
      .meta({ description: 'An adapter artifact id (from POST /v1/adapters or a merge), or an s3:// URI in the service\'s bucket: a .tar key or a PEFT folder prefix' }),
    weight: z.number().default(1).meta({ description: 'User weight w_i (negative subtracts a task)' }),
  })
  .strict()
  .meta({ id: 'AdapterInput' });

const mergeOptionsSchema = z
  .object({
    nInit: z.number().int().min(1).max(64).optional().meta({ description: 'lego: k-means restarts (default 4)' }),
    maxIter: z.number().int().min(1).max(10_000).optional().meta({ description: 'lego: Lloyd iterations per restart (default 100)' }),
    tol: z.number().positive().max(1).optional().meta({ description: 'lego: relative inertia change that stops Lloyd (default 1e-6)' }),
    metric: z.enum(['euclidean', 'cosine']).optional().meta({ description: 'lego: cluster MSU vectors or their unit vectors' }),
    paramNorm: z.enum(['l2', 'linf', 'none']).optional().meta({ description: 'lego: parameter reweighting (default l2)' }),
    outputScale: z
      .union([z.enum(['sqrt_rank_ratio', 'none']), z.number().positive()])
      .optional()
      .meta({ description: "lego: output reweighting γ (default 'sqrt_rank_ratio' = sqrt(r_ref / k))" }),
    density: z.number().gt(0).max(1).optional().meta({ description: 'ties/dare/magnitude_prune: fraction kept (default 0.5)' }),
    lambda: z.number().optional().meta({ description: 'task_arithmetic: λ (default 1)' }),
    majoritySign: z.enum(['total', 'frequency']).optional().meta({ description: 'ties/dare_ties sign election' }),
    oversample: z.number().int().min(0).max(100).optional().meta({ description: 'dense methods: randomized SVD oversampling (default 10)' }),
    powerIterations: z.number().int().min(0).max(10).optional().meta({ description: 'dense methods: randomized SVD power iterations (default 2)' }),
  })
  .strict();

export const mergeRequestSchema = z
  .object({
    adapters: z.array(adapterInputSchema).min(1).max(MAX_ADAPTERS),
    method: z.enum(MERGE_METHODS).default('lego'),
    k: z
      .number()
      .int()
      .min(1)
      .max(MAX_MERGE_RANK)
      .optional()
      .meta({ description: 'Output rank. Default: largest input rank (lego, svd, dense methods), Σ r_i (cat, task_arithmetic), r (linear)' }),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
    dtype: z.enum(['auto', 'F32', 'F16', 'BF16']).default('auto').meta({ description: "Output dtype; 'auto' = the inputs' dtype when they agree, else F32" }),
    options: mergeOptionsSchema.default({}),
  })
  .strict()
  .meta({ id: 'MergeRequest' });
export type MergeRequest = z.output<typeof mergeRequestSchema>;

const moduleReportSchema = z.object({
  name: z.string(),
  inputs: z.array(z.number().int()),
  k: z.number().int(),
  inertia: z.number().optional(),
  clusterSizes: z.array(z.number().int()).optional(),
  iterations: z.number().int().optional(),
  relativeError: z.array(z.number()),
  retainedEnergy: z.array(z.number()),
  warnings: z.array(z.string()),
});

export const mergeReportSchema = z
  .object({
    method: z.enum(MERGE_METHODS),
    k: z.number().int(),
    dtype: z.enum(['F32', 'F16', 'BF16']),
    modules: z.array(moduleReportSchema),
    inputs: z.array(z.object({ ref: z.string(), modules: z.number().int(), meanRelativeError: z.number(), meanRetainedEnergy: z.number() })),
    warnings: z.array(z.string()),
  })
  .meta({ id: 'MergeReport' });

export const mergeResultSchema = z.object({ adapter: artifactSchema, report: mergeReportSchema }).meta({ id: 'MergeResult' });

export const analysisRequestSchema = z
  .object({
    adapters: z.array(adapterInputSchema).min(1).max(MAX_ADAPTERS),
    ks: z.array(z.number().int().min(1).max(MAX_MERGE_RANK)).min(1).max(16).optional().meta({ description: 'Candidate ranks to evaluate (default: r_max/2, r_max, Σ r_i)' }),
  })
  .strict()
  .meta({ id: 'AnalysisRequest' });

export const analysisSchema = z
  .object({
    modules: z.array(
      z.object({
        name: z.string(),
        dIn: z.number().int(),
        dOut: z.number().int(),
        inputs: z.array(z.number().int()),
        ranks: z.array(z.number().int()),
        norms: z.array(z.number()),
        cosine: z.array(z.number()).meta({ description: 'cos(ΔW_i, ΔW_j), row-major over the module\'s inputs' }),
        retainedAtK: z.array(z.object({ k: z.number().int(), retainedEnergy: z.array(z.number()), relativeError: z.array(z.number()) })),
      }),
    ),
    summary: z.array(z.object({ k: z.number().int(), meanRetainedEnergy: z.number(), meanRelativeError: z.number() })),
    meanCrossCosine: z.number(),
  })
  .meta({ id: 'Analysis' });
