/**
 * Runs ONNX inference on a pool of worker threads, because onnxruntime-node's `session.run()`
 * blocks the calling thread's event loop for the whole run: on the main thread that would stall
 * health checks, metrics and every other request.
 *
 * - Each worker keeps its own SessionCache, so a model is loaded at most once per worker.
 * - Model bytes are copied once into a SharedArrayBuffer; workers receive a view (no copy).
 * - Feeds are copied into fresh buffers and transferred (the caller's arrays are never shared or
 *   detached); results come back as transferred buffers.
 * - Requests queue (FIFO) while every worker is busy; a worker that has the model loaded is
 *   preferred.
 * - A worker that dies rejects its in-flight request with an `internal` error and is replaced.
 *
 * The worker script is TypeScript when this library runs from source: the worker is started
 * through a small bootstrap that registers tsx's loader in the worker (Node 20 does not apply the
 * parent's `--import tsx` to a worker's entry script). This works under `node --import tsx`,
 * `node --import tsx --test` and the plain `tsx` CLI alike. When compiled to .js, the worker
 * starts directly.
 */
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { ErrorCode, WeightsmithError, invalidInput, notFound, siblingModuleUrl, startModuleWorker } from '@weightsmith/core';
import { modelKey, ortSessionOptions, type ModelSource, type SessionOptions } from './session-cache.js';
import { copyTensor, transferList, validateTensor, type TensorMap, type ValueInfo } from './tensor-data.js';
import type { LoadResult, WorkerInit, WorkerModelSource, WorkerRequest, WorkerResponse } from './worker-protocol.js';

export interface InferencePoolOptions extends SessionOptions {
  /** Worker threads (concurrent runs). Default 1. */
  threads?: number;
  /** Sessions each worker keeps open (LRU beyond). Default 8. */
  maxModelsPerWorker?: number;
  /** Heap limits for each worker (see worker_threads). Native onnxruntime memory is not covered. */
  resourceLimits?: ResourceLimits;
  /**
   * Worker entry script; default the bundled inference worker. A replacement must import it (and
   * may first set up anything else the worker needs, e.g. telemetry).
   */
  workerUrl?: URL;
}

/** A model registered with the pool. */
export interface PoolModel {
  /** Model identity ('sha256:…' for bytes, 'file:path:mtime:size' for files). */
  readonly id: string;
  readonly name: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
}

export interface LoadOptions {
  /** Name used in messages and errors; default the path, or the id. */
  name?: string;
}

export interface RunOptions {
  /**
   * Cancels the request: a queued one is dropped; a running one is answered `cancelled` at once,
   * while its worker finishes the run (onnxruntime cannot interrupt one) and discards the result
   * before it takes other work. The worker is not terminated: ending a worker thread while
   * onnxruntime's native code runs in it can abort the whole process.
   */
  signal?: AbortSignal;
}

export interface PoolStats {
  threads: number;
  busy: number;
  queued: number;
  models: number;
  /** Workers replaced after dying. */
  restarts: number;
  /** Workers finishing a cancelled run (busy, but answering nobody). */
  draining: number;
}

interface RegisteredModel {
  model: PoolModel | undefined;
  source: WorkerModelSource;
  name: string;
  loading: Promise<PoolModel>;
}

interface Task {
  kind: 'load' | 'run';
  modelId: string;
  name: string;
  source: WorkerModelSource;
  feeds?: TensorMap;
  outputNames?: string[] | undefined;
  resolve: (value: LoadResult | TensorMap) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal | undefined;
  onAbort?: () => void;
}

interface Slot {
  worker: Worker;
  task: Task | undefined;
  /** Models this worker has loaded (as far as the pool knows; the worker may have evicted some). */
  models: Set<string>;
  ready: boolean;
  /** Set when the pool itself ends the worker (close), so its exit is not a crash. */
  retiring: boolean;
  /** The request id of a cancelled run the worker is still finishing; it takes no work until that answers. */
  draining: number | undefined;
  error: Error | undefined;
}

const MAX_START_FAILURES = 3;

export class InferencePool {
  private readonly threads: number;
  private readonly init: WorkerInit;
  private readonly resourceLimits: ResourceLimits | undefined;
  private readonly workerUrl: URL;
  private readonly slots = new Set<Slot>();
  private readonly queue: Task[] = [];
  private readonly models = new Map<string, RegisteredModel>();
  private nextId = 1;
  private readonly pending = new Map<number, { slot: Slot; task: Task }>();
  /** close() waits on in-flight tasks through these. */
  private readonly settledWaiters = new Map<Task, (() => void)[]>();
  /** close() waits through these for workers finishing cancelled runs. */
  private drainWaiters: (() => void)[] = [];
  private restarts = 0;
  private startFailures = 0;
  private broken: WeightsmithError | undefined;
  private closing: Promise<void> | undefined;

  constructor(opts: InferencePoolOptions = {}) {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw invalidInput('threads', `threads must be an integer from 1 to 64, got ${threads}`);
    const maxSessions = opts.maxModelsPerWorker ?? 8;
    if (!Number.isInteger(maxSessions) || maxSessions < 1) throw invalidInput('maxModelsPerWorker', `maxModelsPerWorker must be a positive integer, got ${maxSessions}`);
    const session: SessionOptions = {};
    if (opts.intraOpNumThreads !== undefined) session.intraOpNumThreads = opts.intraOpNumThreads;
    if (opts.interOpNumThreads !== undefined) session.interOpNumThreads = opts.interOpNumThreads;
    if (opts.graphOptimizationLevel !== undefined) session.graphOptimizationLevel = opts.graphOptimizationLevel;
    ortSessionOptions(session); // fail here, not in every worker
    this.threads = threads;
    this.init = { session, maxSessions };
    this.resourceLimits = opts.resourceLimits;
    this.workerUrl = opts.workerUrl ?? defaultWorkerUrl();
    for (let i = 0; i < threads; i++) this.spawn();
  }

  /**
   * Registers a model and loads it on one worker (so a broken model fails here, with
   * invalid_format). Other workers load it on their first run. Loading the same bytes or the same
   * unchanged file again returns the same model.
   */
  async load(source: ModelSource, opts: LoadOptions = {}): Promise<PoolModel> {
    this.assertOpen();
    const id = await modelKey(source);
    const existing = this.models.get(id);
    if (existing !== undefined) return existing.loading;
    const name = opts.name ?? (typeof source === 'string' ? source : id.slice(0, 19));
    const workerSource: WorkerModelSource = typeof source === 'string' ? source : toShared(source);
    const entry: RegisteredModel = { model: undefined, source: workerSource, name, loading: Promise.resolve(undefined as never) };
    entry.loading = this.submit({ kind: 'load', modelId: id, name, source: workerSource }).then((value) => {
      const { inputs, outputs } = value as LoadResult;
      const model: PoolModel = Object.freeze({ id, name, inputs: Object.freeze(inputs), outputs: Object.freeze(outputs) });
      entry.model = model;
      return model;
    });
    entry.loading.catch(() => {
      if (this.models.get(id) === entry) this.models.delete(id);
    });
    this.models.set(id, entry);
    return entry.loading;
  }

  /**
   * Runs a model on a worker. Feeds are validated against the model's declared inputs (names,
   * dtypes, ranks, fixed dims) before anything is queued, and copied (never shared).
   */
  async run(model: PoolModel, feeds: TensorMap, outputNames?: string[], opts: RunOptions = {}): Promise<TensorMap> {
    this.assertOpen();
    const entry = this.models.get(model.id);
    if (entry?.model === undefined) throw notFound(`model '${model.name}' is not loaded in this pool`, 'model');
    checkFeeds(entry.model, feeds);
    if (outputNames !== undefined) checkOutputNames(entry.model, outputNames);
    if (opts.signal?.aborted) throw cancelled(entry.name);
    const copies: TensorMap = {};
    for (const [k, t] of Object.entries(feeds)) copies[k] = copyTensor(t);
    const out = await this.submit({
      kind: 'run',
      modelId: model.id,
      name: entry.name,
      source: entry.source,
      feeds: copies,
      outputNames: outputNames === undefined ? undefined : [...outputNames],
      signal: opts.signal,
    });
    return out as TensorMap;
  }

  /** Forgets a model and releases its sessions in every worker. */
  async unload(model: PoolModel): Promise<void> {
    const entry = this.models.get(model.id);
    if (entry === undefined) return;
    await entry.loading.catch(() => undefined);
    this.models.delete(model.id);
    for (const slot of this.slots) {
      if (slot.models.delete(model.id)) slot.worker.postMessage({ type: 'unload', key: model.id } satisfies WorkerRequest);
    }
  }

  stats(): PoolStats {
    let busy = 0;
    for (const s of this.slots) if (s.task !== undefined) busy++;
    let draining = 0;
    for (const s of this.slots) if (s.draining !== undefined) draining++;
    return { threads: this.threads, busy, queued: this.queue.length, models: this.models.size, restarts: this.restarts, draining };
  }

  /**
   * Stops the pool: queued requests reject with `not_ready`, in-flight runs finish (or, with
   * `force`, reject with `cancelled` at once), then every worker is terminated.
   */
  close(opts: { force?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      for (const task of this.queue.splice(0)) this.settle(task, { ok: false, error: closedError() });
      const inFlight = [...this.slots].map((s) => s.task).filter((t): t is Task => t !== undefined);
      if (opts.force) {
        for (const t of inFlight) this.settle(t, { ok: false, error: cancelled(t.name) });
      } else {
        await Promise.all(inFlight.map((t) => new Promise<void>((res) => this.onSettled(t, res))));
        // Workers finishing cancelled runs are not terminated inside onnxruntime either.
        if ([...this.slots].some((s) => s.draining !== undefined)) await new Promise<void>((res) => this.drainWaiters.push(res));
      }
      const slots = [...this.slots];
      for (const s of slots) s.retiring = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
      this.slots.clear();
      this.models.clear();
    })();
    return this.closing;
  }

  // ---------------------------------------------------------------- scheduling

  private submit(spec: Omit<Task, 'resolve' | 'reject'>): Promise<LoadResult | TensorMap> {
    if (this.broken !== undefined) return Promise.reject(this.broken);
    return new Promise((resolve, reject) => {
      const task: Task = { ...spec, resolve, reject };
      if (task.signal !== undefined) {
        task.onAbort = () => this.abort(task);
        task.signal.addEventListener('abort', task.onAbort, { once: true });
      }
      this.queue.push(task);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const idle = [...this.slots].filter((s) => s.task === undefined && !s.retiring && s.draining === undefined);
      if (idle.length === 0) return;
      const task = this.queue.shift() as Task;
      const slot = idle.find((s) => s.models.has(task.modelId)) ?? (idle[0] as Slot);
      const id = this.nextId++;
      slot.task = task;
      slot.worker.ref(); // a request in flight keeps the process alive until it answers
      this.pending.set(id, { slot, task });
      if (task.kind === 'load') {
        slot.worker.postMessage({ type: 'load', id, key: task.modelId, name: task.name, source: task.source } satisfies WorkerRequest);
      } else {
        const feeds = task.feeds ?? {};
        const msg: WorkerRequest = { type: 'run', id, key: task.modelId, name: task.name, source: task.source, feeds, outputNames: task.outputNames };
        slot.worker.postMessage(msg, transferList(feeds));
        task.feeds = undefined; // transferred: the worker owns those buffers now
      }
    }
  }

  private abort(task: Task): void {
    const queued = this.queue.indexOf(task);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
    } else {
      const running = [...this.pending].find(([, p]) => p.task === task);
      if (running === undefined) return; // already settled
      const [id, { slot }] = running;
      // onnxruntime cannot interrupt a run, and terminating the worker inside one can abort the
      // process: let the run finish and drop its answer (see onMessage).
      slot.draining = id;
      this.settle(task, { ok: false, error: cancelled(task.name) });
      slot.worker.ref(); // settle() unref'd it; the run still holds the worker
      return;
    }
    this.settle(task, { ok: false, error: cancelled(task.name) });
  }

  /** Ends a task exactly once: frees its worker, detaches its abort listener, answers the caller. */
  private settle(task: Task, outcome: { ok: true; value: LoadResult | TensorMap } | { ok: false; error: unknown }): void {
    if (task.onAbort !== undefined) task.signal?.removeEventListener('abort', task.onAbort);
    for (const [id, p] of this.pending) {
      if (p.task === task) {
        this.pending.delete(id);
        if (p.slot.task === task) {
          p.slot.task = undefined;
          p.slot.worker.unref();
        }
      }
    }
    const waiters = this.settledWaiters.get(task);
    this.settledWaiters.delete(task);
    if (outcome.ok) task.resolve(outcome.value);
    else task.reject(outcome.error);
    waiters?.forEach((w) => w());
  }

  private onSettled(task: Task, fn: () => void): void {
    const list = this.settledWaiters.get(task) ?? [];
    list.push(fn);
    this.settledWaiters.set(task, list);
  }

  // ---------------------------------------------------------------- workers

  private spawn(): void {
    const worker = startWorker(this.workerUrl, this.init, this.resourceLimits);
    const slot: Slot = { worker, task: undefined, models: new Set(), ready: false, retiring: false, draining: undefined, error: undefined };
    this.slots.add(slot);
    worker.on('message', (msg: WorkerResponse) => this.onMessage(slot, msg));
    worker.on('error', (err) => {
      slot.error = err;
    });
    worker.on('exit', (code) => this.onExit(slot, code));
    // An idle pool must not keep the process alive; dispatch() refs a worker while it works.
    worker.unref();
  }

  private onMessage(slot: Slot, msg: WorkerResponse): void {
    if (msg.type === 'ready') {
      slot.ready = true;
      this.startFailures = 0;
      return;
    }
    if (msg.id === slot.draining) {
      // The cancelled run is over: its answer goes nowhere, and the worker is free again.
      slot.draining = undefined;
      slot.worker.unref();
      if (![...this.slots].some((s) => s.draining !== undefined)) for (const w of this.drainWaiters.splice(0)) w();
      this.dispatch();
      return;
    }
    const p = this.pending.get(msg.id);
    if (p === undefined || p.slot !== slot) return;
    const task = p.task;
    if (msg.ok) {
      slot.models.add(task.modelId);
      this.settle(task, { ok: true, value: msg.value });
    } else {
      const e = msg.error;
      const error = new WeightsmithError(e.code, e.message, { ...(e.field === undefined ? {} : { field: e.field }), issues: e.issues });
      this.settle(task, { ok: false, error });
    }
    this.dispatch();
  }

  private onExit(slot: Slot, code: number): void {
    this.slots.delete(slot);
    if (slot.draining !== undefined && ![...this.slots].some((s) => s.draining !== undefined)) for (const w of this.drainWaiters.splice(0)) w();
    if (slot.retiring) return;
    const reason = slot.error !== undefined ? slot.error.message : `exit code ${code}`;
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) {
      // The worker cannot even start (bad script, missing dependency): stop retrying.
      this.broken = new WeightsmithError(ErrorCode.Internal, `inference workers fail to start: ${reason}`, { cause: slot.error });
      for (const task of this.queue.splice(0)) this.settle(task, { ok: false, error: this.broken });
    }
    const task = slot.task;
    if (task !== undefined) {
      const doing = task.kind === 'load' ? 'loading' : 'running';
      const error = new WeightsmithError(ErrorCode.Internal, `inference worker stopped unexpectedly (${reason}) while ${doing} model '${task.name}'`, {
        cause: slot.error,
      });
      this.settle(task, { ok: false, error });
    }
    if (this.closing === undefined && this.broken === undefined) {
      this.restarts++;
      this.spawn();
      this.dispatch();
    }
  }

  private assertOpen(): void {
    if (this.closing !== undefined) throw closedError();
    if (this.broken !== undefined) throw this.broken;
  }
}

function closedError(): WeightsmithError {
  return new WeightsmithError(ErrorCode.NotReady, 'the inference pool is closed');
}

function cancelled(name: string): WeightsmithError {
  return new WeightsmithError(ErrorCode.Cancelled, `inference on model '${name}' was cancelled`);
}

function toShared(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw invalidInput('model', 'model must be a Uint8Array of ONNX bytes or a file path');
  const view = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  view.set(bytes);
  return view;
}

function checkFeeds(model: PoolModel, feeds: TensorMap): void {
  if (typeof feeds !== 'object' || feeds === null) throw invalidInput('feeds', 'feeds must be an object of named tensors');
  const declared = new Map(model.inputs.map((i) => [i.name, i]));
  for (const name of Object.keys(feeds)) {
    if (!declared.has(name)) {
      throw invalidInput(`feeds.${name}`, `model '${model.name}' has no input '${name}' (inputs: ${[...declared.keys()].join(', ')})`);
    }
  }
  for (const info of model.inputs) {
    const field = `feeds.${info.name}`;
    const t = feeds[info.name];
    if (t === undefined) throw invalidInput(field, `model '${model.name}' needs input '${info.name}'`);
    validateTensor(field, t);
    if (info.dtype !== null && t.dtype !== info.dtype) {
      throw invalidInput(field, `input '${info.name}' of model '${model.name}' is ${info.dtype}, got ${t.dtype}`);
    }
    if (info.shape.length > 0) {
      const fits = t.dims.length === info.shape.length && info.shape.every((d, i) => typeof d !== 'number' || d === t.dims[i]);
      if (!fits) {
        throw new WeightsmithError(
          ErrorCode.ShapeMismatch,
          `input '${info.name}' of model '${model.name}' has shape [${info.shape.join(', ')}], got [${t.dims.join(', ')}]`,
          { field },
        );
      }
    }
  }
}

function checkOutputNames(model: PoolModel, outputNames: string[]): void {
  const known = new Set(model.outputs.map((o) => o.name));
  if (!Array.isArray(outputNames) || outputNames.length === 0) throw invalidInput('outputNames', 'outputNames must be a non-empty array when given');
  for (const n of outputNames) {
    if (!known.has(n)) throw invalidInput('outputNames', `model '${model.name}' has no output '${n}' (outputs: ${[...known].join(', ')})`);
  }
}

function defaultWorkerUrl(): URL {
  return siblingModuleUrl(import.meta.url, 'inference-worker');
}

function startWorker(url: URL, init: WorkerInit, resourceLimits: ResourceLimits | undefined): Worker {
  return startModuleWorker(url, { workerData: init, ...(resourceLimits === undefined ? {} : { resourceLimits }) });
}
