/**
 * Jobs whose work blocks its thread (onnxruntime's `run()`, JS numeric kernels, tfjs-wasm fits)
 * run in a fresh worker thread, so the service's event loop keeps answering health checks, job
 * polls and uploads meanwhile. Two halves:
 *
 * - `runTaskInWorker` (main thread): starts the worker module with the task's name, store
 *   configuration and input; forwards progress; aborting terminates the worker; the task's
 *   `WeightsmithError` comes back as itself (code, field, issues, retryAfter), so a job shows the
 *   same problem a synchronous call would.
 * - `serveTasks` (the worker module): opens the store from the configuration, runs the named
 *   handler with an `ArtifactStore` over it, and posts the result or the error.
 *
 * A terminated worker's partial work is never visible: artifacts are committed by their
 * manifest, written last.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ErrorCode, WeightsmithError, isWeightsmithError, startModuleWorker, type FieldIssue } from '@weightsmith/core';
import { ArtifactStore, createObjectStore, type ObjectStore, type StoreConfig } from '@weightsmith/store';

/** What the main thread hands a task worker. */
export interface TaskWorkerData {
  /** The handler to run (a key of the worker module's `serveTasks` handlers). */
  task: string;
  store: StoreConfig;
  /** MLAS threads for any onnxruntime session or matmul the task opens. */
  intraOpNumThreads: number;
  /** Structured-cloneable input of the task. */
  input: unknown;
}

/** A task error as it crosses the thread boundary (errors lose their class in structured clone). */
interface SerializedTaskError {
  code: string;
  message: string;
  field?: string;
  issues?: FieldIssue[];
  retryAfter?: number;
  stack?: string;
}

export type TaskWorkerMessage =
  | { type: 'progress'; fraction: number; message: string }
  | { type: 'result'; result: unknown }
  | { type: 'error'; error: SerializedTaskError };

export interface TaskHooks {
  progress?: (fraction: number, message: string) => void;
  signal?: AbortSignal;
}

/** How long a worker that exited with code 0 gets to deliver its last message. */
const LAST_MESSAGE_GRACE_MS = 250;

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

function deserializeError(e: SerializedTaskError): WeightsmithError {
  // A code this build does not know would map to no HTTP status: report it as internal.
  const code = KNOWN_CODES.has(e.code) ? (e.code as ErrorCode) : ErrorCode.Internal;
  const err = new WeightsmithError(code, e.message, {
    ...(e.field === undefined ? {} : { field: e.field }),
    ...(e.issues === undefined ? {} : { issues: e.issues }),
    ...(e.retryAfter === undefined ? {} : { retryAfter: e.retryAfter }),
  });
  if (e.stack) err.stack = e.stack;
  return err;
}

function serializeError(err: unknown): SerializedTaskError {
  if (isWeightsmithError(err)) {
    return {
      code: err.code,
      message: err.message,
      ...(err.field === undefined ? {} : { field: err.field }),
      issues: err.issues,
      ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }),
      ...(err.stack ? { stack: err.stack } : {}),
    };
  }
  return {
    code: ErrorCode.Internal,
    message: err instanceof Error ? err.message : String(err),
    ...(err instanceof Error && err.stack ? { stack: err.stack } : {}),
  };
}

/**
 * Runs one task in a fresh worker thread started from `workerModule` (a module that calls
 * `serveTasks`) and resolves with its result.
 */
export function runTaskInWorker<R>(workerModule: URL, data: TaskWorkerData, hooks: TaskHooks = {}): Promise<R> {
  hooks.signal?.throwIfAborted();
  const worker = startModuleWorker(workerModule, { workerData: data });
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      hooks.signal?.removeEventListener('abort', onAbort);
      void worker.terminate();
      fn();
    };
    const onAbort = (): void => finish(() => reject(new WeightsmithError(ErrorCode.Cancelled, `${data.task} cancelled`)));
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: TaskWorkerMessage) => {
      if (settled) return;
      if (m.type === 'progress') hooks.progress?.(m.fraction, m.message);
      else if (m.type === 'result') finish(() => resolve(m.result as R));
      else finish(() => reject(deserializeError(m.error)));
    });
    worker.on('error', (err) => finish(() => reject(new WeightsmithError(ErrorCode.Internal, `${data.task} worker failed: ${err.message}`, { cause: err }))));
    worker.on('exit', (code) => {
      const fail = (): void => finish(() => reject(new WeightsmithError(ErrorCode.Internal, `${data.task} worker exited (code ${code}) without a result`)));
      // A worker that finished normally may still have its last message in flight: give the
      // port a moment to deliver it before calling the exit a failure.
      if (code === 0) setTimeout(fail, LAST_MESSAGE_GRACE_MS).unref();
      else fail();
    });
  });
}

/** What a task handler gets besides its input. */
export interface TaskContext {
  artifacts: ArtifactStore;
  store: ObjectStore;
  /** Reports progress (0..1) to the job. */
  progress(fraction: number, message: string): void;
  intraOpNumThreads: number;
}

export type TaskHandler = (input: unknown, ctx: TaskContext) => Promise<unknown>;

export interface ServeTasksOptions {
  /** Runs once before the store is opened (e.g. configuring the matmul backend's threads). */
  setup?: (data: TaskWorkerData) => Promise<void> | void;
}

/**
 * The body of a task worker module: runs the handler `workerData.task` names and posts its
 * result or error to the main thread. Call it once, at the top level of the worker module.
 */
export function serveTasks(handlers: Record<string, TaskHandler>, options: ServeTasksOptions = {}): void {
  if (isMainThread || parentPort === null) throw new Error('serveTasks runs in a worker thread started by runTaskInWorker');
  const port = parentPort;
  const data = workerData as TaskWorkerData;
  const post = (m: TaskWorkerMessage): void => port.postMessage(m);

  async function main(): Promise<unknown> {
    const handler = Object.hasOwn(handlers, data.task) ? handlers[data.task] : undefined;
    if (handler === undefined) {
      throw new WeightsmithError(ErrorCode.Internal, `this worker serves no task '${data.task}' (it serves ${Object.keys(handlers).join(', ')})`);
    }
    await options.setup?.(data);
    const store = await createObjectStore(data.store);
    try {
      const progress = (fraction: number, message: string): void => post({ type: 'progress', fraction, message });
      return await handler(data.input, { artifacts: new ArtifactStore(store), store, progress, intraOpNumThreads: data.intraOpNumThreads });
    } finally {
      await store.close();
    }
  }

  main().then(
    (result) => post({ type: 'result', result }),
    (err: unknown) => post({ type: 'error', error: serializeError(err) }),
  );
}
