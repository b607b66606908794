/** What a fit produces and what export, prediction and serialisation consume. */
import type { ModelSpec, TaskKind } from '../types.js';
import type { FitConfig } from './config.js';
import type { ParamMap } from './params.js';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  /** Balanced accuracy (classification) or mean Pearson r over genes (regression) on the validation slides. */
  valMetric: number;
}

export interface FitProgress {
  epoch: number;
  maxEpochs: number;
  trainLoss: number;
  valLoss: number;
  valMetric?: number;
}

export interface FittedFusionModel {
  config: FitConfig;
  /** Every model of the cohort, in its order (ONNX inputs x0..x{M-1}). */
  models: ModelSpec[];
  /** Indices into `models` the mode uses (one for `single`, all otherwise). */
  usedModels: number[];
  task: TaskKind;
  classes?: string[];
  genes?: string[];
  params: ParamMap;
  history: EpochRecord[];
  /** At the kept (best) epoch. */
  validation: { loss: number; metric: number; metricName: 'balanced_accuracy' | 'pearson_r'; epoch: number };
  split: { train: string[]; val: string[] };
}
