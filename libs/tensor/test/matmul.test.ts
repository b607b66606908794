import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { MATMUL_ORT_BLOCK_ELEMENTS, MATMUL_ORT_MIN_FLOPS, configureMatmul, matmul, matmulTransB, releaseMatmulSessions } from '../src/matmul.js';

/** mulberry32, so the operands are the same on every run and machine. */
function random(seed: number, len: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Reference C = A·op(B) by dot products in float64 (i-j-p order, unlike the kernels), with
 * Σ|a·b| per entry for the error bound.
 */
function reference(a: Float32Array, b: Float32Array, m: number, k: number, n: number, transB: boolean) {
  const c = new Float64Array(m * n);
  const mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let g = 0;
      for (let p = 0; p < k; p++) {
        const prod = a[i * k + p]! * (transB ? b[j * k + p]! : b[p * n + j]!);
        s += prod;
        g += Math.abs(prod);
      }
      c[i * n + j] = s;
      mag[i * n + j] = g;
    }
  }
  return { c, mag };
}

/** Float32 summation of k products errs by at most ≈ (k+1)·2⁻²⁴·Σ|a·b| (recursive-summation bound). */
function assertClose(got: Float32Array, ref: { c: Float64Array; mag: Float64Array }, k: number, label: string): void {
  assert.equal(got.length, ref.c.length, `${label}: length`);
  for (let i = 0; i < got.length; i++) {
    const tol = (k + 2) * 2 ** -24 * ref.mag[i]! + 1e-30;
    const err = Math.abs(got[i]! - ref.c[i]!);
    if (!(err <= tol)) assert.fail(`${label}: entry ${i} is ${got[i]}, expected ${ref.c[i]} (error ${err} > ${tol})`);
  }
}

const SHAPES: [string, number, number, number][] = [
  ['random 37×53×29', 37, 53, 29],
  ['square 64', 64, 64, 64],
  ['tall-skinny 2000×8·8×6', 2000, 8, 6],
  ['skinny-tall 6×2000·2000×5', 6, 2000, 5],
  ['1×1×1', 1, 1, 1],
  ['k=1 (outer product) 40×1×30', 40, 1, 30],
  ['m=1 (row vector) 1×300×70', 1, 300, 70],
  ['n=1 (matrix-vector) 90×120×1', 90, 120, 1],
  ['output over one onnxruntime block 1030×5×1024', 1030, 5, 1024],
];

after(() => releaseMatmulSessions());

describe('matmul', () => {
  for (const [label, m, k, n] of SHAPES) {
    test(`${label}: JS and onnxruntime paths agree with a float64 reference`, async () => {
      const a = random(m * 7919 + k, m * k);
      const b = random(n * 104729 + k, k * n);
      const ref = reference(a, b, m, k, n, false);
      const js = await matmul(a, b, m, k, n, { path: 'js' });
      const fast = await matmul(a, b, m, k, n, { path: 'ort' });
      assertClose(js, ref, k, `${label} js`);
      assertClose(fast, ref, k, `${label} ort`);
      const auto = await matmul(a, b, m, k, n);
      const big = k >= 2 && 2 * m * k * n >= MATMUL_ORT_MIN_FLOPS;
      assert.deepEqual(auto, big ? fast : js, `auto picks the ${big ? 'onnxruntime' : 'JS'} path`);
    });
  }

  test('matmulTransB: A·Bᵀ with B stored n×k, both paths', async () => {
    for (const [label, m, k, n] of SHAPES) {
      const a = random(m + 3, m * k);
      const b = random(n + 5, n * k);
      const ref = reference(a, b, m, k, n, true);
      assertClose(await matmulTransB(a, b, m, k, n, { path: 'js' }), ref, k, `${label} js`);
      assertClose(await matmulTransB(a, b, m, k, n, { path: 'ort' }), ref, k, `${label} ort`);
      const auto = await matmulTransB(a, b, m, k, n);
      assertClose(auto, ref, k, `${label} auto`);
    }
  });

  test('a hand-computed product', async () => {
    // [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
    const a = Float32Array.of(1, 2, 3, 4, 5, 6);
    const b = Float32Array.of(7, 8, 9, 10, 11, 12);
    for (const path of ['js', 'ort'] as const) {
      assert.deepEqual(Array.from(await matmul(a, b, 2, 3, 2, { path })), [58, 64, 139, 154]);
      // Bᵀ stored 2×3: rows [7,9,11] and [8,10,12].
      assert.deepEqual(Array.from(await matmulTransB(a, Float32Array.of(7, 9, 11, 8, 10, 12), 2, 3, 2, { path })), [58, 64, 139, 154]);
    }
  });

  test('the blocked shape really spans several onnxruntime calls', () => {
    assert.ok(1030 * 1024 > MATMUL_ORT_BLOCK_ELEMENTS && 1024 * 1024 <= MATMUL_ORT_BLOCK_ELEMENTS);
  });

  test('out: the result is written into the caller\'s array, on both paths and across blocks', async () => {
    for (const [m, k, n] of [[7, 9, 5], [1030, 5, 1024]] as const) {
      const a = random(11, m * k);
      const b = random(12, k * n);
      const ref = reference(a, b, m, k, n, false);
      for (const path of ['js', 'ort'] as const) {
        const out = new Float32Array(m * n).fill(42);
        const c = await matmul(a, b, m, k, n, { path, out });
        assert.equal(c, out);
        assertClose(out, ref, k, `${m}×${k}×${n} ${path} out`);
        const outT = new Float32Array(m * n).fill(42);
        const bt = new Float32Array(n * k);
        for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) bt[j * k + p] = b[p * n + j]!;
        assert.equal(await matmulTransB(a, bt, m, k, n, { path, out: outT }), outT);
        assertClose(outT, ref, k, `${m}×${k}×${n} ${path} transB out`);
      }
    }
    const out = Float32Array.of(5, 5, 5, 5);
    assert.deepEqual(Array.from(await matmul(new Float32Array(0), new Float32Array(0), 2, 0, 2, { out })), [0, 0, 0, 0]);
  });

  test('empty dimensions give an all-zero m×n result', async () => {
    assert.deepEqual(Array.from(await matmul(new Float32Array(0), new Float32Array(0), 3, 0, 2)), [0, 0, 0, 0, 0, 0]);
    assert.equal((await matmul(new Float32Array(0), new Float32Array(12), 0, 4, 3)).length, 0);
    assert.equal((await matmulTransB(new Float32Array(8), new Float32Array(0), 2, 4, 0)).length, 0);
  });

  test('NaN and Inf propagate; they are not rejected', async () => {
    const a = Float32Array.of(NaN, 1, 1, 1);
    const b = Float32Array.of(1, 0, 0, Infinity);
    for (const path of ['js', 'ort'] as const) {
      const c = await matmul(a, b, 2, 2, 2, { path });
      assert.ok(Number.isNaN(c[0]) && Number.isNaN(c[1]), `${path}: NaN row`);
      assert.equal(c[3], Infinity);
    }
  });

  test('validates operands', async () => {
    const mismatch = (field: string) => (e: unknown) => isWeightsmithError(e, 'shape_mismatch') && e.field === field;
    const invalid = (field: string) => (e: unknown) => isWeightsmithError(e, 'invalid_input') && e.field === field;
    await assert.rejects(matmul(new Float32Array(5), new Float32Array(6), 2, 3, 2), mismatch('a'));
    await assert.rejects(matmul(new Float32Array(6), new Float32Array(5), 2, 3, 2), mismatch('b'));
    await assert.rejects(matmulTransB(new Float32Array(6), new Float32Array(6), 2, 3, 3), mismatch('b'));
    await assert.rejects(matmul(new Float32Array(6), new Float32Array(6), -2, 3, 2), invalid('a.rows'));
    await assert.rejects(matmul(new Float32Array(6), new Float32Array(6), 2, 3.5, 2), invalid('a.cols'));
    await assert.rejects(matmul(new Float64Array(6) as unknown as Float32Array, new Float32Array(6), 2, 3, 2), invalid('a'));
    await assert.rejects(matmul(new Float32Array(6), new Float32Array(6), 2, 3, 2, { path: 'gpu' as never }), invalid('path'));
    await assert.rejects(configureMatmul({ intraOpNumThreads: 0 }), invalid('intraOpNumThreads'));
    await assert.rejects(matmul(new Float32Array(6), new Float32Array(6), 2, 3, 2, { out: new Float32Array(3) }), mismatch('out'));
    const shared = new Float32Array(16);
    await assert.rejects(matmul(shared.subarray(0, 6), new Float32Array(6), 2, 3, 2, { out: shared.subarray(4, 8) }), invalid('out'));
    assert.ok(await matmul(shared.subarray(0, 6), new Float32Array(6), 2, 3, 2, { out: shared.subarray(6, 10) }), 'adjacent, not overlapping');
  });

  test('reconfiguring the thread count rebuilds the sessions and keeps results correct', async () => {
    const a = random(1, 50 * 40);
    const b = random(2, 40 * 30);
    const ref = reference(a, b, 50, 40, 30, false);
    await configureMatmul({ intraOpNumThreads: 1 });
    assertClose(await matmul(a, b, 50, 40, 30, { path: 'ort' }), ref, 40, 'one thread');
    await configureMatmul({ intraOpNumThreads: 2 });
    assertClose(await matmul(a, b, 50, 40, 30, { path: 'ort' }), ref, 40, 'two threads');
  });
});
