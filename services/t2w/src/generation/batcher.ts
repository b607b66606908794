/**
 * Dynamic batching of denoiser calls: the steps of concurrent requests for one bundle are
 * concatenated row-wise into one denoiser call (rows carry their own timestep, so requests at
 * different points of their chains share a call too) and the output is split back.
 *
 * A step goes out as soon as a worker is free — after the current turn of the event loop, so the
 * requests a finished batch releases all queue their next step first and go out together — or,
 * with `maxWaitMs` > 0, after waiting that long for company. A batch never splits a request's
 * rows and holds at most `maxRows` rows unless a single request alone is larger; with several
 * workers free, the queued rows are spread evenly over them (a batch each). While
 * `maxInFlight` batches run, new steps queue and leave together as soon as one finishes, so under
 * load the batch size grows by itself and a lone request pays no waiting. Batching never changes
 * a request's bytes: the runtime batches only denoisers whose rows are batch-invariant (see
 * batch-invariance.ts) and each request draws noise from its own Rng.
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { Denoise } from '../diffusion/index.js';

export interface BatcherOptions {
  /** Rows per denoiser call (a request's guidance doubles its rows). */
  maxRows: number;
  /** How long the first queued step waits for others before its batch goes out (0 = the end of the current event-loop turn). */
  maxWaitMs: number;
  /** Batches running at once (e.g. the InferencePool's worker count). */
  maxInFlight: number;
}

export interface BatcherStats {
  calls: number;
  rows: number;
  /** Steps (request-level denoiser calls) served. */
  steps: number;
}

interface PendingStep {
  x: Float32Array;
  t: Float32Array;
  cond: Float32Array;
  rows: number;
  resolve: (out: Float32Array) => void;
  reject: (err: unknown) => void;
  detach: () => void;
}

const cancelled = (): WeightsmithError => new WeightsmithError(ErrorCode.Cancelled, 'the request was cancelled while its denoiser step was queued');

export class DenoiseBatcher {
  private readonly queue: PendingStep[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private timeout: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private readonly counters: BatcherStats = { calls: 0, rows: 0, steps: 0 };

  /** `run` is one denoiser call over [rows, P] x, [rows] t, [rows, E] cond. */
  constructor(
    private readonly run: Denoise,
    private readonly dims: { P: number; E: number },
    private readonly options: BatcherOptions,
  ) {
    for (const key of ['maxRows', 'maxInFlight'] as const) {
      if (!Number.isSafeInteger(options[key]) || options[key] < 1) throw new RangeError(`${key} must be a positive integer, got ${options[key]}`);
    }
    if (!(options.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${options.maxWaitMs}`);
  }

  /** A `Denoise` for one request; an abort while its step is queued rejects that step alone. */
  denoiser(signal?: AbortSignal): Denoise {
    return (x, t, cond) => this.enqueue(x, t, cond, signal);
  }

  stats(): BatcherStats {
    return { ...this.counters };
  }

  private enqueue(x: Float32Array, t: Float32Array, cond: Float32Array, signal: AbortSignal | undefined): Promise<Float32Array> {
    if (signal?.aborted) return Promise.reject(cancelled());
    return new Promise<Float32Array>((resolve, reject) => {
      const step: PendingStep = { x, t, cond, rows: t.length, resolve, reject, detach: () => {} };
      if (signal) {
        const onAbort = (): void => {
          const i = this.queue.indexOf(step);
          if (i < 0) return; // already running: its batch finishes, the caller sees the abort itself
          this.queue.splice(i, 1);
          this.queuedRows -= step.rows;
          reject(cancelled());
        };
        signal.addEventListener('abort', onAbort, { once: true });
        step.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(step);
      this.queuedRows += step.rows;
      if (this.queuedRows >= this.options.maxRows) this.dispatch();
      else this.armTimer();
    });
  }

  /** Dispatch after `maxWaitMs`, or at the end of this event-loop turn when that is 0. */
  private armTimer(): void {
    if (this.timeout !== undefined || this.immediate !== undefined) return;
    if (this.options.maxWaitMs > 0) this.timeout = setTimeout(() => this.dispatch(), this.options.maxWaitMs);
    else this.armImmediate();
  }

  private armImmediate(): void {
    this.clearTimers();
    this.immediate = setImmediate(() => this.dispatch());
  }

  private clearTimers(): void {
    clearTimeout(this.timeout);
    clearImmediate(this.immediate);
    this.timeout = undefined;
    this.immediate = undefined;
  }

  private dispatch(): void {
    this.clearTimers();
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      // Spread the queued rows evenly over the free workers (a batch each), up to maxRows a batch.
      const target = Math.min(this.options.maxRows, Math.ceil(this.queuedRows / (this.options.maxInFlight - this.inFlight)));
      const batch: PendingStep[] = [];
      let rows = 0;
      while (this.queue.length > 0 && (batch.length === 0 || rows + this.queue[0]!.rows <= target)) {
        const step = this.queue.shift()!;
        step.detach();
        batch.push(step);
        rows += step.rows;
      }
      this.queuedRows -= rows;
      this.inFlight++;
      void this.runBatch(batch, rows).finally(() => {
        this.inFlight--;
        // Steps that queued while this batch ran have waited long enough; the ones this batch
        // releases queue during this turn and join them.
        if (this.queue.length > 0) this.armImmediate();
      });
    }
  }

  private async runBatch(batch: PendingStep[], rows: number): Promise<void> {
    const { P, E } = this.dims;
    try {
      let out: Float32Array;
      if (batch.length === 1) {
        const s = batch[0]!;
        out = await this.run(s.x, s.t, s.cond);
      } else {
        const x = new Float32Array(rows * P);
        const t = new Float32Array(rows);
        const cond = new Float32Array(rows * E);
        let r = 0;
        for (const s of batch) {
          x.set(s.x, r * P);
          t.set(s.t, r);
          cond.set(s.cond, r * E);
          r += s.rows;
        }
        out = await this.run(x, t, cond);
      }
      if (out.length !== rows * P) throw new WeightsmithError(ErrorCode.Internal, `denoiser returned ${out.length} values for ${rows} rows of ${P}`);
      this.counters.calls++;
      this.counters.rows += rows;
      this.counters.steps += batch.length;
      let r = 0;
      for (const s of batch) {
        // Views of one output buffer: samplers only read a step's output.
        s.resolve(batch.length === 1 ? out : out.subarray(r * P, (r + s.rows) * P));
        r += s.rows;
      }
    } catch (err) {
      for (const s of batch) s.reject(err);
    }
  }
}
