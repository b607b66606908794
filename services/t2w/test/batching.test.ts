/**
 * Dynamic batching: the denoiser is batch-invariant (a row's bytes do not depend on the batch it
 * runs in), the load-time probe tells invariant, pad-to-two and batch-dependent denoisers apart,
 * concurrent requests share denoiser calls, and every request gets the same bytes as when it
 * runs alone — with its own seed, sampler, step count, noise (η > 0) and guidance. Plus the
 * batcher's own rules: row cap, oversized requests alone, cancellation while queued, errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { GraphBuilder, InferencePool, type PoolModel } from '@weightsmith/onnx';
import { Rng } from '@weightsmith/tensor';
import { loadBundle, writeFixtureBundle, type LoadedBundle } from '../src/bundle/index.js';
import { DEFAULT_GENERATION_LIMITS, DenoiseBatcher, T2wRuntime, poolDenoiser, probeBatchInvariance, type GenerationRequest } from '../src/generation/index.js';
import { replaceDenoiser } from './bundle-helpers.js';
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

/** A contract denoiser (x, t, cond → x0) around `body` of x [B, P]; t and cond shift every value. */
function contractDenoiser(P: number, E: number, body: (g: GraphBuilder, x: string) => string): Uint8Array {
  const g = new GraphBuilder({ name: 'probe', opset: 17 });
  const x = g.input('x', 'float32', ['batch', P]);
  const t = g.input('t', 'float32', ['batch']);
  const cond = g.input('cond', 'float32', ['batch', E]);
  const shift = g.add(g.mul(g.unsqueeze(t, [1]), g.scalar(1e-3)), g.reduceSum(cond, [1]));
  g.output('x0', 'float32', ['batch', P], { from: g.add(body(g, x), shift) });
  return g.toModelBytes();
}

describe('batch invariance', () => {
  test("the fixture denoiser's rows are batch-invariant for any batch, one row included", async () => {
    // The probe runs rows alone, in pairs both ways round and in batches of 9 and 33, comparing bits
    // (bundle-denoiser.test.ts checks the same of the graph directly, with 1 and 2 threads).
    const { parameterCount: P, condDim: E } = bundle.manifest.denoiser;
    assert.equal(await probeBatchInvariance(poolDenoiser(pool, model, bundle.manifest), { P, E, timesteps: 1000 }), 'any');
  });

  test('the probe tells the three cases apart: any batch, two or more rows, none', async () => {
    const { parameterCount: P, condDim: E } = bundle.manifest.denoiser;
    const chunks = 4;
    const K = P / chunks;
    const w = new Rng(3).uniformF32Array(chunks * K * K, -0.2, 0.2);
    // Per-chunk batched MatMul [chunks, B, K]·[chunks, K, K]: onnxruntime rounds a single row differently.
    const perChunk = contractDenoiser(P, E, (g, x) =>
      g.reshape(g.transpose(g.matMul(g.transpose(g.reshape(x, [0, chunks, K]), [1, 0, 2]), g.initializer('w', w, [chunks, K, K])), [1, 0, 2]), [0, P]),
    );
    // Each row plus the batch mean: rows depend on each other.
    const batchMean = contractDenoiser(P, E, (g, x) => g.add(x, g.reduceMean(x, [0])));
    const expectations: [Uint8Array, string][] = [[perChunk, 'two-or-more-rows'], [batchMean, 'none']];
    for (const [bytes, expected] of expectations) {
      const m = await pool.load(bytes, { name: expected });
      assert.equal(await probeBatchInvariance(poolDenoiser(pool, m, bundle.manifest), { P, E, timesteps: 1000 }), expected);
      if (expected === 'two-or-more-rows') {
        // Padded to two rows, a lone row gets the bytes it gets inside a batch.
        const padded = poolDenoiser(pool, m, bundle.manifest, { padSingleRows: true });
        const rng = new Rng(8);
        const [x, c] = [rng.normalArray(3 * P), rng.normalArray(3 * E)];
        const t = Float32Array.of(5, 500, 900);
        const all = await padded(x, t, c);
        const one = await padded(x.subarray(P, 2 * P), t.subarray(1, 2), c.subarray(E, 2 * E));
        assert.ok(bytesOf(one).equals(bytesOf(all.subarray(P, 2 * P))));
      }
      await pool.unload(m);
    }
  });

  test('the runtime pads lone rows where needed and serves a batch-dependent denoiser without batching', async () => {
    const { parameterCount: P, condDim: E } = bundle.manifest.denoiser;
    const root = join(tmp, 'probe-bundles');
    await writeFixtureBundle(join(root, 'dependent'), { seed: 4, name: 'dependent' });
    await replaceDenoiser(join(root, 'dependent'), contractDenoiser(P, E, (g, x) => g.add(g.mul(x, g.scalar(0.5)), g.reduceMean(x, [0]))));
    await writeFixtureBundle(join(root, 'fixture'), { seed: 4, name: 'fixture' });
    const rt = await T2wRuntime.load({ bundlesDir: root, limits: DEFAULT_GENERATION_LIMITS, intraOpNumThreads: 1, workerThreads: 1, batching: { maxRows: 64, maxWaitMs: 5 } });
    try {
      assert.deepEqual(rt.serving('dependent'), { batchInvariance: 'none', dynamicBatching: false });
      assert.deepEqual(rt.serving('fixture'), { batchInvariance: 'any', dynamicBatching: true });
      const req: GenerationRequest = { classes: ['bag'], n: 2, seed: 9, sampler: 'ddim', steps: 4 };
      const [a, b] = await Promise.all([rt.generate('dependent', req), rt.generate('dependent', req)]);
      a.samples.forEach((s, i) => assert.ok(bytesOf(s).equals(bytesOf(b.samples[i]!)), 'same request, same bytes'));
      assert.equal(rt.batchingStats()['dependent'], undefined);
    } finally {
      await rt.close();
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

  test('with several workers free, the queued rows are spread evenly over them', async () => {
    const { run, calls } = recorder();
    const b = new DenoiseBatcher(run, { P, E }, { maxRows: 64, maxWaitMs: 20, maxInFlight: 2 });
    const outs = await Promise.all([1, 2, 3, 4, 5].map((v) => b.denoiser()(...step(1, v))));
    // 5 rows over 2 free workers: batches of at most ⌈5/2⌉ = 3, then the 2 left for the other.
    assert.deepEqual(calls, [3, 2]);
    outs.forEach((o, i) => assert.ok(o.every((y) => y === 211 * (i + 1))));
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
