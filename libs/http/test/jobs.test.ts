import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, WeightsmithError, isWeightsmithError } from '@weightsmith/core';
import { FsStore, type ObjectStore, type PutOptions, type PutResult } from '@weightsmith/store';
import { JobRunner, isJobId, type JobRecord, type JobRunnerOptions } from '@weightsmith/http';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function tempStore(): Promise<{ store: FsStore; root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'ws-jobs-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  return { store: await new FsStore({ root }).init(), root };
}

function runnerOn(store: ObjectStore, options: Partial<JobRunnerOptions> = {}): JobRunner {
  const runner = new JobRunner({ store, ...options });
  cleanups.push(() => runner.close({ timeoutMs: 0 }));
  return runner;
}

/** A promise with its resolver, to hold a job handler at a known point. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

async function storedRecord(store: ObjectStore, id: string): Promise<JobRecord> {
  return JSON.parse(new TextDecoder().decode(await store.getBytes(`jobs/${id}.json`))) as JobRecord;
}

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = await read();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Delegates to a real store and counts record writes (to check throttling). */
class CountingStore implements ObjectStore {
  puts = new Map<string, number>();
  constructor(private readonly inner: ObjectStore) {}
  get location() {
    return this.inner.location;
  }
  uri(key: string) {
    return this.inner.uri(key);
  }
  put(key: string, body: Parameters<ObjectStore['put']>[1], options?: PutOptions & { size?: number }): Promise<PutResult> {
    this.puts.set(key, (this.puts.get(key) ?? 0) + 1);
    return this.inner.put(key, body, options);
  }
  get: ObjectStore['get'] = (k, o) => this.inner.get(k, o);
  getBytes: ObjectStore['getBytes'] = (k, o) => this.inner.getBytes(k, o);
  stat: ObjectStore['stat'] = (k) => this.inner.stat(k);
  exists: ObjectStore['exists'] = (k) => this.inner.exists(k);
  list: ObjectStore['list'] = (o) => this.inner.list(o);
  delete: ObjectStore['delete'] = (k) => this.inner.delete(k);
  presignedGetUrl: ObjectStore['presignedGetUrl'] = (k, e) => this.inner.presignedGetUrl(k, e);
  ping: ObjectStore['ping'] = () => this.inner.ping();
  close: ObjectStore['close'] = () => this.inner.close();
}

describe('JobRunner', () => {
  test('happy path: queued -> running with progress -> succeeded, persisted at each step', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store);
    const hold = gate();
    const submitMerge = runner.register('merge', async (input: { values: number[] }, ctx) => {
      ctx.progress(0.25, 'loaded adapters');
      await hold.promise;
      ctx.progress(0.75, 'merged');
      return { sum: input.values.reduce((a, b) => a + b, 0) };
    });
    const submitted = await submitMerge({ values: [1, 2, 3.5] });
    assert.ok(isJobId(submitted.id));
    assert.equal(submitted.status, 'queued');
    assert.equal(submitted.progress, 0);
    assert.deepEqual(submitted.input, { values: [1, 2, 3.5] });
    // Stored before submit resolves (it may already have started).
    assert.ok(['queued', 'running'].includes((await storedRecord(store, submitted.id)).status));

    const running = await eventually(() => runner.get(submitted.id), (r) => r.progress === 0.25, 'progress 0.25');
    assert.equal(running.status, 'running');
    assert.equal(running.message, 'loaded adapters');
    assert.ok(running.started);
    // 0.25 moved more than the 5 % step, so the store sees it too.
    await eventually(() => storedRecord(store, submitted.id), (r) => r.progress === 0.25 && r.message === 'loaded adapters', 'stored progress');

    hold.open();
    const done = await runner.wait(submitted.id);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.result, { sum: 6.5 });
    assert.equal(done.progress, 1);
    assert.equal(done.message, 'merged');
    assert.ok(Date.parse(done.finished!) >= Date.parse(done.started!));
    const stored = await eventually(() => storedRecord(store, submitted.id), (r) => r.status === 'succeeded', 'stored success');
    assert.deepEqual(stored.result, { sum: 6.5 });
    // Live markers are gone once the final record is written.
    await eventually(async () => (await store.list({ prefix: 'jobs/active/' })).items.length, (n) => n === 0, 'marker removal');
  });

  test('a WeightsmithError fails the job with its problem; any other error with a generic internal one', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store);
    runner.register('shape', async () => {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, 'lora_A of layer 3 is 8x4096, expected 16x4096', { field: 'adapters.1' });
    });
    runner.register('bug', async () => {
      throw new TypeError('cannot read x of undefined at /srv/secret.ts');
    });
    const shape = await runner.wait((await runner.submit('shape', {})).id);
    assert.equal(shape.status, 'failed');
    assert.equal(shape.error?.code, 'shape_mismatch');
    assert.equal(shape.error?.status, 422);
    assert.equal(shape.error?.detail, 'lora_A of layer 3 is 8x4096, expected 16x4096');
    assert.deepEqual(shape.error?.errors, [{ field: 'adapters.1', message: 'lora_A of layer 3 is 8x4096, expected 16x4096' }]);
    const bug = await runner.wait((await runner.submit('bug', {})).id);
    assert.equal(bug.status, 'failed');
    assert.equal(bug.error?.code, 'internal');
    assert.equal(bug.error?.status, 500);
    assert.doesNotMatch(JSON.stringify(bug), /secret|undefined/);
    assert.equal((await eventually(() => storedRecord(store, bug.id), (r) => r.status === 'failed', 'stored failure')).error?.code, 'internal');
  });

  test('cancel: a queued job at once (its handler never runs), a running one when it stops, a finished one is a conflict', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store, { concurrency: 1 });
    const calls: string[] = [];
    runner.register('cooperative', (label: string, ctx) => {
      calls.push(label);
      return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    });
    const first = await runner.submit('cooperative', 'first');
    const second = await runner.submit('cooperative', 'second');
    await eventually(() => runner.get(first.id), (r) => r.status === 'running', 'first running');

    const cancelledQueued = await runner.cancel(second.id);
    assert.equal(cancelledQueued.status, 'cancelled');
    assert.equal(cancelledQueued.error?.code, 'cancelled');

    const pending = await runner.cancel(first.id);
    assert.equal(pending.status, 'running');
    assert.equal(pending.cancelRequested, true);
    const cancelled = await runner.wait(first.id);
    assert.equal(cancelled.status, 'cancelled');
    assert.deepEqual(calls, ['first']);
    await assert.rejects(runner.cancel(first.id), (err: unknown) => isWeightsmithError(err, ErrorCode.Conflict));
    assert.equal((await eventually(() => storedRecord(store, second.id), (r) => r.status === 'cancelled', 'stored')).status, 'cancelled');
  });

  test('a running job whose handler ignores the signal still ends cancelled, its result dropped', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store);
    const hold = gate();
    runner.register('stubborn', async () => {
      await hold.promise;
      return { ignored: true };
    });
    const job = await runner.submit('stubborn', {});
    await eventually(() => runner.get(job.id), (r) => r.status === 'running', 'running');
    await runner.cancel(job.id);
    hold.open();
    const done = await runner.wait(job.id);
    assert.equal(done.status, 'cancelled');
    assert.equal(done.result, undefined);
  });

  test('never more than `concurrency` jobs run, all slots are used, and jobs start in FIFO order', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store, { concurrency: 2 });
    const hold = gate();
    let active = 0;
    let maxActive = 0;
    const started: number[] = [];
    runner.register('work', async (n: number) => {
      started.push(n);
      active += 1;
      maxActive = Math.max(maxActive, active);
      await hold.promise;
      await new Promise((r) => setTimeout(r, 5));
      active -= 1;
      return n;
    });
    const jobs: JobRecord[] = [];
    for (let i = 0; i < 7; i++) jobs.push(await runner.submit('work', i));
    // While the first two are held, they fill both slots and the rest wait in the queue.
    const statuses = async () => Promise.all(jobs.map(async (j) => (await runner.get(j.id)).status));
    assert.deepEqual(await statuses(), ['running', 'running', 'queued', 'queued', 'queued', 'queued', 'queued']);
    assert.equal(active, 2);
    hold.open();
    const done = await Promise.all(jobs.map((j) => runner.wait(j.id)));
    assert.deepEqual(done.map((d) => d.status), Array(7).fill('succeeded'));
    assert.equal(maxActive, 2);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6]);
  });

  test('progress writes are throttled (by step and interval), memory always has the latest', async () => {
    const { store } = await tempStore();
    const counting = new CountingStore(store);
    const runner = runnerOn(counting, { progressStep: 0.05, progressIntervalMs: 60_000 });
    runner.register('chatty', async (_: unknown, ctx) => {
      for (let i = 1; i <= 1000; i++) ctx.progress(i / 1000);
      return null;
    });
    const job = await runner.submit('chatty', {});
    await runner.wait(job.id);
    await eventually(async () => (await storedRecord(store, job.id)).status, (s) => s === 'succeeded', 'final write');
    const writes = counting.puts.get(`jobs/${job.id}.json`) ?? 0;
    // submit + running + 20 five-percent steps + final = 23 at most (coalescing can merge some).
    assert.ok(writes >= 3 && writes <= 23, `record writes: ${writes}`);
  });

  test('progress outside 0..1 fails the job (a handler bug), with a generic problem', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store);
    runner.register('bad-progress', async (_: unknown, ctx) => {
      ctx.progress(1.5);
      return null;
    });
    const done = await runner.wait((await runner.submit('bad-progress', {})).id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'internal');
  });

  test('inputs are summarised in records; the handler gets the full input', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store);
    let seen = 0;
    runner.register('big', async (input: { weights: Float32Array; names: string[]; note: string }) => {
      seen = input.weights.length + input.names.length;
      return null;
    });
    const names = Array.from({ length: 100 }, (_, i) => `layer.${i}`);
    const job = await runner.submit('big', { weights: new Float32Array(1_000_000), names, note: 'x'.repeat(1000) });
    const input = job.input as Record<string, any>;
    assert.deepEqual(input['weights'], { $summary: 'Float32Array', length: 1_000_000 });
    assert.deepEqual(input['names'], { $summary: 'array', length: 100, head: names.slice(0, 8) });
    assert.equal(input['note'], `${'x'.repeat(256)}… (1000 characters)`);
    await runner.wait(job.id);
    assert.equal(seen, 1_000_100);
    const stored = await storedRecord(store, job.id);
    assert.ok(JSON.stringify(stored).length < 2000);
  });

  test('list: newest first, filtered by status, limited', async () => {
    const { store } = await tempStore();
    const runner = runnerOn(store);
    runner.register('ok', async (n: number) => n);
    runner.register('no', async () => {
      throw new WeightsmithError(ErrorCode.InvalidInput, 'no', { field: 'x' });
    });
    const ids: string[] = [];
    for (const kind of ['ok', 'no', 'ok', 'no', 'ok']) {
      const job = await runner.submit(kind, 1);
      await runner.wait(job.id);
      ids.push(job.id);
      await new Promise((r) => setTimeout(r, 2)); // distinct creation milliseconds
    }
    const all = await runner.list();
    assert.deepEqual(all.map((r) => r.id), [...ids].reverse());
    const failed = await runner.list({ status: 'failed' });
    assert.deepEqual(failed.map((r) => r.id), [ids[3], ids[1]]);
    assert.deepEqual((await runner.list({ limit: 2 })).map((r) => r.id), [ids[4], ids[3]]);
    // A fresh runner (nothing in memory) lists the same from the store.
    const fresh = runnerOn(store);
    assert.deepEqual((await fresh.list({ status: 'succeeded' })).map((r) => r.id), [ids[4], ids[2], ids[0]]);
    await assert.rejects(runner.list({ limit: 0 }), (err: unknown) => isWeightsmithError(err, ErrorCode.InvalidInput));
  });

  test('unknown kinds and unknown ids are refused; a store outage at submit queues nothing', async () => {
    const { store, root } = await tempStore();
    const runner = runnerOn(store);
    let ran = false;
    runner.register('known', async () => {
      ran = true;
      return null;
    });
    await assert.rejects(runner.submit('unknown', {}), (err: unknown) => isWeightsmithError(err, ErrorCode.InvalidInput) && err.field === 'kind');
    await assert.rejects(runner.get('0190a5c4-7d1e-7abc-8def-0123456789ab'), (err: unknown) => isWeightsmithError(err, ErrorCode.NotFound));
    await assert.rejects(runner.get('../../etc/passwd'), (err: unknown) => isWeightsmithError(err, ErrorCode.NotFound));
    await rm(root, { recursive: true, force: true });
    await assert.rejects(runner.submit('known', {}), (err: unknown) => isWeightsmithError(err, ErrorCode.StoreUnavailable));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ran, false);
  });

  test('close: queued and overrunning jobs fail as interrupted; later submits are refused', async () => {
    const { store } = await tempStore();
    const runner = new JobRunner({ store, concurrency: 1 });
    runner.register('endless', (_: unknown, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))));
    const running = await runner.submit('endless', {});
    const queued = await runner.submit('endless', {});
    await eventually(() => runner.get(running.id), (r) => r.status === 'running', 'running');
    await runner.close({ timeoutMs: 20 });
    for (const id of [running.id, queued.id]) {
      const stored = await storedRecord(store, id);
      assert.equal(stored.status, 'failed');
      assert.equal(stored.error?.reason, 'interrupted');
    }
    await assert.rejects(runner.submit('endless', {}), (err: unknown) => isWeightsmithError(err, ErrorCode.NotReady));
  });

  test('restart: a new runner on the same folder marks the dead process\'s live jobs interrupted and keeps finished ones', async () => {
    const { store, root } = await tempStore();
    const fixture = fileURLToPath(new URL('./fixtures/crashing-runner.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, root], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ids = await new Promise<{ finished: string; running: string; queued: string }>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0] ?? '') as { finished: string; running: string; queued: string });
      });
      child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const before = await storedRecord(store, ids.running);
    assert.equal(before.status, 'running');
    const runner = runnerOn(store);
    const marked = await runner.recover();
    assert.deepEqual([...marked].sort(), [ids.running, ids.queued].sort());

    const interrupted = await runner.get(ids.running);
    assert.equal(interrupted.status, 'failed');
    assert.equal(interrupted.error?.code, 'internal');
    assert.equal(interrupted.error?.reason, 'interrupted');
    assert.match(interrupted.error?.detail ?? '', /doomed-instance.*running/);
    assert.equal(interrupted.progress, 0.4);
    assert.equal((await runner.get(ids.queued)).status, 'failed');
    const finished = await runner.get(ids.finished);
    assert.equal(finished.status, 'succeeded');
    assert.deepEqual(finished.result, { doubled: 42 });
    assert.deepEqual(await runner.recover(), [], 'a second recovery finds nothing');
    assert.deepEqual((await store.list({ prefix: 'jobs/active/' })).items, []);
  });

  test('several replicas: a cancel reaches the owning instance; only jobs with a stopped heartbeat are recovered', async () => {
    const { store } = await tempStore();
    const owner = runnerOn(store, { instanceId: 'owner', heartbeatMs: 30 });
    const silent = runnerOn(store, { instanceId: 'silent', heartbeatMs: 600_000 });
    const other = runnerOn(store, { instanceId: 'other', heartbeatMs: 30, staleAfterMs: 500, pollMs: 20 });
    for (const r of [owner, silent]) {
      r.register('endless', (_: unknown, ctx) => new Promise((_res, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
    }
    const live = await owner.submit('endless', {});
    const stale = await silent.submit('endless', {});
    await eventually(() => storedRecord(store, live.id), (r) => r.status === 'running', 'owner running');
    await eventually(() => storedRecord(store, stale.id), (r) => r.status === 'running', 'silent running');

    // Fresh heartbeats: nothing is taken for dead yet.
    assert.deepEqual(await other.recover(), []);
    await new Promise((r) => setTimeout(r, 700));
    // The owner kept its heartbeat; the silent instance did not.
    assert.equal((await storedRecord(store, live.id)).status, 'running');
    const staleNow = await eventually(() => storedRecord(store, stale.id), (r) => r.status === 'failed', 'stale job marked');
    assert.equal(staleNow.error?.reason, 'interrupted');

    const requested = await other.cancel(live.id);
    assert.equal(requested.cancelRequested, true);
    const cancelled = await other.wait(live.id, { timeoutMs: 5000 });
    assert.equal(cancelled.status, 'cancelled');
  });
});
