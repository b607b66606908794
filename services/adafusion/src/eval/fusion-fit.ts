/**
 * The real fit → export → inference path as a `FitPredictor`: fits the configuration with
 * `fitFusionModel`, exports it to ONNX and predicts through `FusionPredictor` (onnxruntime), so
 * the scores are those of the model users get, not of the training graph.
 */
import { fitFusionModel } from '../model/fit.js';
import { FusionPredictor } from '../model/predictor.js';
import type { FitPredictor } from './evaluate.js';

export const fitFusionPredictor: FitPredictor = async ({ cohort, trainIds, config, signal, textEncoder, onProgress }) => {
  const model = await fitFusionModel(cohort, trainIds, config, {
    ...(signal ? { signal } : {}),
    ...(textEncoder ? { textEncoder } : {}),
    ...(onProgress ? { onProgress: (p) => onProgress(p.epoch / p.maxEpochs) } : {}),
  });
  return FusionPredictor.load(model);
};
