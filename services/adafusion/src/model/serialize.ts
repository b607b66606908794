/**
 * A fitted model as files: the parameters as safetensors (F32, the fit's config, models, task,
 * history and validation in `__metadata__`) and the ONNX export for inference.
 */
import { ErrorCode, WeightsmithError, invalidFormat } from '@weightsmith/core';
import { memorySource, openSafetensors, serializeSafetensors } from '@weightsmith/safetensors';
import { z } from 'zod';
import { fitConfigSchema } from './config.js';
import { exportFusionOnnx } from './onnx-export.js';
import type { ParamMap } from './params.js';
import type { FittedFusionModel } from './types.js';

export const FUSION_FORMAT = 'weightsmith-adafusion/1';

const metadataSchema = z.object({
  models: z.array(z.object({ name: z.string(), dim: z.number().int().positive() })).min(1),
  usedModels: z.array(z.number().int().min(0)).min(1),
  task: z.enum(['classification', 'regression']),
  classes: z.array(z.string()).optional(),
  genes: z.array(z.string()).optional(),
  history: z.array(z.object({ epoch: z.number(), trainLoss: z.number(), valLoss: z.number(), valMetric: z.number().nullable() })),
  validation: z.object({ loss: z.number(), metric: z.number().nullable(), metricName: z.enum(['balanced_accuracy', 'pearson_r']), epoch: z.number() }),
  split: z.object({ train: z.array(z.string()), val: z.array(z.string()) }),
});

export async function serializeFusionModel(model: FittedFusionModel): Promise<{ weights: Uint8Array; onnx: Uint8Array }> {
  const names = Object.keys(model.params).sort();
  const tensors = names.map((name) => ({ name, dtype: 'F32' as const, shape: model.params[name]!.shape, data: model.params[name]!.data }));
  const meta = {
    models: model.models,
    usedModels: model.usedModels,
    task: model.task,
    ...(model.classes ? { classes: model.classes } : {}),
    ...(model.genes ? { genes: model.genes } : {}),
    history: model.history,
    validation: model.validation,
    split: model.split,
  };
  const weights = await serializeSafetensors(tensors, {
    format: FUSION_FORMAT,
    config: JSON.stringify(model.config),
    model: JSON.stringify(meta),
  });
  return { weights, onnx: exportFusionOnnx(model) };
}

function parseJson(text: string | undefined, key: string): unknown {
  if (text === undefined) throw invalidFormat(`the weights file has no '${key}' metadata`, `__metadata__.${key}`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `metadata '${key}' is not JSON`, { field: `__metadata__.${key}`, cause: err });
  }
}

export async function loadFusionModel(bytes: Uint8Array): Promise<FittedFusionModel> {
  const file = await openSafetensors(memorySource(bytes));
  try {
    if (file.metadata['format'] !== FUSION_FORMAT) {
      throw invalidFormat(`the weights file is not an AdaFusion model (format '${file.metadata['format'] ?? '(none)'}', expected '${FUSION_FORMAT}')`, '__metadata__.format');
    }
    const config = fitConfigSchema.safeParse(parseJson(file.metadata['config'], 'config'));
    if (!config.success) throw invalidFormat(`metadata 'config' is not a valid fit configuration: ${config.error.issues[0]?.message ?? ''}`, '__metadata__.config');
    const meta = metadataSchema.safeParse(parseJson(file.metadata['model'], 'model'));
    if (!meta.success) {
      const i = meta.error.issues[0];
      throw invalidFormat(`metadata 'model' is malformed at ${i?.path.join('.') ?? ''}: ${i?.message ?? ''}`, '__metadata__.model');
    }
    const params: ParamMap = {};
    for await (const t of file) {
      if (t.dtype !== 'F32') throw invalidFormat(`tensor '${t.name}' is ${t.dtype}; AdaFusion weights are F32`, t.name);
      params[t.name] = { shape: [...t.shape], data: Float32Array.from(t.data as Float32Array) };
    }
    const m = meta.data;
    const model: FittedFusionModel = {
      config: config.data,
      models: m.models,
      usedModels: m.usedModels,
      task: m.task,
      params,
      history: m.history.map((h) => ({ ...h, valMetric: h.valMetric ?? NaN })),
      validation: { ...m.validation, metric: m.validation.metric ?? NaN },
      split: m.split,
    };
    if (m.classes) model.classes = m.classes;
    if (m.genes) model.genes = m.genes;
    return model;
  } finally {
    await file.close();
  }
}
