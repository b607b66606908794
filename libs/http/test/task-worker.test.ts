/**
 * runTaskInWorker + serveTasks across a real worker thread: results, progress, artifacts the
 * worker stores (visible to the main thread's store), errors keeping code/field/issues/retryAfter,
 * plain errors as internal, unknown tasks, cancellation and a worker that dies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isWeightsmithError, loadConfig, baseConfigSchema, type WeightsmithError } from '@weightsmith/core';
import { ArtifactStore, FsStore } from '@weightsmith/store';
import { runTaskInWorker, type TaskHooks } from '@weightsmith/http';

const workerModule = new URL('./fixtures/task-worker-tasks.ts', import.meta.url);
let root: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ws-task-worker-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const run = <R>(task: string, input: unknown = null, hooks: TaskHooks = {}): Promise<R> =>
  runTaskInWorker<R>(workerModule, { task, store: loadConfig(baseConfigSchema, { STORE_DIR: root }), intraOpNumThreads: 3, input }, hooks);

async function rejection(p: Promise<unknown>): Promise<WeightsmithError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isWeightsmithError(err), `expected a WeightsmithError, got ${String(err)}`);
    return err;
  }
  assert.fail('the task should have failed');
}

describe('runTaskInWorker', () => {
  test('the result comes back; setup ran first with the worker data', async () => {
    const out = await run<{ input: unknown; threads: number; setupSaw: string }>('echo', { a: [1, 2, 3], b: 'x' });
    assert.deepEqual(out, { input: { a: [1, 2, 3], b: 'x' }, threads: 3, setupSaw: 'echo/3' });
  });

  test('progress is forwarded in order', async () => {
    const seen: [number, string][] = [];
    const out = await run('progress', { steps: 4 }, { progress: (f, m) => seen.push([f, m]) });
    assert.deepEqual(out, { steps: 4 });
    assert.deepEqual(seen, [
      [0.25, 'step 1/4'],
      [0.5, 'step 2/4'],
      [0.75, 'step 3/4'],
      [1, 'step 4/4'],
    ]);
  });

  test('an artifact the worker stores is readable from the main thread', async () => {
    const artifact = await run<{ id: string; bytes: number }>('store', { text: 'hello from the worker' });
    assert.equal(artifact.bytes, 21);
    const here = new ArtifactStore(await new FsStore({ root }).init());
    const got = await here.get(artifact.id);
    assert.equal(got.manifest.kind, 'test-text');
    const chunks: Buffer[] = [];
    for await (const c of await here.open(artifact.id)) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'hello from the worker');
  });

  test('a WeightsmithError keeps its code, field and issues', async () => {
    const err = await rejection(run('domainError'));
    assert.equal(err.code, ErrorCode.ShapeMismatch);
    assert.equal(err.message, 'slide s1: model A has dim 3, expected 4');
    assert.equal(err.field, 'body.slides[0].features.A');
    assert.deepEqual(err.issues, [
      { field: 'body.slides[0].features.A', message: 'dim 3, expected 4' },
      { field: 'body.slides[1].features.A', message: 'dim 5, expected 4' },
    ]);
  });

  test('store_unavailable keeps its retryAfter', async () => {
    const err = await rejection(run('storeDown'));
    assert.equal(err.code, ErrorCode.StoreUnavailable);
    assert.equal(err.retryAfter, 7);
  });

  test('any other error becomes internal with its message', async () => {
    const err = await rejection(run('plainError'));
    assert.equal(err.code, ErrorCode.Internal);
    assert.equal(err.message, 'index 9 out of range');
  });

  test('an unknown task is an internal error naming it', async () => {
    const err = await rejection(run('nope'));
    assert.equal(err.code, ErrorCode.Internal);
    assert.match(err.message, /no task 'nope'/);
  });

  test('aborting rejects with cancelled at once', async () => {
    const controller = new AbortController();
    const p = run('forever', null, { signal: controller.signal, progress: () => controller.abort() });
    const err = await rejection(p);
    assert.equal(err.code, ErrorCode.Cancelled);
  });

  test('a cancelled task stops at its next progress report: what it would have stored never is', async () => {
    const controller = new AbortController();
    const marker = `cancelled-run-${Date.now()}`;
    const p = run('steps', { marker }, { signal: controller.signal, progress: (f) => f >= 0.1 && controller.abort() });
    assert.equal((await rejection(p)).code, ErrorCode.Cancelled);
    await new Promise((r) => setTimeout(r, 1500)); // longer than the rest of the task would take
    const here = new ArtifactStore(await new FsStore({ root }).init());
    const page = await here.list({});
    const texts = await Promise.all(page.items.map(async (a) => {
      const chunks: Buffer[] = [];
      for await (const c of await here.open(a.id)) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    }));
    assert.ok(!texts.includes(marker), 'the task went on after the cancel');
    // Not cancelled, the same task runs to the end and stores its marker.
    const done = await run<{ id: string }>('steps', { marker });
    assert.ok(done.id);
  });

  test('an already aborted signal starts nothing: the call throws the abort at once', () => {
    const controller = new AbortController();
    controller.abort();
    assert.throws(() => run('echo', null, { signal: controller.signal }), { name: 'AbortError' });
  });

  test('a worker that exits without a result is an internal error', async () => {
    const err = await rejection(run('exit'));
    assert.equal(err.code, ErrorCode.Internal);
    assert.match(err.message, /exited \(code 3\)/);
  });
});
