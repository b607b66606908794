/**
 * Messages between InferencePool (main thread) and its inference workers. One request per worker
 * at a time; every request carries the model source (a SharedArrayBuffer view or a path, so
 * sending it costs no copy) so that a worker which never saw the model, or evicted it, can load it.
 */
import type { ErrorCode, FieldIssue } from '@weightsmith/core';
import type { SessionOptions } from './session-cache.js';
import type { TensorMap, ValueInfo } from './tensor-data.js';

export interface WorkerInit {
  session: SessionOptions;
  maxSessions: number;
}

/** Bytes live in a SharedArrayBuffer owned by the pool; strings are file paths. */
export type WorkerModelSource = Uint8Array | string;

export type WorkerRequest =
  | { type: 'load'; id: number; key: string; name: string; source: WorkerModelSource }
  | { type: 'run'; id: number; key: string; name: string; source: WorkerModelSource; feeds: TensorMap; outputNames: string[] | undefined }
  | { type: 'unload'; key: string };

export interface LoadResult {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  field: string | undefined;
  issues: FieldIssue[];
}

export type WorkerResponse =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; value: LoadResult | TensorMap }
  | { type: 'result'; id: number; ok: false; error: SerializedError };
