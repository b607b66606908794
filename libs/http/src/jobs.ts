import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { pino, type Logger } from 'pino';
import { ErrorCode, WeightsmithError, invalidInput, isWeightsmithError, notFound } from '@weightsmith/core';
import type { ObjectStore } from '@weightsmith/store';
import { isJobId, newJobId } from './job-id.js';
import { summarizeInput } from './input-summary.js';
import { makeProblem, problemFromError, problemSchema, type Problem } from './problem.js';

/**
 * Long work as jobs: a FIFO queue with bounded concurrency, and one JSON record per job in the
 * object store, rewritten on every transition and at throttled progress updates, so records
 * (and results) outlive the process.
 *
 * Store layout under `prefix` (default `jobs/`):
 * - `<id>.json`      the record;
 * - `active/<id>`    an empty marker while the job is queued or running (written before the
 *                    record, deleted after the final record), so recovery lists only live jobs;
 * - `cancel/<id>`    a cancel request for a job that another instance runs.
 *
 * Inputs are kept in memory only (the record holds a summary), so a job cannot resume after a
 * restart: `recover()` marks jobs left queued/running by a dead process `failed`, with a problem
 * of code `internal` and `reason: 'interrupted'`.
 *
 * Several replicas on one store: every instance heartbeats its live jobs (`updated`, every
 * `heartbeatMs`). With `staleAfterMs: 0` (default, one instance per store) `recover()` takes
 * every live job it does not run itself as dead. With several replicas set `staleAfterMs`
 * well above `heartbeatMs` (e.g. 6x): only jobs whose heartbeat stopped are marked, and the
 * check repeats every `heartbeatMs`.
 */
export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const isActive = (s: JobStatus): boolean => s === 'queued' || s === 'running';

export const jobRecordSchema = z
  .object({
    id: z.string().meta({ description: 'Job id (a random UUID, version 7: sorts by creation time).' }),
    kind: z.string(),
    status: z.enum(JOB_STATUSES),
    progress: z.number().min(0).max(1).meta({ description: 'Fraction done, 0..1.' }),
    message: z.string().optional().meta({ description: 'Latest progress message.' }),
    created: z.string(),
    started: z.string().optional(),
    finished: z.string().optional(),
    updated: z.string().meta({ description: 'Last time the record was written (heartbeat while live).' }),
    owner: z.string().meta({ description: 'Service instance that runs (or ran) the job.' }),
    cancelRequested: z.boolean().optional(),
    input: z.unknown().meta({ description: 'Summary of the input (large arrays and binary data elided).' }),
    result: z.unknown().optional().meta({ description: 'Result of a succeeded job.' }),
    error: problemSchema.optional().meta({ description: 'Why the job failed or was cancelled.' }),
  })
  .meta({ id: 'Job', description: 'A unit of long-running work and its outcome.' });

export type JobRecord = z.infer<typeof jobRecordSchema>;

export interface JobContext {
  id: string;
  /** Aborted on cancel or shutdown; handlers stop soon after (throwing is fine). */
  signal: AbortSignal;
  /** Report progress (0..1) and an optional message; cheap to call often (writes are throttled). */
  progress(fraction: number, message?: string): void;
  log: Logger;
}

export type JobHandler<I, R> = (input: I, ctx: JobContext) => Promise<R>;

export interface RegisterOptions<I> {
  /** Record summary of the input; default `summarizeInput`. */
  summarize?: (input: I) => unknown;
}

export interface JobRunnerOptions {
  store: ObjectStore;
  prefix?: string;
  /** Jobs running at once (default 1). */
  concurrency?: number;
  logger?: Logger;
  /** Progress is persisted when this long has passed since the last write (default 1000 ms)... */
  progressIntervalMs?: number;
  /** ...or when it moved by this much (default 0.05). */
  progressStep?: number;
  /** How often live records are rewritten and foreign cancel requests checked (default 10 s). */
  heartbeatMs?: number;
  /** See the module comment; default 0 (one instance per store). */
  staleAfterMs?: number;
  /** This instance's name in records; default `<hostname>-<pid>-<random>`. */
  instanceId?: string;
  /** Finished records kept in memory for fast reads (default 1000). */
  recentLimit?: number;
  /** Poll interval of `wait` for jobs run by another instance (default 500 ms). */
  pollMs?: number;
}

export interface ListJobsOptions {
  status?: JobStatus;
  /** 1..1000, default 50. */
  limit?: number;
}

export interface WaitOptions {
  /** Give up after this long and return the record as it is then. Default: no limit. */
  timeoutMs?: number;
  /** Stop waiting (the job goes on) when aborted. */
  signal?: AbortSignal;
}

interface Registration {
  handler: JobHandler<unknown, unknown>;
  summarize: (input: unknown) => unknown;
}

interface LiveJob {
  record: JobRecord;
  input: unknown;
  registration: Registration;
  controller: AbortController;
  /** Why the signal was aborted, which decides the final status. */
  abortedFor?: 'cancel' | 'shutdown';
  done: Promise<void>;
  markDone: () => void;
  /** Latest unwritten snapshot, and the write loop draining it (writes never overlap). */
  pending?: string;
  writing?: Promise<boolean>;
  lastPersistAt: number;
  lastPersistProgress: number;
}

const EMPTY = new Uint8Array(0);
const JSON_TYPE = 'application/json';
const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

export class JobRunner {
  readonly instanceId: string;
  private readonly store: ObjectStore;
  private readonly prefix: string;
  private readonly concurrency: number;
  private readonly log: Logger;
  private readonly progressIntervalMs: number;
  private readonly progressStep: number;
  private readonly heartbeatMs: number;
  private readonly staleAfterMs: number;
  private readonly recentLimit: number;
  private readonly pollMs: number;

  private readonly registrations = new Map<string, Registration>();
  private readonly live = new Map<string, LiveJob>();
  private readonly recent = new Map<string, JobRecord>();
  private readonly queue: LiveJob[] = [];
  private readonly finalWrites = new Set<Promise<void>>();
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closing: Promise<void> | undefined;

  constructor(options: JobRunnerOptions) {
    const prefix = options.prefix ?? 'jobs/';
    if (prefix !== '' && !prefix.endsWith('/')) throw new Error(`job prefix must end with "/": ${prefix}`);
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`job concurrency must be a positive integer, got ${concurrency}`);
    this.store = options.store;
    this.prefix = prefix;
    this.concurrency = concurrency;
    this.log = options.logger ?? pino({ level: 'silent' });
    this.progressIntervalMs = options.progressIntervalMs ?? 1000;
    this.progressStep = options.progressStep ?? 0.05;
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.staleAfterMs = options.staleAfterMs ?? 0;
    this.recentLimit = options.recentLimit ?? 1000;
    this.pollMs = options.pollMs ?? 500;
    this.instanceId = options.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  /**
   * Registers the handler of a job kind. Returns a `submit` bound to the kind, typed by the
   * handler's input.
   */
  register<I, R>(kind: string, handler: JobHandler<I, R>, options: RegisterOptions<I> = {}): (input: I) => Promise<JobRecord> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(kind)) throw new Error(`bad job kind ${JSON.stringify(kind)}`);
    if (this.registrations.has(kind)) throw new Error(`job kind ${kind} is already registered`);
    this.registrations.set(kind, {
      handler: handler as JobHandler<unknown, unknown>,
      summarize: (options.summarize as ((input: unknown) => unknown) | undefined) ?? summarizeInput,
    });
    return (input: I) => this.submit(kind, input);
  }

  /** Queues a job; resolves once its record is stored (a store outage rejects: nothing queued). */
  async submit(kind: string, input: unknown): Promise<JobRecord> {
    if (this.closing) throw new WeightsmithError(ErrorCode.NotReady, 'the job runner is shutting down; retry on another instance');
    const registration = this.registrations.get(kind);
    if (!registration) {
      throw invalidInput('kind', `unknown job kind "${kind}"; known: ${[...this.registrations.keys()].sort().join(', ') || 'none'}`);
    }
    const now = new Date();
    const id = newJobId(now.getTime());
    const record: JobRecord = {
      id,
      kind,
      status: 'queued',
      progress: 0,
      created: now.toISOString(),
      updated: now.toISOString(),
      owner: this.instanceId,
      input: registration.summarize(input),
    };
    await this.store.put(this.activeKey(id), EMPTY);
    try {
      await this.store.put(this.recordKey(id), encode(JSON.stringify(record)), { contentType: JSON_TYPE });
    } catch (err) {
      await this.store.delete(this.activeKey(id)).catch(() => {});
      throw err;
    }
    let markDone!: () => void;
    const done = new Promise<void>((resolve) => {
      markDone = resolve;
    });
    const job: LiveJob = {
      record,
      input,
      registration,
      controller: new AbortController(),
      done,
      markDone,
      lastPersistAt: Date.now(),
      lastPersistProgress: 0,
    };
    this.live.set(id, job);
    this.queue.push(job);
    this.ensureTimer();
    // The record as accepted (queued), even if a free slot starts it right away.
    const accepted = structuredClone(record);
    this.pump();
    return accepted;
  }

  async get(id: string): Promise<JobRecord> {
    const known = this.live.get(id)?.record ?? this.recent.get(id);
    if (known) return structuredClone(known);
    const stored = isJobId(id) ? await this.readRecord(id) : undefined;
    if (!stored) throw notFound(`job ${id} not found`, 'id');
    return stored;
  }

  /** Newest first. Reads only as many records as it returns (ids sort by creation time). */
  async list(options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalidInput('limit', `limit must be an integer in 1..1000, got ${limit}`);
    const ids = (await this.listKeys(this.prefix))
      .map((key) => key.slice(this.prefix.length))
      .filter((name) => name.endsWith('.json') && isJobId(name.slice(0, -5)))
      .map((name) => name.slice(0, -5))
      .sort()
      .reverse();
    const out: JobRecord[] = [];
    const batch = 16;
    for (let i = 0; i < ids.length && out.length < limit; i += batch) {
      const records = await Promise.all(
        ids.slice(i, i + batch).map(async (id) => {
          const known = this.live.get(id)?.record ?? this.recent.get(id);
          if (known) return structuredClone(known);
          try {
            return await this.readRecord(id);
          } catch (err) {
            if (isWeightsmithError(err, ErrorCode.StoreUnavailable)) throw err;
            this.log.warn({ err, jobId: id }, 'skipping unreadable job record');
            return undefined;
          }
        }),
      );
      for (const r of records) {
        if (r && (options.status === undefined || r.status === options.status) && out.length < limit) out.push(r);
      }
    }
    return out;
  }

  /**
   * Cancels a job: a queued one at once; a running one is signalled and becomes `cancelled`
   * when its handler returns; a finished one is a `conflict`. The returned record shows
   * `cancelRequested` while the cancellation is pending.
   */
  async cancel(id: string): Promise<JobRecord> {
    const job = this.live.get(id);
    if (job) {
      if (job.record.status === 'queued') {
        const at = this.queue.indexOf(job);
        if (at >= 0) this.queue.splice(at, 1);
        this.finish(job, 'cancelled', { error: cancelledProblem(id) });
      } else if (!job.record.cancelRequested) {
        job.record.cancelRequested = true;
        job.abortedFor ??= 'cancel';
        job.controller.abort(new WeightsmithError(ErrorCode.Cancelled, `job ${id} was cancelled`));
        void this.persist(job);
      }
      return structuredClone(job.record);
    }
    const record = await this.get(id);
    if (!isActive(record.status)) throw new WeightsmithError(ErrorCode.Conflict, `job ${id} already ${record.status}; nothing to cancel`, { field: 'id' });
    // Run by another instance: leave a request that its heartbeat picks up.
    await this.store.put(this.cancelKey(id), EMPTY);
    return { ...record, cancelRequested: true };
  }

  /**
   * Resolves with the record once the job finished, or as it is when the wait gives up
   * (`timeoutOrOptions` as a number is the timeout in ms).
   */
  async wait(id: string, timeoutOrOptions: number | WaitOptions = {}): Promise<JobRecord> {
    const options = typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions } : timeoutOrOptions;
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    const job = this.live.get(id);
    if (job) {
      await until(job.done, deadline, options.signal);
      return this.get(id);
    }
    for (;;) {
      const record = await this.get(id);
      if (!isActive(record.status) || Date.now() >= deadline || options.signal?.aborted) return record;
      // A job may have moved from live to finished between the two reads above.
      const local = this.live.get(id);
      await until(local ? local.done : sleep(this.pollMs), Math.min(deadline, Date.now() + this.pollMs), options.signal);
    }
  }

  /**
   * Marks jobs left live by dead instances as failed (`reason: 'interrupted'`); call once at
   * start-up. Returns the ids it marked. With `staleAfterMs > 0` it also repeats every heartbeat.
   */
  async recover(): Promise<string[]> {
    const marked = await this.sweep();
    if (this.staleAfterMs > 0) this.ensureTimer();
    return marked;
  }

  /**
   * Stops taking jobs, fails queued ones (interrupted), gives running ones `timeoutMs` (default
   * 10 s) to finish, then aborts and fails them, and waits for the final records to be written.
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      this.timer = undefined;
      for (const job of this.queue.splice(0)) {
        this.finish(job, 'failed', { error: interruptedProblem(job.record.id, 'the service shut down before the job started') });
      }
      const running = [...this.live.values()];
      await until(Promise.all(running.map((j) => j.done)), Date.now() + (options.timeoutMs ?? 10_000));
      for (const job of this.live.values()) {
        job.abortedFor ??= 'shutdown';
        job.controller.abort(new WeightsmithError(ErrorCode.Cancelled, 'the service is shutting down'));
        this.finish(job, 'failed', { error: interruptedProblem(job.record.id, 'the service shut down while the job ran') });
      }
      await Promise.allSettled([...this.finalWrites]);
    })();
    return this.closing;
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift();
      if (job) void this.run(job);
    }
  }

  private async run(job: LiveJob): Promise<void> {
    this.running += 1;
    const { record } = job;
    const now = new Date().toISOString();
    record.status = 'running';
    record.started = now;
    record.updated = now;
    void this.persist(job);
    const log = this.log.child({ jobId: record.id, kind: record.kind });
    const ctx: JobContext = {
      id: record.id,
      signal: job.controller.signal,
      log,
      progress: (fraction, message) => this.onProgress(job, fraction, message),
    };
    try {
      const result = await job.registration.handler(job.input, ctx);
      if (job.abortedFor) this.finishAborted(job);
      else this.finish(job, 'succeeded', { result, progress: 1 });
    } catch (err) {
      if (job.abortedFor) this.finishAborted(job);
      else {
        if (!isWeightsmithError(err) || err.code === ErrorCode.Internal) log.error({ err }, 'job failed');
        else log.info({ code: err.code, detail: err.message }, 'job failed');
        this.finish(job, 'failed', { error: problemFromError(err).problem });
      }
    } finally {
      this.running -= 1;
      this.pump();
    }
  }

  private finishAborted(job: LiveJob): void {
    if (job.abortedFor === 'cancel') this.finish(job, 'cancelled', { error: cancelledProblem(job.record.id) });
    else this.finish(job, 'failed', { error: interruptedProblem(job.record.id, 'the service shut down while the job ran') });
  }

  private onProgress(job: LiveJob, fraction: number, message?: string): void {
    if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
      throw new RangeError(`job progress must be a number in [0, 1], got ${fraction}`);
    }
    const { record } = job;
    if (record.status !== 'running') return;
    record.progress = fraction;
    if (message !== undefined) record.message = message;
    const now = Date.now();
    if (now - job.lastPersistAt >= this.progressIntervalMs || Math.abs(fraction - job.lastPersistProgress) >= this.progressStep) {
      job.lastPersistAt = now;
      job.lastPersistProgress = fraction;
      record.updated = new Date(now).toISOString();
      void this.persist(job);
    }
  }

  /** Terminal transition (idempotent): final record written, then the markers removed. */
  private finish(job: LiveJob, status: 'succeeded' | 'failed' | 'cancelled', patch: Partial<JobRecord>): void {
    const { record } = job;
    if (!isActive(record.status)) return;
    const now = new Date().toISOString();
    Object.assign(record, patch, { status, finished: now, updated: now });
    job.input = undefined;
    this.live.delete(record.id);
    this.remember(record);
    const write = this.persist(job).then(async (ok) => {
      if (!ok) return; // keep the marker: the stored record still says live, and recovery will settle it
      await Promise.all([this.store.delete(this.activeKey(record.id)), this.store.delete(this.cancelKey(record.id))]).catch(
        (err: unknown) => this.log.warn({ err, jobId: record.id }, 'could not remove job markers'),
      );
    });
    this.finalWrites.add(write);
    // Waiters wake once the final record is stored (or its write failed), so whoever they tell
    // reads the outcome from any instance.
    void write.finally(() => {
      this.finalWrites.delete(write);
      job.markDone();
    });
  }

  private remember(record: JobRecord): void {
    this.recent.set(record.id, record);
    if (this.recent.size > this.recentLimit) {
      const oldest = this.recent.keys().next();
      if (!oldest.done) this.recent.delete(oldest.value);
    }
  }

  /** Writes the latest snapshot; resolves true when the snapshot (or a later one) was stored. */
  private persist(job: LiveJob): Promise<boolean> {
    job.pending = JSON.stringify(job.record);
    job.writing ??= (async () => {
      let ok = true;
      while (job.pending !== undefined) {
        const text = job.pending;
        job.pending = undefined;
        try {
          await this.store.put(this.recordKey(job.record.id), encode(text), { contentType: JSON_TYPE });
          ok = true;
        } catch (err) {
          ok = false;
          this.log.warn({ err, jobId: job.record.id }, 'could not store job record');
        }
      }
      job.writing = undefined;
      return ok;
    })();
    return job.writing;
  }

  private ensureTimer(): void {
    if (this.timer || this.closing) return;
    this.timer = setInterval(() => void this.tick(), this.heartbeatMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      if (this.live.size > 0) {
        const cancelPrefix = `${this.prefix}cancel/`;
        for (const key of await this.listKeys(cancelPrefix)) {
          const id = key.slice(cancelPrefix.length);
          if (this.live.has(id)) await this.cancel(id);
        }
        const now = new Date().toISOString();
        for (const job of this.live.values()) {
          job.record.updated = now;
          void this.persist(job);
        }
      }
      if (this.staleAfterMs > 0) await this.sweep();
    } catch (err) {
      this.log.warn({ err }, 'job heartbeat failed');
    } finally {
      this.ticking = false;
    }
  }

  private async sweep(): Promise<string[]> {
    const activePrefix = `${this.prefix}active/`;
    const marked: string[] = [];
    for (const key of await this.listKeys(activePrefix)) {
      const id = key.slice(activePrefix.length);
      if (this.live.has(id) || this.recent.has(id) || !isJobId(id)) continue;
      let record: JobRecord | undefined;
      try {
        record = await this.readRecord(id);
      } catch (err) {
        if (isWeightsmithError(err, ErrorCode.StoreUnavailable)) throw err;
        this.log.warn({ err, jobId: id }, 'unreadable job record left live; leaving it');
        continue;
      }
      if (record && isActive(record.status)) {
        if (this.staleAfterMs > 0 && Date.now() - Date.parse(record.updated) < this.staleAfterMs) continue;
        const now = new Date().toISOString();
        const failed: JobRecord = {
          ...record,
          status: 'failed',
          finished: now,
          updated: now,
          error: interruptedProblem(id, `the instance running it (${record.owner}) stopped while the job was ${record.status}`),
        };
        await this.store.put(this.recordKey(id), encode(JSON.stringify(failed)), { contentType: JSON_TYPE });
        marked.push(id);
        this.log.warn({ jobId: id, owner: record.owner, was: record.status }, 'job interrupted by a restart');
      }
      await this.store.delete(key);
      await this.store.delete(this.cancelKey(id));
    }
    return marked;
  }

  private async readRecord(id: string): Promise<JobRecord | undefined> {
    const key = this.recordKey(id);
    let bytes: Uint8Array;
    try {
      bytes = await this.store.getBytes(key);
    } catch (err) {
      if (isWeightsmithError(err, ErrorCode.NotFound)) return undefined;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      throw new WeightsmithError(ErrorCode.Internal, `job record ${key} is not JSON`, { cause: err });
    }
    const parsed = jobRecordSchema.safeParse(json);
    if (!parsed.success) throw new WeightsmithError(ErrorCode.Internal, `job record ${key} is not a job record: ${parsed.error.message}`);
    return parsed.data;
  }

  private async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.store.list({ prefix, limit: 1000, ...(token === undefined ? {} : { token }) });
      for (const item of page.items) keys.push(item.key);
      token = page.nextToken;
    } while (token !== undefined);
    return keys;
  }

  private recordKey(id: string): string {
    return `${this.prefix}${id}.json`;
  }
  private activeKey(id: string): string {
    return `${this.prefix}active/${id}`;
  }
  private cancelKey(id: string): string {
    return `${this.prefix}cancel/${id}`;
  }
}

export function interruptedProblem(id: string, why: string): Problem {
  return makeProblem({
    status: 500,
    code: ErrorCode.Internal,
    reason: 'interrupted',
    detail: `job ${id} was interrupted: ${why}; submit it again`,
  });
}

function cancelledProblem(id: string): Problem {
  return makeProblem({ status: 409, code: ErrorCode.Cancelled, detail: `job ${id} was cancelled` });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `promise`, the deadline or the signal, whichever comes first, leaving no timers. */
async function until(promise: Promise<unknown>, deadline: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stops: Promise<unknown>[] = [promise];
  if (deadline !== Infinity) stops.push(new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now())))));
  if (signal) {
    stops.push(
      new Promise<void>((resolve) => {
        onAbort = () => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    );
  }
  try {
    await Promise.race(stops);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
