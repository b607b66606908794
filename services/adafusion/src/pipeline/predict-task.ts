/**
 * Predictions and fusions as the service runs them, inside a task worker: the model's ONNX
 * export on onnxruntime over the slides of a registered feature set, or over slides given in the
 * request. Per slide, predictions give the slide-level answer with the gate's weights (and, with
 * `tiles`, one safetensors artifact of tile scores); fusions give the fused tile features as a
 * safetensors artifact, for users' own heads.
 *
 * Slides given in the request are all read and aligned once before the first prediction, so a
 * bad file (unknown format, dims that differ from the model's, no tiles, NaN) fails the job
 * before anything is stored.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { serializeSafetensors, type TensorWithData } from '@weightsmith/safetensors';
import type { Artifact, ArtifactStore } from '@weightsmith/store';
import { cohortFromManifest, jsonPath } from '../cohort/index.js';
import { alignSlide, readSlideFeatures } from '../features/index.js';
import { FusionPredictor, type SlidePrediction } from '../model/index.js';
import { dominanceMap, meanAlphaPerSlide } from '../report/index.js';
import type { AlignedSlide, ModelSpec, SlideFeatures } from '../types.js';
import { KINDS, publicArtifact, readArtifactBytes, type Producer } from './artifacts.js';
import { loadFeatureSet } from './feature-sets.js';
import { loadModelRecord, type ModelRecord } from './model-record.js';
import { storeRefResolver } from './refs.js';

export interface RequestSlide {
  id: string;
  /** model name → file ref, for exactly the model's models. */
  features: Record<string, string>;
}

export interface SlidesTaskInput {
  model: string;
  featureSet?: string;
  slides?: RequestSlide[];
  producer: Producer;
  maxFeatureBytes: number;
  maxTilesPerSlide: number;
}

export interface PredictionTaskInput extends SlidesTaskInput {
  tiles: boolean;
}

type Progress = (fraction: number, message: string) => void;

export const slideFeatureField = (index: number, model: string): string => `body.${jsonPath(['slides', index, 'features', model])}`;

/** The model's models must be the feature set's, in the same order, with the same dims. */
export function checkSameModels(record: Pick<ModelRecord, 'models'>, models: readonly ModelSpec[], field: string): void {
  const want = record.models.map((m) => `${m.name}:${m.dim}`).join(', ');
  const got = models.map((m) => `${m.name}:${m.dim}`).join(', ');
  if (want !== got) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `the feature set's models (${got}) are not the model's (${want})`, { field });
  }
}

/** Model names of request slides: every one of the model's, nothing else (checked before a job is queued). */
export function checkRequestSlides(record: Pick<ModelRecord, 'models'>, slides: readonly RequestSlide[]): void {
  const names = record.models.map((m) => m.name);
  const issues: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  slides.forEach((slide, i) => {
    if (seen.has(slide.id)) issues.push({ field: `body.slides[${i}].id`, message: `slide ${slide.id} is listed twice` });
    seen.add(slide.id);
    for (const key of Object.keys(slide.features)) {
      if (!names.includes(key)) issues.push({ field: slideFeatureField(i, key), message: `slide ${slide.id}: unknown model ${key} (the model uses ${names.join(', ')})` });
    }
    for (const name of names) {
      if (!(name in slide.features)) issues.push({ field: slideFeatureField(i, name), message: `slide ${slide.id}: no features for model ${name}` });
    }
  });
  if (issues.length > 0) {
    throw new WeightsmithError(ErrorCode.InvalidInput, `slides: ${issues.length} problem${issues.length > 1 ? 's' : ''}; first: ${issues[0]!.message}`, {
      field: issues[0]!.field,
      issues,
    });
  }
}

async function readRequestSlide(
  artifacts: ArtifactStore,
  slide: RequestSlide,
  index: number,
  models: readonly ModelSpec[],
  input: SlidesTaskInput,
): Promise<AlignedSlide> {
  const perModel: SlideFeatures[] = [];
  for (const model of models) {
    const field = slideFeatureField(index, model.name);
    const ref = slide.features[model.name];
    if (ref === undefined) throw invalidInput(field, `slide ${slide.id}: no features for model ${model.name}`);
    const bytes = await storeRefResolver(artifacts, field)(ref);
    perModel.push(await readSlideFeatures(bytes, { source: `slide ${slide.id}, model ${model.name} (${ref})`, field, maxFeatureBytes: input.maxFeatureBytes }));
  }
  const aligned = alignSlide(slide.id, models, perModel, { fieldOf: (m) => slideFeatureField(index, m.name) });
  if (aligned.n > input.maxTilesPerSlide) {
    throw new WeightsmithError(ErrorCode.TooLarge, `slide ${slide.id} has ${aligned.n} tiles; the limit is ${input.maxTilesPerSlide}`, { field: `body.slides[${index}]` });
  }
  return { id: aligned.id, n: aligned.n, coords: aligned.coords, features: aligned.features };
}

/** The slides of the request or the feature set, one at a time (never all in memory). */
async function slideSource(artifacts: ArtifactStore, record: ModelRecord, input: SlidesTaskInput): Promise<{ ids: string[]; load(i: number): Promise<AlignedSlide> }> {
  if (input.featureSet !== undefined) {
    const manifest = await loadFeatureSet(artifacts, input.featureSet, 'body.featureSet');
    checkSameModels(record, manifest.models, 'body.featureSet');
    const cohort = await cohortFromManifest(manifest, storeRefResolver(artifacts), { maxFeatureBytes: input.maxFeatureBytes, cacheSlides: 0 });
    return { ids: cohort.slideIds, load: (i) => cohort.loadSlide(cohort.slideIds[i]!) };
  }
  const slides = input.slides ?? [];
  checkRequestSlides(record, slides);
  // Read everything once up front: any bad file fails the job before the first artifact.
  for (const [i, slide] of slides.entries()) await readRequestSlide(artifacts, slide, i, record.models, input);
  return { ids: slides.map((s) => s.id), load: (i) => readRequestSlide(artifacts, slides[i]!, i, record.models, input) };
}

async function withPredictor<T>(
  artifacts: ArtifactStore,
  input: SlidesTaskInput,
  threads: number,
  progress: Progress,
  perSlide: (slide: AlignedSlide, out: SlidePrediction, record: ModelRecord) => Promise<T>,
): Promise<{ record: ModelRecord; results: T[] }> {
  const record = await loadModelRecord(artifacts, input.model, 'body.model');
  const source = await slideSource(artifacts, record, input);
  const predictor = await FusionPredictor.load(await readArtifactBytes(artifacts, record.onnx), { intraOpNumThreads: threads });
  try {
    const results: T[] = [];
    for (let i = 0; i < source.ids.length; i++) {
      const slide = await source.load(i);
      results.push(await perSlide(slide, await predictor.predictSlide(slide), record));
      progress((i + 1) / source.ids.length, `slide ${i + 1}/${source.ids.length} (${slide.id})`);
    }
    return { record, results };
  } finally {
    await predictor.close();
  }
}

const byName = (names: readonly string[], values: ArrayLike<number>): Record<string, number> => Object.fromEntries(names.map((n, i) => [n, values[i]!]));

export interface SlidePredictionResult {
  slide: string;
  tiles: number;
  classification?: { probs: Record<string, number>; predicted: string };
  regression?: { meanPrediction: Record<string, number> };
  meanAlpha: Record<string, number>;
  dominantCounts: Record<string, number>;
  tileScores?: Artifact;
}

export async function runPredictionTask(input: PredictionTaskInput, artifacts: ArtifactStore, progress: Progress, threads: number) {
  const { record, results } = await withPredictor(artifacts, input, threads, progress, async (slide, out, record): Promise<SlidePredictionResult> => {
    const names = record.models.map((m) => m.name);
    const M = names.length;
    const map = dominanceMap(slide.coords, out.alpha, slide.n, M);
    const counts = new Array<number>(M).fill(0);
    for (const m of map.dominant) counts[m]!++;
    const result: SlidePredictionResult = {
      slide: slide.id,
      tiles: slide.n,
      meanAlpha: byName(names, meanAlphaPerSlide(out.alpha, slide.n, M)),
      dominantCounts: byName(names, counts),
    };
    if (record.task === 'classification') {
      const classes = record.classes ?? [];
      const probs = out.probs!;
      let best = 0;
      for (let c = 1; c < probs.length; c++) if (probs[c]! > probs[best]!) best = c;
      result.classification = { probs: byName(classes, probs), predicted: classes[best]! };
    } else {
      const genes = record.genes ?? [];
      const G = genes.length;
      const mean = new Float64Array(G);
      for (let t = 0; t < slide.n; t++) for (let g = 0; g < G; g++) mean[g]! += out.prediction![t * G + g]! / slide.n;
      result.regression = { meanPrediction: byName(genes, mean) };
    }
    if (input.tiles) {
      const tensors = [
        { name: 'coords', dtype: 'F64' as const, shape: [slide.n, 2], data: slide.coords },
        { name: 'alpha', dtype: 'F32' as const, shape: [slide.n, M], data: out.alpha },
        { name: 'dominant', dtype: 'I32' as const, shape: [slide.n], data: map.dominant },
        ...(out.attention ? [{ name: 'attention', dtype: 'F32' as const, shape: [slide.n], data: out.attention }] : []),
        ...(out.prediction ? [{ name: 'prediction', dtype: 'F32' as const, shape: [slide.n, (record.genes ?? []).length], data: out.prediction }] : []),
      ];
      result.tileScores = await storeSlideTensors(artifacts, input, slide.id, tensors, { kind: KINDS.tileScores, format: 'weightsmith-adafusion-tile-scores/1', models: names });
    }
    return result;
  });
  return { model: input.model, task: record.task, slides: results };
}

/**
 * One slide's per-tile tensors as a safetensors artifact: the `__metadata__` names the format,
 * model, slide and model order; the manifest lists the model as the input.
 */
async function storeSlideTensors(
  artifacts: ArtifactStore,
  input: SlidesTaskInput,
  slideId: string,
  tensors: TensorWithData[],
  o: { kind: string; format: string; models: string[]; metadata?: Record<string, unknown> },
): Promise<Artifact> {
  const bytes = await serializeSafetensors(tensors, { format: o.format, model: input.model, slide: slideId, models: JSON.stringify(o.models) });
  return publicArtifact(
    await artifacts.put(bytes, {
      kind: o.kind,
      mediaType: 'application/octet-stream',
      producer: input.producer,
      parameters: { model: input.model, slide: slideId },
      inputs: [{ id: input.model, sha256: input.model, role: 'model' }],
      metadata: { models: o.models, ...o.metadata },
      tensors: tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape: [...shape] })),
    }),
  );
}

export interface SlideFusionResult {
  slide: string;
  tiles: number;
  fusedWidth: number;
  features: Artifact;
}

export async function runFusionTask(input: SlidesTaskInput, artifacts: ArtifactStore, progress: Progress, threads: number) {
  const { results } = await withPredictor(artifacts, input, threads, progress, async (slide, out, record): Promise<SlideFusionResult> => {
    const names = record.models.map((m) => m.name);
    const tensors = [
      { name: 'features', dtype: 'F32' as const, shape: [slide.n, out.fusedWidth], data: out.fused },
      { name: 'coords', dtype: 'F64' as const, shape: [slide.n, 2], data: slide.coords },
      { name: 'alpha', dtype: 'F32' as const, shape: [slide.n, names.length], data: out.alpha },
    ];
    const features = await storeSlideTensors(artifacts, input, slide.id, tensors, {
      kind: KINDS.fusedFeatures,
      format: 'weightsmith-adafusion-fused-features/1',
      models: names,
      metadata: { fusedWidth: out.fusedWidth },
    });
    return { slide: slide.id, tiles: slide.n, fusedWidth: out.fusedWidth, features };
  });
  return { model: input.model, slides: results };
}
