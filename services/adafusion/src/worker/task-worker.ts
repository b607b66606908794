/**
 * Worker-thread entry for fits, predictions, fusions and dominance plots: tfjs-wasm fits and
 * onnxruntime runs block the thread they run on, so they run here and the service's event loop
 * keeps answering health checks, job polls and uploads meanwhile.
 */
import { serveTasks } from '@weightsmith/http';
import { runFitTask, type FitTaskInput } from '../pipeline/fit-task.js';
import { runDominancePlotTask, type DominancePlotInput } from '../pipeline/plot-task.js';
import { runFusionTask, runPredictionTask, type PredictionTaskInput, type SlidesTaskInput } from '../pipeline/predict-task.js';

serveTasks({
  fit: (input, ctx) => runFitTask(input as FitTaskInput, ctx.artifacts, ctx.progress, ctx.intraOpNumThreads),
  prediction: (input, ctx) => runPredictionTask(input as PredictionTaskInput, ctx.artifacts, ctx.progress, ctx.intraOpNumThreads),
  fusion: (input, ctx) => runFusionTask(input as SlidesTaskInput, ctx.artifacts, ctx.progress, ctx.intraOpNumThreads),
  dominancePlot: (input, ctx) => runDominancePlotTask(input as DominancePlotInput, ctx.artifacts, ctx.intraOpNumThreads),
});
