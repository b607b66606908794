/**
 * Worker-thread entry for merges and analyses. They are seconds to minutes of numeric work
 * (onnxruntime's run() and the JS kernels block their thread), so they run here, and the
 * service's event loop keeps answering health checks, job polls and uploads meanwhile.
 */
import { serveTasks } from '@weightsmith/http';
import { configureMatmul } from '@weightsmith/tensor';
import { runAnalysisTask, type AnalysisTaskInput } from '../pipeline/analysis-task.js';
import { runMergeTask, type MergeTaskInput } from '../pipeline/merge-task.js';

serveTasks(
  {
    merge: (input, ctx) => runMergeTask(input as MergeTaskInput, ctx.artifacts, ctx.progress),
    analysis: (input, ctx) => runAnalysisTask(input as AnalysisTaskInput, ctx.artifacts, ctx.progress),
  },
  { setup: (data) => configureMatmul({ intraOpNumThreads: data.intraOpNumThreads }) },
);
