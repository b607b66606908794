/**
 * Worker-thread entry for fits, predictions, fusions, dominance plots and the text-encoder probe:
 * tfjs-wasm fits, onnxruntime runs and the text encoder (tokenizer and graph) block the thread
 * they run on, so they run here and the service's event loop keeps answering health checks, job
 * polls and uploads meanwhile.
 */
import { serveTasks } from '@weightsmith/http';
import { runFitTask, type FitTaskInput } from '../pipeline/fit-task.js';
import { runDominancePlotTask, type DominancePlotInput } from '../pipeline/plot-task.js';
import { runFusionTask, runPredictionTask, type PredictionTaskInput, type SlidesTaskInput } from '../pipeline/predict-task.js';
import { probeTextEncoder, type TextEncoderSource } from '../pipeline/text-encoder.js';

serveTasks({
  fit: (input, ctx) => runFitTask(input as FitTaskInput, ctx),
  prediction: (input, ctx) => runPredictionTask(input as PredictionTaskInput, ctx.artifacts, ctx.progress, ctx.intraOpNumThreads),
  fusion: (input, ctx) => runFusionTask(input as SlidesTaskInput, ctx.artifacts, ctx.progress, ctx.intraOpNumThreads),
  dominancePlot: (input, ctx) => runDominancePlotTask(input as DominancePlotInput, ctx.artifacts, ctx.intraOpNumThreads),
  textEncoderProbe: (input, ctx) => probeTextEncoder(input as TextEncoderSource, ctx.store, ctx.intraOpNumThreads),
});
