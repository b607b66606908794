import { siblingModuleUrl } from '@weightsmith/core';

/** The worker module lora-lego's jobs run in (`task-worker.ts`, or `.js` when compiled). */
export const TASK_WORKER_MODULE = siblingModuleUrl(import.meta.url, 'task-worker');
