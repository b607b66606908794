/**
 * Jobs whose work blocks its thread (onnxruntime's `run()`, JS numeric kernels, tfjs-wasm fits)
 * run in a fresh worker thread, so the service's event loop keeps answering health checks, job
 * polls and uploads meanwhile. Two halves:
 *
 * - `runTaskInWorker` (main thread): starts the worker module with the task's name, store
 *   configuration and input; forwards progress; aborting answers `cancelled` and stops the task
 *   at its next progress report (never by terminating it mid-step); the task's
 *   `WeightsmithError` comes back as itself (code, field, issues, retryAfter), so a job shows the
 *   same problem a synchronous call would.
 * - `serveTasks` (the worker module): opens the store from the configuration, runs the named
 *   handler with an `ArtifactStore` over it, and posts the result or the error.
 *
 * A stopped task's partial work is never visible: artifacts are committed by their manifest,
 * written last.
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
 *
 * Aborting answers `cancelled` at once and asks the task to stop: its next `progress()` call
 * throws, so it ends between two steps. The worker is not terminated while the task runs —
 * ending a thread inside onnxruntime's native code can abort the whole process — only once the
 * task has answered.
 */
export function runTaskInWorker<R>(workerModule: URL, data: TaskWorkerData, hooks: TaskHooks = {}): Promise<R> {
  hooks.signal?.throwIfAborted();
  // Shared memory, not a message: a task deep in synchronous work never turns its event loop,
  // but it reads this flag at every progress report.
  const cancelFlag = new Int32Array(new SharedArrayBuffer(4));
  const worker = startModuleWorker(workerModule, { workerData: { ...data, cancelFlag: cancelFlag.buffer } });
  return new Promise<R>((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void, opts: { terminate: boolean } = { terminate: true }): void => {
      if (settled) return;
      settled = true;
      hooks.signal?.removeEventListener('abort', onAbort);
      if (opts.terminate) void worker.terminate();
      fn();
    };
    const onAbort = (): void => {
      if (settled) return;
      Atomics.store(cancelFlag, 0, 1);
      finish(() => reject(new WeightsmithError(ErrorCode.Cancelled, `${data.task} cancelled`)), { terminate: false });
    };
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    worker.on('message', (m: TaskWorkerMessage) => {
      if (settled) {
        // A cancelled task has stopped (or finished anyway): the worker is idle now, end it.
        if (m.type !== 'progress') void worker.terminate();
        return;
      }
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
  /**
   * Reports progress (0..1) to the job. Once the job is cancelled it throws `cancelled`, so a
   * task stops at its next report.
   */
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
  const data = workerData as TaskWorkerData & { cancelFlag: SharedArrayBuffer };
  const cancelFlag = new Int32Array(data.cancelFlag);
  const post = (m: TaskWorkerMessage): void => port.postMessage(m);

  async function main(): Promise<unknown> {
    const handler = Object.hasOwn(handlers, data.task) ? handlers[data.task] : undefined;
    if (handler === undefined) {
      throw new WeightsmithError(ErrorCode.Internal, `this worker serves no task '${data.task}' (it serves ${Object.keys(handlers).join(', ')})`);
    }
    await options.setup?.(data);
    const store = await createObjectStore(data.store);
    try {
      const progress = (fraction: number, message: string): void => {
        if (Atomics.load(cancelFlag, 0) === 1) {
          throw new WeightsmithError(ErrorCode.Cancelled, `${data.task} cancelled`);
        }
        post({ type: 'progress', fraction, message });
      };
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
