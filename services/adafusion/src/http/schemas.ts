/** Request and response schemas of the AdaFusion endpoints; the OpenAPI document is generated from them. */
import { z } from 'zod';
import { artifactSchema } from '@weightsmith/http';
import { featureSetManifestSchema, featureSetRequestSchema, fileRefSchema } from '../cohort/index.js';
import { fitConfigSchema } from '../model/index.js';
import { evaluationSchema, validationSchema } from '../pipeline/model-record.js';

export { modelRecordSchema } from '../pipeline/model-record.js';

const ARTIFACT_ID = /^[0-9a-f]{64}$/;
export const artifactIdField = (what: string) => z.string().regex(ARTIFACT_ID, `must be 64 lowercase hex characters (the id of ${what})`);

export const idParams = z.object({ id: artifactIdField('an artifact') });

export const featureSetBodySchema = featureSetRequestSchema.meta({
  id: 'FeatureSetRequest',
  description:
    'A cohort: the foundation models, every slide with one feature file per model (TRIDENT/CLAM h5 or safetensors {features, coords}; refs are artifact ids, s3:// URIs in the service bucket, or store keys), and labels (classification) or per-slide tile targets (regression).',
});

const modelSpecSchema = z.object({ name: z.string(), dim: z.number().int() });

export const featureSetSummarySchema = z
  .object({
    id: z.string().meta({ description: 'The feature set id (the artifact id of its manifest)' }),
    name: z.string().optional(),
    task: z.enum(['classification', 'regression']),
    models: z.array(modelSpecSchema),
    classes: z.array(z.string()).optional(),
    genes: z.array(z.string()).optional(),
    counts: featureSetManifestSchema.shape.counts,
  })
  .meta({ id: 'FeatureSet' });

export const featureSetManifestResponseSchema = featureSetManifestSchema.meta({ id: 'FeatureSetManifest' });

export const MAX_EVALUATION_SPLITS = 20;

export const modelRequestSchema = z
  .object({
    featureSet: artifactIdField('a feature set'),
    // Strict at the top level, so a misspelt knob is refused rather than silently defaulted.
    config: fitConfigSchema.strict().optional().meta({ description: 'The fit configuration; every field has a default' }),
    evaluation: z
      .object({
        splits: z.number().int().min(0).max(MAX_EVALUATION_SPLITS).default(0).meta({ description: 'Random 70/30 splits to evaluate on (0: none)' }),
        baselines: z.boolean().default(true).meta({ description: 'Evaluate each single model, concatenation and mean alongside AdaFusion' }),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .meta({ id: 'ModelRequest' });

export const fitResultSchema = z
  .object({
    model: z.string().meta({ description: 'The model id (artifact id of the model record)' }),
    weights: artifactSchema,
    onnx: artifactSchema,
    validation: validationSchema,
    evaluation: evaluationSchema.optional(),
  })
  .meta({ id: 'FitResult' });

export const reportQuery = z.object({
  plot: z.enum(['contribution', 'dominance']).optional().meta({ description: 'Render a plot instead of the JSON report' }),
  format: z.enum(['svg', 'png']).default('svg').meta({ description: 'Plot format; the contribution plot is svg only' }),
  slide: z.string().min(1).max(256).optional().meta({ description: "dominance: a slide id of the model's feature set" }),
});

const weightsRow = { weights: z.record(z.string(), z.number().nullable()), dominant: z.string().nullable() };

export const modelReportSchema = z
  .object({
    modelId: z.string().nullable(),
    task: z.enum(['classification', 'regression']),
    models: z.array(z.string()),
    phenotypes: z.array(z.string()),
    classes: z.array(z.string()).optional(),
    genes: z.array(z.string()).optional(),
    metrics: z.object({
      validation: validationSchema.nullable(),
      evaluation: evaluationSchema.nullable(),
    }),
    contribution: z.object({
      byPhenotype: z.array(z.object({ phenotype: z.string(), tiles: z.number(), ...weightsRow })).nullable(),
      byPhenotypeSoft: z.array(z.object({ phenotype: z.string(), weight: z.number().nullable(), ...weightsRow })).nullable(),
      bySlide: z.array(z.object({ slideId: z.string(), tiles: z.number().int(), ...weightsRow })).nullable(),
    }),
    plots: z.object({
      contribution: z.object({ formats: z.array(z.enum(['svg', 'png'])), href: z.string().nullable() }),
      dominance: z.object({ formats: z.array(z.enum(['svg', 'png'])), href: z.string().nullable(), needs: z.literal('slide') }),
    }),
  })
  .meta({ id: 'ModelReport', description: 'Metrics (validation, evaluation mean ± std), per-phenotype and per-slide model weights, plot links' });

const requestSlideSchema = z
  .object({
    id: z.string().min(1).max(256),
    features: z.record(z.string(), fileRefSchema).meta({ description: "model name → the slide's feature file, for every model of the model" }),
  })
  .strict();

const slidesInput = {
  model: artifactIdField('a model'),
  featureSet: artifactIdField('a feature set').optional().meta({ description: "Predict every slide of a registered feature set (the model's models)…" }),
  slides: z.array(requestSlideSchema).min(1).max(10_000).optional().meta({ description: '…or these slides (exactly one of featureSet and slides)' }),
};

export const predictionRequestSchema = z
  .object({
    ...slidesInput,
    tiles: z.boolean().default(true).meta({ description: 'Store per-tile scores (coords, alpha, dominant, attention | prediction) per slide as safetensors' }),
  })
  .strict()
  .meta({ id: 'PredictionRequest' });

export const fusionRequestSchema = z.object(slidesInput).strict().meta({ id: 'FusionRequest' });

export const predictionResultSchema = z
  .object({
    model: z.string(),
    task: z.enum(['classification', 'regression']),
    slides: z.array(
      z.object({
        slide: z.string(),
        tiles: z.number().int(),
        classification: z.object({ probs: z.record(z.string(), z.number()), predicted: z.string() }).optional(),
        regression: z.object({ meanPrediction: z.record(z.string(), z.number()).meta({ description: 'gene → mean predicted expression over the tiles' }) }).optional(),
        meanAlpha: z.record(z.string(), z.number()).meta({ description: "model → the gate's mean weight over the slide's tiles" }),
        dominantCounts: z.record(z.string(), z.number().int()).meta({ description: 'model → tiles it dominates' }),
        tileScores: artifactSchema.optional().meta({ description: 'safetensors (kind adafusion-tile-scores): coords [n,2] F64, alpha [n,M], dominant [n] I32, attention [n] | prediction [n,G]' }),
      }),
    ),
  })
  .meta({ id: 'PredictionResult' });

export const fusionResultSchema = z
  .object({
    model: z.string(),
    slides: z.array(
      z.object({
        slide: z.string(),
        tiles: z.number().int(),
        fusedWidth: z.number().int(),
        features: artifactSchema.meta({ description: 'safetensors (kind adafusion-fused-features): features [n, fusedWidth] F32, coords [n,2] F64, alpha [n,M] F32' }),
      }),
    ),
  })
  .meta({ id: 'FusionResult' });
