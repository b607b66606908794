/**
 * A model fit as the service runs it, inside a task worker (tfjs-wasm and onnxruntime block the
 * thread): load the feature set as a cohort → fit (progress per epoch) → serialise weights and
 * ONNX → interpretation over the feature set's slides with the exported model → optional
 * repeated-split evaluation → store weights, ONNX and the model record, in that order, only once
 * everything has been computed. The same feature set, configuration and seed give the same bytes,
 * so the same three artifact ids. Text prompts are encoded by the text encoder opened here, in
 * the worker; its id (a digest of its files) goes into the record and the artifacts' parameters,
 * so the same prompts through another encoder give other ids.
 */
import { invalidInput } from '@weightsmith/core';
import type { TaskContext } from '@weightsmith/http';
import type { ArtifactStore } from '@weightsmith/store';
import type { TextEncoder } from '@weightsmith/text';
import { cohortFromManifest } from '../cohort/index.js';
import { evaluateConfigs, formatTable, standardBaselines, type Candidate } from '../eval/index.js';
import { fitFusionModel, FusionPredictor, serializeFusionModel, type FitConfig, type FittedFusionModel } from '../model/index.js';
import { buildModelReport, InterpretationAccumulator } from '../report/index.js';
import type { Cohort } from '../types.js';
import { KINDS, jsonBytes, publicArtifact, type Producer } from './artifacts.js';
import { loadFeatureSet } from './feature-sets.js';
import { jsonNum, phenotypeAlphaJson, type EvaluationJson, type ModelRecord } from './model-record.js';
import { storeRefResolver } from './refs.js';
import { openTextEncoder, type TextEncoderSource } from './text-encoder.js';

export interface FitTaskInput {
  featureSet: string;
  /** Parsed, every default filled in. */
  config: FitConfig;
  evaluation: { splits: number; baselines: boolean };
  producer: Producer;
  maxFeatureBytes: number;
  /** Where the text encoder is (context kind 'text' only; the route checked that one is configured and loads). */
  textEncoder?: TextEncoderSource;
}

type Progress = (fraction: number, message: string) => void;

/** Names of the phenotype prompts: the text prompts, or numbered clusters / learned prompts. */
export function phenotypeNames(config: FitConfig, count: number): string[] {
  if (config.context.kind === 'text' && config.context.prompts.length === count) return [...config.context.prompts];
  return Array.from({ length: count }, (_, k) => `phenotype ${k + 1}`);
}

async function interpret(cohort: Cohort, onnx: Uint8Array, config: FitConfig, threads: number, progress: Progress): Promise<ModelRecord['interpretation']> {
  const predictor = await FusionPredictor.load(onnx, { intraOpNumThreads: threads });
  try {
    let acc: InterpretationAccumulator | undefined;
    for (const [i, id] of cohort.slideIds.entries()) {
      const slide = await cohort.loadSlide(id);
      const out = await predictor.predictSlide(slide);
      acc ??= new InterpretationAccumulator(cohort.models.length, out.contextWeights.length / slide.n);
      acc.add({ slideId: id, n: slide.n, coords: slide.coords, alpha: out.alpha, contextWeights: out.contextWeights });
      progress((i + 1) / cohort.slideIds.length, `interpretation: slide ${i + 1}/${cohort.slideIds.length}`);
    }
    const result = acc!.result();
    return {
      phenotypes: phenotypeNames(config, acc!.numPhenotypes),
      byPhenotype: phenotypeAlphaJson(result.perPhenotype),
      byPhenotypeSoft: phenotypeAlphaJson(result.perPhenotypeSoft),
      bySlide: result.perSlide.map((s) => ({ slideId: s.slideId, tiles: s.tiles, meanAlpha: Array.from(s.meanAlpha) })),
    };
  } finally {
    await predictor.close();
  }
}

async function evaluate(cohort: Cohort, input: FitTaskInput, textEncoder: TextEncoder | undefined, progress: Progress): Promise<EvaluationJson> {
  const { config } = input;
  const candidates: Candidate[] = input.evaluation.baselines ? standardBaselines(cohort.models, config) : [{ name: config.mode === 'single' ? config.model! : config.mode, config }];
  const result = await evaluateConfigs(cohort, candidates, {
    splits: input.evaluation.splits,
    seed: config.seed,
    ...(textEncoder ? { textEncoder } : {}),
    onProgress: (p) => progress(p.fraction, `evaluation: split ${p.split + 1}/${input.evaluation.splits}, ${p.candidate} (${p.stage})`),
  });
  const report = buildModelReport({ task: result.task, modelNames: cohort.models.map((m) => m.name), evaluation: result });
  return { ...report.metrics.evaluation!, table: formatTable(result) };
}

function historySummary(model: FittedFusionModel): ModelRecord['history'] {
  return {
    epochs: model.history.length,
    bestEpoch: model.validation.epoch,
    trainLoss: model.history.map((h) => jsonNum(h.trainLoss)),
    valLoss: model.history.map((h) => jsonNum(h.valLoss)),
    valMetric: model.history.map((h) => jsonNum(h.valMetric)),
  };
}

/** Opens the encoder for a text-prompt fit, runs `use`, and releases it whatever happens. */
async function withTextEncoder<T>(input: FitTaskInput, ctx: TaskContext, use: (encoder: TextEncoder | undefined) => Promise<T>): Promise<T> {
  if (input.config.context.kind !== 'text') return use(undefined);
  if (input.textEncoder === undefined) throw invalidInput('body.config.context.kind', 'text prompts need a text encoder, and none was passed to the fit');
  const encoder = await openTextEncoder(input.textEncoder, ctx.store, ctx.intraOpNumThreads);
  try {
    return await use(encoder);
  } finally {
    await encoder.close();
  }
}

export function runFitTask(input: FitTaskInput, ctx: TaskContext) {
  return withTextEncoder(input, ctx, (encoder) => fitAndStore(input, ctx.artifacts, ctx.progress, ctx.intraOpNumThreads, encoder));
}

async function fitAndStore(input: FitTaskInput, artifacts: ArtifactStore, progress: Progress, threads: number, textEncoder: TextEncoder | undefined) {
  const { config } = input;
  const manifest = await loadFeatureSet(artifacts, input.featureSet, 'body.featureSet');
  const cohort = await cohortFromManifest(manifest, storeRefResolver(artifacts), { maxFeatureBytes: input.maxFeatureBytes });
  // Share of the job's progress per stage: the evaluation refits every candidate on every split.
  const evaluating = input.evaluation.splits > 0;
  const [fitEnd, interpEnd] = evaluating ? [0.3, 0.38] : [0.85, 0.95];
  const stage = (from: number, to: number): Progress => (f, m) => progress(from + (to - from) * Math.min(1, Math.max(0, f)), m);

  const model = await fitFusionModel(cohort, cohort.slideIds, config, {
    ...(textEncoder ? { textEncoder } : {}),
    onProgress: (p) =>
      stage(0, fitEnd)(p.epoch / p.maxEpochs, `epoch ${p.epoch}/${p.maxEpochs}: train loss ${p.trainLoss.toFixed(4)}, validation loss ${p.valLoss.toFixed(4)}`),
  });
  const { weights, onnx } = await serializeFusionModel(model);
  const interpretation = await interpret(cohort, onnx, config, threads, stage(fitEnd, interpEnd));
  const evaluation = evaluating ? await evaluate(cohort, input, textEncoder, stage(interpEnd, 0.97)) : null;

  progress(0.98, 'storing the model');
  const inputs = [{ id: input.featureSet, sha256: input.featureSet, role: 'feature-set' }];
  const encoderRecord = textEncoder ? { id: textEncoder.id, dim: textEncoder.dim } : undefined;
  // Only text-prompt fits name an encoder, so other fits keep the ids they always had.
  const parameters = { featureSet: input.featureSet, config, evaluation: input.evaluation, ...(encoderRecord ? { textEncoder: encoderRecord } : {}) };
  const tensors = Object.keys(model.params)
    .sort()
    .map((name) => ({ name, dtype: 'F32', shape: model.params[name]!.shape }));
  const weightsArtifact = publicArtifact(
    await artifacts.put(weights, { kind: KINDS.weights, mediaType: 'application/octet-stream', producer: input.producer, parameters, inputs, tensors }),
  );
  const onnxArtifact = publicArtifact(
    await artifacts.put(onnx, {
      kind: KINDS.onnx,
      mediaType: 'application/onnx',
      producer: input.producer,
      parameters,
      inputs: [...inputs, { id: weightsArtifact.id, sha256: weightsArtifact.sha256, role: 'weights' }],
      metadata: { models: model.models, task: model.task, mode: config.mode },
    }),
  );
  const validation = { ...model.validation, loss: jsonNum(model.validation.loss), metric: jsonNum(model.validation.metric) };
  const record: ModelRecord = {
    version: 1,
    featureSet: input.featureSet,
    task: model.task,
    models: model.models,
    ...(model.classes ? { classes: model.classes } : {}),
    ...(model.genes ? { genes: model.genes } : {}),
    config: config as unknown as Record<string, unknown>,
    ...(encoderRecord ? { textEncoder: encoderRecord } : {}),
    weights: weightsArtifact.id,
    onnx: onnxArtifact.id,
    validation,
    history: historySummary(model),
    split: { train: model.split.train.length, val: model.split.val.length },
    interpretation,
    evaluation,
  };
  const recordArtifact = await artifacts.put(jsonBytes(record), {
    kind: KINDS.model,
    mediaType: 'application/json',
    producer: input.producer,
    parameters,
    inputs: [...inputs, { id: weightsArtifact.id, sha256: weightsArtifact.sha256, role: 'weights' }, { id: onnxArtifact.id, sha256: onnxArtifact.sha256, role: 'onnx' }],
    metadata: { task: model.task, models: model.models.map((m) => m.name), validation, ...(encoderRecord ? { textEncoder: encoderRecord.id } : {}) },
  });
  progress(1, 'done');
  return { model: recordArtifact.id, weights: weightsArtifact, onnx: onnxArtifact, validation, ...(evaluation ? { evaluation } : {}) };
}
