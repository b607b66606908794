import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { isWeightsmithError } from '@weightsmith/core';
import { InferencePool, createSession, type TensorData, type TensorMap } from '@weightsmith/onnx';
import { randomArray, seededRandom } from './reference.js';
import { affineModel, matmulChainModel, twoOutputModel } from './models.js';

const INTRA = 2;
const nums = (t: TensorData | undefined): (number | bigint)[] => Array.from((t?.data ?? []) as ArrayLike<number | bigint>);
const x3 = (...v: number[]): TensorData => ({ dtype: 'float32', dims: [v.length / 3, 3], data: Float32Array.from(v) });

/** Counts how often a 10 ms interval fires while `work` runs. */
async function ticksDuring<T>(work: () => Promise<T>): Promise<{ ticks: number; ms: number; value: T }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const t0 = performance.now();
  try {
    const value = await work();
    return { ticks, ms: performance.now() - t0, value };
  } finally {
    clearInterval(timer);
  }
}

const dir = await mkdtemp(join(tmpdir(), 'ws-onnx-pool-'));
after(() => rm(dir, { recursive: true, force: true }));

describe('InferencePool', () => {
  test('keeps the event loop free during a long run; in-process the same run blocks it; results are bit-identical', async (t) => {
    // Size the chain so that one in-process run takes ≳ 0.6 s on this machine (sizing, not an assertion).
    const n = 384;
    const input = randomArray(seededRandom(3), n * n, 1);
    const feed = () => ({ x: new ort.Tensor('float32', input, [n, n]) });
    let layers = 16;
    let bytes: Uint8Array;
    let inProcess: { ticks: number; ms: number; value: ort.InferenceSession.ReturnType };
    for (let attempt = 0; ; attempt++) {
      bytes = matmulChainModel(n, layers);
      const session = await createSession(bytes, { intraOpNumThreads: INTRA }, 'chain');
      await session.run(feed()); // warm-up, so the measured run is steady-state
      inProcess = await ticksDuring(() => session.run(feed()));
      await session.release();
      if (inProcess.ms >= 600 || attempt === 4) break;
      layers = Math.ceil((layers * 700) / Math.max(inProcess.ms, 1));
    }
    const expected = inProcess.value['y']?.data as Float32Array;

    const pool = new InferencePool({ threads: 1, intraOpNumThreads: INTRA });
    try {
      const model = await pool.load(bytes, { name: 'chain' });
      const x: TensorData = { dtype: 'float32', dims: [n, n], data: input };
      await pool.run(model, { x }); // warm-up
      const inPool = await ticksDuring(() => pool.run(model, { x }));

      const expectedTicks = inPool.ms / 10;
      t.diagnostic(`${layers} layers; in-process ${inProcess.ticks} ticks in ${inProcess.ms.toFixed(0)} ms; pool ${inPool.ticks} ticks in ${inPool.ms.toFixed(0)} ms`);
      assert.ok(inPool.ticks >= expectedTicks * 0.3, `pool: ${inPool.ticks} ticks in ${inPool.ms.toFixed(0)} ms`);
      assert.ok(inProcess.ticks <= 2, `in-process: ${inProcess.ticks} ticks in ${inProcess.ms.toFixed(0)} ms (loop should be blocked)`);
      assert.ok(inPool.ticks >= 5 * (inProcess.ticks + 1));

      const got = inPool.value['y'];
      assert.ok(got);
      assert.deepEqual(got.dims, [n, n]);
      assert.ok(got.data instanceof Float32Array);
      assert.ok(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), 'pool and in-process results differ');
      assert.ok(Math.max(...expected.slice(0, 1000).map(Math.abs)) > 0.01, 'activations did not collapse to zero');
    } finally {
      await pool.close();
    }
  });

  test('queues requests when every worker is busy and answers each with its own result', async () => {
    const pool = new InferencePool({ threads: 2, intraOpNumThreads: 1 });
    try {
      const model = await pool.load(affineModel(2, 1), { name: 'affine' });
      const runs = Array.from({ length: 6 }, (_, i) => pool.run(model, { x: x3(i, i + 1, i + 2) }));
      const s = pool.stats();
      assert.equal(s.busy, 2);
      assert.equal(s.queued, 4);
      const outs = await Promise.all(runs);
      outs.forEach((o, i) => assert.deepEqual(nums(o['y']), [2 * i + 1, 2 * i + 3, 2 * i + 5]));
      assert.deepEqual(pool.stats(), { threads: 2, busy: 0, queued: 0, models: 1, restarts: 0, draining: 0 });
    } finally {
      await pool.close();
    }
  });

  test('copies feeds: the caller\'s arrays are neither detached nor read after run() returns its promise', async () => {
    const pool = new InferencePool();
    try {
      const model = await pool.load(affineModel(1, 0));
      const data = Float32Array.of(1, 2, 3);
      const pending = pool.run(model, { x: { dtype: 'float32', dims: [1, 3], data } });
      data[0] = 100; // after the call: must not affect this run
      const out = await pending;
      assert.equal(data.byteLength, 12, 'caller buffer was not transferred away');
      assert.deepEqual(nums(out['y']), [1, 2, 3]);
      assert.notEqual(out['y']?.data.buffer, data.buffer);
    } finally {
      await pool.close();
    }
  });

  test('multiple inputs/outputs, int64 outputs, output selection, models loaded from a path', async () => {
    const pool = new InferencePool({ threads: 2 });
    try {
      const path = join(dir, 'two.onnx');
      await writeFile(path, twoOutputModel());
      const model = await pool.load(path);
      assert.equal(model.name, path);
      assert.equal(await pool.load(path), model, 'same unchanged file, same model');
      assert.deepEqual(model.inputs.map((i) => i.name), ['a', 'b']);
      const feeds: TensorMap = { a: { dtype: 'float32', dims: [3], data: Float32Array.of(1, 9, 4) }, b: { dtype: 'float32', dims: [3], data: Float32Array.of(1, 1, 1) } };
      // Two concurrent runs, so the second worker loads the model on first use.
      const [all, only] = await Promise.all([pool.run(model, feeds), pool.run(model, feeds, ['idx'])]);
      assert.deepEqual(nums(all['sum']), [2, 10, 5]);
      assert.equal(all['idx']?.dtype, 'int64');
      assert.deepEqual(all['idx']?.dims, []);
      assert.deepEqual(nums(all['idx']), [1n]);
      assert.deepEqual(Object.keys(only), ['idx']);
    } finally {
      await pool.close();
    }
  });

  test('validates feeds and output names against the model before queueing', async () => {
    const pool = new InferencePool();
    try {
      const model = await pool.load(affineModel(1, 0), { name: 'affine' });
      const invalid = (field: string, code = 'invalid_input') => (e: unknown) => isWeightsmithError(e) && e.code === code && e.field === field;
      await assert.rejects(pool.run(model, {}), invalid('feeds.x'));
      await assert.rejects(pool.run(model, { x: x3(1, 2, 3), z: x3(1, 2, 3) }), invalid('feeds.z'));
      await assert.rejects(pool.run(model, { x: { dtype: 'int32', dims: [1, 3], data: Int32Array.of(1, 2, 3) } }), invalid('feeds.x'));
      await assert.rejects(pool.run(model, { x: { dtype: 'float32', dims: [1, 3], data: new Float64Array(3) as never } }), invalid('feeds.x'));
      await assert.rejects(pool.run(model, { x: { dtype: 'float32', dims: [1, 4], data: new Float32Array(3) } }), invalid('feeds.x', 'shape_mismatch'));
      await assert.rejects(pool.run(model, { x: { dtype: 'float32', dims: [1, 4], data: new Float32Array(4) } }), invalid('feeds.x', 'shape_mismatch'));
      await assert.rejects(pool.run(model, { x: { dtype: 'float32', dims: [3], data: new Float32Array(3) } }), invalid('feeds.x', 'shape_mismatch'));
      await assert.rejects(pool.run(model, { x: x3(1, 2, 3) }, ['nope']), invalid('outputNames'));
      await pool.unload(model);
      await assert.rejects(pool.run(model, { x: x3(1, 2, 3) }), invalid('model', 'not_found'));
    } finally {
      await pool.close();
    }
  });

  test('a model onnxruntime cannot load fails load() with invalid_format; the pool keeps working', async () => {
    const pool = new InferencePool();
    try {
      await assert.rejects(pool.load(new Uint8Array([1, 2, 3, 4, 5]), { name: 'broken' }), (e) => {
        assert.ok(isWeightsmithError(e, 'invalid_format'));
        assert.match(e.message, /model 'broken' could not be loaded by onnxruntime: \S/);
        return true;
      });
      await assert.rejects(pool.load(join(dir, 'absent.onnx')), (e) => isWeightsmithError(e, 'not_found'));
      const model = await pool.load(affineModel(3, 0));
      assert.deepEqual(nums((await pool.run(model, { x: x3(1, 1, 1) }))['y']), [3, 3, 3]);
      assert.equal(pool.stats().restarts, 0);
    } finally {
      await pool.close();
    }
  });

  test('a worker that crashes rejects its in-flight request with a clear error and is replaced', async () => {
    const workerUrl = new URL('./fixtures/crashing-worker.ts', import.meta.url);
    const pool = new InferencePool({ threads: 1, workerUrl });
    try {
      const good = await pool.load(affineModel(2, 0), { name: 'good' });
      const doomed = await pool.load(affineModel(7, 0), { name: 'crash-me' });
      const crashed = pool.run(doomed, { x: x3(1, 2, 3) });
      const queued = pool.run(good, { x: x3(1, 2, 3) }); // waits behind the crashing request
      await assert.rejects(crashed, (e) => {
        assert.ok(isWeightsmithError(e, 'internal'));
        assert.match(e.message, /inference worker stopped unexpectedly \(simulated crash inside the worker\) while running model 'crash-me'/);
        return true;
      });
      assert.deepEqual(nums((await queued)['y']), [2, 4, 6], 'the queued request ran on the replacement worker');
      assert.equal(pool.stats().restarts, 1);
      assert.equal(pool.stats().threads, 1);
    } finally {
      await pool.close();
    }
  });

  test('cancelling: a queued request is dropped; a running one is answered at once and its worker finishes the run before new work (never terminated inside onnxruntime)', async () => {
    const pool = new InferencePool({ threads: 1, intraOpNumThreads: 1 });
    try {
      const slow = await pool.load(matmulChainModel(256, 40), { name: 'slow' });
      const fast = await pool.load(affineModel(2, 0), { name: 'fast' });
      const input: TensorData = { dtype: 'float32', dims: [256, 256], data: new Float32Array(256 * 256).fill(0.5) };
      const running = new AbortController();
      const waiting = new AbortController();
      const r1 = pool.run(slow, { x: input }, undefined, { signal: running.signal });
      const r2 = pool.run(fast, { x: x3(1, 1, 1) }, undefined, { signal: waiting.signal });
      const r3 = pool.run(fast, { x: x3(1, 2, 3) });
      waiting.abort();
      await assert.rejects(r2, (e) => isWeightsmithError(e, 'cancelled'));
      assert.equal(pool.stats().queued, 1);
      running.abort();
      await assert.rejects(r1, (e) => isWeightsmithError(e, 'cancelled') && /'slow'/.test(e.message));
      assert.equal(pool.stats().draining, 1, 'the worker is still finishing the cancelled run');
      assert.deepEqual(nums((await r3)['y']), [2, 4, 6]);
      assert.equal(pool.stats().draining, 0);
      assert.equal(pool.stats().restarts, 0, 'no worker was terminated or replaced');
      const pre = new AbortController();
      pre.abort();
      await assert.rejects(pool.run(fast, { x: x3(1, 1, 1) }, undefined, { signal: pre.signal }), (e) => isWeightsmithError(e, 'cancelled'));
    } finally {
      await pool.close({ force: true });
    }
  });

  test('close() lets in-flight runs finish, rejects queued ones, and refuses new work', async () => {
    const pool = new InferencePool({ threads: 1 });
    const model = await pool.load(affineModel(2, 0));
    const inFlight = pool.run(model, { x: x3(1, 2, 3) });
    const queued = pool.run(model, { x: x3(4, 5, 6) });
    const closing = pool.close();
    await assert.rejects(queued, (e) => isWeightsmithError(e, 'not_ready'));
    assert.deepEqual(nums((await inFlight)['y']), [2, 4, 6]);
    await closing;
    await assert.rejects(pool.run(model, { x: x3(1, 2, 3) }), (e) => isWeightsmithError(e, 'not_ready'));
    await assert.rejects(pool.load(affineModel(1, 1)), (e) => isWeightsmithError(e, 'not_ready'));
    assert.equal(pool.stats().threads, 1);
    assert.equal(pool.stats().busy, 0);
  });

  test('a worker script that cannot start fails requests with its error, then the pool stops retrying', async () => {
    const pool = new InferencePool({ workerUrl: new URL('./fixtures/no-such-worker.ts', import.meta.url) });
    try {
      const messages: string[] = [];
      for (let attempt = 0; attempt < 5 && !messages.some((m) => m.startsWith('inference workers fail to start')); attempt++) {
        await assert.rejects(pool.load(affineModel(1, attempt)), (e) => {
          assert.ok(isWeightsmithError(e, 'internal'));
          assert.match(e.message, /no-such-worker\.ts/);
          messages.push(e.message);
          return true;
        });
      }
      assert.match(messages[0] ?? '', /^inference worker stopped unexpectedly \(.*no-such-worker\.ts.*\) while loading model/);
      assert.match(messages.at(-1) ?? '', /^inference workers fail to start: /);
      await assert.rejects(pool.load(affineModel(2, 2)), /fail to start/);
    } finally {
      await pool.close();
    }
  });

  test('rejects bad pool options', () => {
    assert.throws(() => new InferencePool({ threads: 0 }), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'threads');
    assert.throws(() => new InferencePool({ intraOpNumThreads: 1.5 }), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'intraOpNumThreads');
  });
});
