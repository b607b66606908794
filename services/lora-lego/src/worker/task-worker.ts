/**
 * Worker-thread entry for merges and analyses. They are seconds to minutes of numeric work
 * (onnxruntime's run() and the JS kernels block their thread), so they run here, and the
 * service's event loop keeps answering health checks, job polls and uploads meanwhile.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isWeightsmithError } from '@weightsmith/core';
import { ArtifactStore, createObjectStore } from '@weightsmith/store';
import { configureMatmul } from '@weightsmith/tensor';
import { runAnalysisTask, type AnalysisTaskInput } from '../pipeline/analysis-task.js';
import { runMergeTask, type MergeTaskInput } from '../pipeline/merge-task.js';
import type { TaskWorkerData, TaskWorkerMessage } from './protocol.js';

const data = workerData as TaskWorkerData;
const post = (m: TaskWorkerMessage): void => parentPort!.postMessage(m);

async function main(): Promise<unknown> {
  await configureMatmul({ intraOpNumThreads: data.intraOpNumThreads });
  const store = await createObjectStore(data.store);
  try {
    const artifacts = new ArtifactStore(store);
    const progress = (fraction: number, message: string): void => post({ type: 'progress', fraction, message });
    if (data.task === 'merge') return await runMergeTask(data.input as MergeTaskInput, artifacts, progress);
    return await runAnalysisTask(data.input as AnalysisTaskInput, artifacts, progress);
  } finally {
    await store.close();
  }
}

main().then(
  (result) => post({ type: 'result', result }),
  (err: unknown) => {
    if (isWeightsmithError(err)) {
      post({
        type: 'error',
        error: {
          code: err.code,
          message: err.message,
          ...(err.field === undefined ? {} : { field: err.field }),
          issues: err.issues,
          ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }),
        },
      });
    } else {
      post({ type: 'error', error: { code: 'internal', message: err instanceof Error ? err.message : String(err), ...(err instanceof Error && err.stack ? { stack: err.stack } : {}) } });
    }
  },
);
