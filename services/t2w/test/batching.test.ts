/**
 * Dynamic batching: the denoiser is row-stable (a row's bytes do not depend on the batch it runs
 * in), concurrent requests share denoiser calls, and every request gets the same bytes as when it
 * runs alone — with its own seed, sampler, step count, noise (η > 0) and guidance. Plus the
 * batcher's own rules: row cap, oversized requests alone, cancellation while queued, errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { InferencePool, type PoolModel } from '@weightsmith/onnx';
import { Rng } from '@weightsmith/tensor';
import { loadBundle, writeFixtureBundle, type LoadedBundle } from '../src/bundle/index.js';
import { DEFAULT_GENERATION_LIMITS, DenoiseBatcher, T2wRuntime, poolDenoiser, type GenerationRequest } from '../src/generation/index.js';
import type { Denoise } from '../src/diffusion/index.js';

let tmp: string;
let bundle: LoadedBundle;
let pool: InferencePool;
let model: PoolModel;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-batch-'));
  await writeFixtureBundle(join(tmp, 'bundles', 'plain'), { seed: 4 });
  await writeFixtureBundle(join(tmp, 'bundles', 'guided'), { seed: 5, name: 'guided', condDropout: 0.1 });
  bundle = await loadBundle({ dir: join(tmp, 'bundles', 'plain') });
  pool = new InferencePool({ threads: 1, intraOpNumThreads: 1 });
  model = await pool.load(bundle.denoiserBytes, { name: 'plain' });
});
after(async () => {
  await pool.close();
  await rm(tmp, { recursive: true, force: true });
});

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('row-stable denoiser', () => {
  test("a row's output is the same bytes alone, in any batch size and at any position", async () => {
    const { parameterCount: P, condDim: E } = bundle.manifest.denoiser;
    const run = poolDenoiser(pool, model, bundle.manifest);
    const rng = new Rng(11);
    const rows = 9;
    const X = rng.normalArray(rows * P);
    const C = rng.normalArray(rows * E);
    const T = Float32Array.from({ length: rows }, (_, i) => 37 + 101 * i);
    const pick = async (idx: number[]): Promise<Float32Array> => {
      const x = new Float32Array(idx.length * P);
      const c = new Float32Array(idx.length * E);
      const t = new Float32Array(idx.length);
      idx.forEach((r, b) => {
        x.set(X.subarray(r * P, (r + 1) * P), b * P);
        c.set(C.subarray(r * E, (r + 1) * E), b * E);
        t[b] = T[r]!;
      });
      return run(x, t, c);
    };
    const alone = await pick([0]);
    assert.equal(alone.length, P);
    for (const idx of [[0, 1], [1, 0], [2, 1, 0], [3, 4, 5, 6, 7, 8, 1, 0], [0, 1, 2, 3, 4, 5, 6, 7, 8]]) {
      const out = await pick(idx);
      const at = idx.indexOf(0);
      assert.ok(bytesOf(out.subarray(at * P, (at + 1) * P)).equals(bytesOf(alone)), `row 0 at position ${at} of a batch of ${idx.length}`);
    }
  });
});

describe('dynamic batching in the runtime', () => {
  const requests: { bundle: string; req: GenerationRequest }[] = [
    { bundle: 'fixture-fmnist', req: { classes: ['bag', 'coat'], n: 2, seed: 1, sampler: 'ddim', steps: 8 } },
    { bundle: 'fixture-fmnist', req: { text: 'a classifier for shoes', n: 1, seed: 2, sampler: 'ddim', steps: 5, eta: 0.7 } },
    { bundle: 'fixture-fmnist', req: { classes: ['shirt'], n: 3, seed: 3, sampler: 'ddim', steps: 12 } },
    { bundle: 'guided', req: { classes: ['dress', 'sandal'], n: 2, seed: 4, sampler: 'ddim', steps: 6, guidance: 2 } },
    { bundle: 'guided', req: { classes: ['pullover'], n: 1, seed: 5, sampler: 'ddim', steps: 6, eta: 1 } },
    { bundle: 'fixture-fmnist', req: { classes: ['bag', 'coat'], n: 1, seed: 1, sampler: 'ddim', steps: 8 } },
  ];

  test('concurrent requests share denoiser calls and get the bytes they get alone', async () => {
    const options = { bundlesDir: join(tmp, 'bundles'), limits: DEFAULT_GENERATION_LIMITS, intraOpNumThreads: 1, workerThreads: 1 };
    const alone = await T2wRuntime.load(options);
    const batched = await T2wRuntime.load({ ...options, batching: { maxRows: 64, maxWaitMs: 5 } });
    try {
      const expected: Float32Array[][] = [];
      for (const r of requests) expected.push((await alone.generate(r.bundle, r.req)).samples);
      const together = await Promise.all(requests.map((r) => batched.generate(r.bundle, r.req)));
      together.forEach((res, i) => {
        assert.equal(res.samples.length, expected[i]!.length);
        res.samples.forEach((s, j) => assert.ok(bytesOf(s).equals(bytesOf(expected[i]![j]!)), `request ${i} sample ${j}`));
      });
      // The last request is the first one with n = 1: its sample 0 matches the first's sample 0.
      assert.ok(bytesOf(together[5]!.samples[0]!).equals(bytesOf(together[0]!.samples[0]!)));
      const stats = batched.batchingStats();
      const plain = stats['fixture-fmnist']!;
      assert.equal(plain.steps, 8 + 5 + 12 + 8, 'every step of the plain requests went through the batcher');
      assert.ok(plain.calls < plain.steps, `steps were batched: ${plain.calls} calls for ${plain.steps} steps`);
      assert.equal(alone.batchingStats()['fixture-fmnist'], undefined);
    } finally {
      await alone.close();
      await batched.close();
    }
  });
});

describe('DenoiseBatcher', () => {
  const P = 3;
  const E = 2;
  /** A row-wise "denoiser" (x + t + Σcond) that records each call's row count. */
  function recorder(): { run: Denoise; calls: number[] } {
    const calls: number[] = [];
    const run: Denoise = async (x, t, cond) => {
      calls.push(t.length);
      const out = new Float32Array(x.length);
      for (let r = 0; r < t.length; r++) for (let i = 0; i < P; i++) out[r * P + i] = x[r * P + i]! + t[r]! + cond[r * E]! + cond[r * E + 1]!;
      return out;
    };
    return { run, calls };
  }
  const step = (rows: number, v: number): [Float32Array, Float32Array, Float32Array] => [
    new Float32Array(rows * P).fill(v),
    new Float32Array(rows).fill(10 * v),
    new Float32Array(rows * E).fill(100 * v),
  ];

  test('batches up to maxRows, keeps each request whole, and splits the output back', async () => {
    const { run, calls } = recorder();
    const b = new DenoiseBatcher(run, { P, E }, { maxRows: 4, maxWaitMs: 20, maxInFlight: 1 });
    const outs = await Promise.all([1, 2, 3, 4].map((v) => b.denoiser()(...step(v === 4 ? 6 : 1 + (v % 2), v))));
    // rows: 2, 1, 2, 6 → [2, 1] (next would exceed 4), [2], [6] alone though over the cap
    assert.deepEqual(calls, [3, 2, 6]);
    outs.forEach((o, i) => {
      const v = i + 1;
      assert.ok(o.every((y) => y === v + 10 * v + 200 * v), `request ${v} got its own rows`);
    });
    assert.deepEqual(b.stats(), { calls: 3, rows: 11, steps: 4 });
  });

  test('a request cancelled while queued is rejected alone; the others run', async () => {
    const { run, calls } = recorder();
    const b = new DenoiseBatcher(run, { P, E }, { maxRows: 64, maxWaitMs: 30, maxInFlight: 1 });
    const ac = new AbortController();
    const kept = b.denoiser()(...step(1, 1));
    const dropped = b.denoiser(ac.signal)(...step(1, 2));
    ac.abort();
    await assert.rejects(dropped, (e: unknown) => isWeightsmithError(e, ErrorCode.Cancelled));
    assert.ok((await kept).every((y) => y === 211));
    assert.deepEqual(calls, [1]);
  });

  test('a failing call rejects every request of its batch', async () => {
    const b = new DenoiseBatcher(async () => {
      throw new Error('worker crashed');
    }, { P, E }, { maxRows: 8, maxWaitMs: 5, maxInFlight: 1 });
    const results = await Promise.allSettled([b.denoiser()(...step(1, 1)), b.denoiser()(...step(2, 2))]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  });

  test('refuses nonsense options', () => {
    const { run } = recorder();
    assert.throws(() => new DenoiseBatcher(run, { P, E }, { maxRows: 0, maxWaitMs: 1, maxInFlight: 1 }), /maxRows/);
    assert.throws(() => new DenoiseBatcher(run, { P, E }, { maxRows: 4, maxWaitMs: -1, maxInFlight: 1 }), /maxWaitMs/);
  });
});
