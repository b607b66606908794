/**
 * The fit configuration of an AdaFusion model: every knob of the spec (compression, context,
 * gate, head, optimiser) with its default and its bounds, as one zod schema so the HTTP layer
 * validates requests with exactly the rules the fitting code assumes.
 */
import { z } from 'zod';
import { ErrorCode, WeightsmithError, type FieldIssue } from '@weightsmith/core';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const fusionModes = ['adafusion', 'single', 'concat', 'mean'] as const;
export type FusionMode = (typeof fusionModes)[number];

const modelName = z.string().min(1).max(200);

export const contextSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('text'),
    /** Phenotype descriptions, encoded once by the injected text encoder and projected to d. */
    prompts: z.array(z.string().min(1).max(500)).min(2).max(64),
  }),
  z.strictObject({ kind: z.literal('learned'), count: int(2, 64).default(8) }),
  z.strictObject({ kind: z.literal('centroids'), count: int(2, 64).default(8) }),
]);
export type ContextConfig = z.infer<typeof contextSchema>;

export const headSchema = z
  .strictObject({
    /** Hidden width of the gated attention MIL (V and U are hidden × d). */
    hidden: int(8, 1024).default(128),
    /** Tile regression head: plain linear, or linear with an L2 (ridge) penalty `lambda·‖W‖²` in the loss. */
    regression: z.enum(['linear', 'ridge']).default('linear'),
    lambda: z.number().min(0).max(1e4).default(1e-3),
  })
  .prefault({});

export const optimizerSchema = z
  .strictObject({
    lr: z.number().positive().max(10).default(3e-3),
    weightDecay: z.number().min(0).max(1).default(1e-2),
    maxEpochs: int(1, 10_000).default(200),
    /** Epochs without a better validation loss before stopping. */
    patience: int(1, 1000).default(20),
    /** Steps per epoch; default one pass over the training slides (⌈slides / slidesPerStep⌉). */
    stepsPerEpoch: int(1, 100_000).optional(),
    /** Tiles sampled per slide per step (and per validation slide, fixed once). */
    tilesPerStep: int(1, 65_536).default(512),
    slidesPerStep: int(1, 1024).default(8),
  })
  .prefault({});

export const fitConfigSchema = z
  .strictObject({
    mode: z.enum(fusionModes).default('adafusion'),
    /** The model a `single` baseline uses. */
    model: modelName.optional(),
    /** Dimension every model is compressed to. */
    d: int(2, 4096).default(256),
    /** PCA whitening (unit variance per component) before the Procrustes alignment. */
    whiten: z.boolean().default(false),
    /** The model whose PCA space the others are rotated onto; default the cohort's first model. */
    anchor: modelName.optional(),
    compression: z.enum(['closed_form', 'learned']).default('closed_form'),
    /** Weight of the cross-model cosine alignment loss (learned compression only). */
    alignmentWeight: z.number().min(0).max(100).default(0.1),
    context: contextSchema.default({ kind: 'centroids', count: 8 }),
    /** Temperature of the phenotype softmax. */
    tau: z.number().min(1e-3).max(1e3).default(1),
    gate: z.enum(['model', 'channel']).default('model'),
    head: headSchema,
    optimizer: optimizerSchema,
    valFraction: z.number().min(0.05).max(0.5).default(0.2),
    /** Tiles kept per slide after compression (seeded sample); bounds the memory of a fit. */
    poolTilesPerSlide: int(1, 1_000_000).default(2048),
    /** Training tiles the closed-form PCA and Procrustes are fitted on (seeded sample). */
    pcaSampleTiles: int(16, 1_000_000).default(20_000),
    /** Tiles the phenotype centroids are clustered from (k-means cost grows with its square). */
    kmeansSampleTiles: int(16, 20_000).default(4096),
    seed: z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().min(1).max(200)]).default(0),
  })
  .superRefine((c, ctx) => {
    if (c.mode === 'single' && c.model === undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: "mode 'single' needs the name of the model to use" });
    }
    if (c.mode !== 'single' && c.model !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['model'], message: `'model' only applies to mode 'single' (mode is '${c.mode}')` });
    }
    if (c.gate === 'channel' && c.mode !== 'adafusion') {
      ctx.addIssue({ code: 'custom', path: ['gate'], message: `a per-channel gate only applies to mode 'adafusion' (mode is '${c.mode}')` });
    }
  });

export type FitConfig = z.infer<typeof fitConfigSchema>;
export type FitConfigInput = z.input<typeof fitConfigSchema>;

/** Parses a fit configuration; every problem becomes an issue naming its dotted field. */
export function parseFitConfig(input: unknown, prefix = 'config'): FitConfig {
  const parsed = fitConfigSchema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issues: FieldIssue[] = parsed.error.issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  throw new WeightsmithError(
    ErrorCode.InvalidInput,
    `invalid fit configuration: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
    { issues, ...(issues[0] ? { field: issues[0].field } : {}) },
  );
}
