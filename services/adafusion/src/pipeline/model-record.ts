/**
 * The model record (kind `adafusion-model`): everything `GET /v1/models/{id}` shows and the
 * report is rebuilt from — the feature set and configuration it was fitted with, the weights and
 * ONNX artifacts, the text encoder that embedded text prompts, validation, a summary of the fit's
 * history, the gate's interpretation over the feature set's slides and the optional repeated-split
 * evaluation. Plain JSON, NaN as null.
 */
import { z } from 'zod';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { ArtifactStore } from '@weightsmith/store';
import type { PhenotypeAlpha, SlideSummary } from '../report/index.js';
import { KINDS, readJsonArtifact } from './artifacts.js';

const jsonNumber = z.number().nullable();
const metricJson = z.object({ mean: jsonNumber, std: jsonNumber, values: z.array(jsonNumber) });

export const validationSchema = z
  .object({
    loss: jsonNumber,
    metric: jsonNumber,
    metricName: z.enum(['balanced_accuracy', 'pearson_r']),
    epoch: z.number().int(),
  })
  .meta({ id: 'FitValidation', description: "The fit's early-stopping validation at the kept epoch (balanced accuracy or mean Pearson r)" });

export const evaluationSchema = z
  .object({
    splits: z.number().int(),
    splitSizes: z.array(z.object({ train: z.number().int(), test: z.number().int() })),
    rows: z.array(
      z.object({
        name: z.string(),
        mode: z.string(),
        model: z.string().optional(),
        auc: metricJson.optional(),
        balancedAccuracy: metricJson.optional(),
        pearson: metricJson.extend({ excludedGenes: z.array(z.number().int()) }).optional(),
      }),
    ),
    table: z.string().meta({ description: 'The same rows as a fixed-width text table (mean ± std over splits, best marked *)' }),
  })
  .meta({ id: 'Evaluation', description: 'Repeated random 70/30 splits: every candidate fitted on the training slides, scored on the held-out ones' });

const phenotypeAlphaSchema = z.object({
  /** P rows of M mean weights (null: phenotype without tiles). */
  mean: z.array(z.array(jsonNumber)),
  /** Per phenotype: tiles (hard) or summed context weight (soft). */
  weight: z.array(z.number()),
});

export const interpretationSchema = z
  .object({
    phenotypes: z.array(z.string()),
    byPhenotype: phenotypeAlphaSchema.meta({ description: 'Mean α per phenotype, tiles assigned to the argmax of their context' }),
    byPhenotypeSoft: phenotypeAlphaSchema.meta({ description: 'Mean α per phenotype, tiles weighted by their context' }),
    bySlide: z.array(z.object({ slideId: z.string(), tiles: z.number().int(), meanAlpha: z.array(z.number()) })),
  })
  .meta({ id: 'Interpretation', description: "The gate's weights α over the feature set's slides (columns in the model order)" });

export const modelRecordSchema = z
  .object({
    version: z.literal(1),
    featureSet: z.string(),
    task: z.enum(['classification', 'regression']),
    models: z.array(z.object({ name: z.string(), dim: z.number().int() })),
    classes: z.array(z.string()).optional(),
    genes: z.array(z.string()).optional(),
    config: z.record(z.string(), z.unknown()).meta({ description: 'The fit configuration as run (every default filled in)' }),
    textEncoder: z
      .object({
        id: z.string().meta({ description: 'Content digest (`sha256:<hex>`) of the text encoder files: which encoder embedded the prompts' }),
        dim: z.number().int().meta({ description: "Width of the encoder's prompt embeddings (projected to d by the fit)" }),
      })
      .optional()
      .meta({ description: "Text-prompt fits only: the encoder that embedded `config.context.prompts` (the prompts also name the interpretation's phenotypes)" }),
    weights: z.string().meta({ description: 'Artifact id of the parameters (safetensors, kind adafusion-weights)' }),
    onnx: z.string().meta({ description: 'Artifact id of the ONNX export (kind adafusion-onnx)' }),
    validation: validationSchema,
    history: z.object({
      epochs: z.number().int(),
      bestEpoch: z.number().int(),
      trainLoss: z.array(jsonNumber),
      valLoss: z.array(jsonNumber),
      valMetric: z.array(jsonNumber),
    }),
    split: z.object({ train: z.number().int(), val: z.number().int() }).meta({ description: 'Slides the fit trained on and validated on' }),
    interpretation: interpretationSchema,
    evaluation: evaluationSchema.nullable(),
  })
  .meta({ id: 'ModelRecord' });

export type ModelRecord = z.infer<typeof modelRecordSchema>;
export type EvaluationJson = z.infer<typeof evaluationSchema>;

export const jsonNum = (v: number): number | null => (Number.isFinite(v) ? v : null);
const fromJson = (v: number | null): number => v ?? Number.NaN;

export function phenotypeAlphaJson(pa: PhenotypeAlpha): z.infer<typeof phenotypeAlphaSchema> {
  const mean = Array.from({ length: pa.numPhenotypes }, (_, p) => Array.from(pa.mean.subarray(p * pa.numModels, (p + 1) * pa.numModels), jsonNum));
  return { mean, weight: Array.from(pa.weight) };
}

export function phenotypeAlphaOf(json: z.infer<typeof phenotypeAlphaSchema>, numModels: number): PhenotypeAlpha {
  const P = json.mean.length;
  const mean = new Float64Array(P * numModels);
  json.mean.forEach((row, p) => row.forEach((v, m) => (mean[p * numModels + m] = fromJson(v))));
  return { numPhenotypes: P, numModels, mean, weight: Float64Array.from(json.weight) };
}

export function slideSummariesOf(record: ModelRecord): SlideSummary[] {
  return record.interpretation.bySlide.map((s) => ({ slideId: s.slideId, tiles: s.tiles, meanAlpha: Float64Array.from(s.meanAlpha) }));
}

export async function loadModelRecord(artifacts: ArtifactStore, id: string, field: string): Promise<ModelRecord> {
  const json = await readJsonArtifact(artifacts, id, KINDS.model, field, 'model');
  const parsed = modelRecordSchema.safeParse(json);
  if (!parsed.success) throw new WeightsmithError(ErrorCode.Internal, `model ${id} has a malformed record: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}
