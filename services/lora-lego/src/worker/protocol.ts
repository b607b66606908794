import type { StoreConfig } from '@weightsmith/store';
import type { FieldIssue } from '@weightsmith/core';

/** What the main thread hands a task worker. */
export interface TaskWorkerData {
  task: 'merge' | 'analysis';
  store: StoreConfig;
  intraOpNumThreads: number;
  input: unknown;
}

export type TaskWorkerMessage =
  | { type: 'progress'; fraction: number; message: string }
  | { type: 'result'; result: unknown }
  | { type: 'error'; error: { code: string; message: string; field?: string; issues?: FieldIssue[]; retryAfter?: number; stack?: string } };
