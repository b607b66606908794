import { siblingModuleUrl } from '@weightsmith/core';

/** The worker module AdaFusion's tasks run in (`task-worker.ts`, or `.js` when compiled). */
export const TASK_WORKER_MODULE = siblingModuleUrl(import.meta.url, 'task-worker');

/** Task names `task-worker.ts` serves. */
export const TASKS = { fit: 'fit', prediction: 'prediction', fusion: 'fusion', dominancePlot: 'dominancePlot', textEncoderProbe: 'textEncoderProbe' } as const;
