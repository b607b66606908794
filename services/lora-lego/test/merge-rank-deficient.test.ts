import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, svd } from '@weightsmith/tensor';
import { mergeModule, type ModuleFactors } from '../src/merge/index.js';
import { denseSum, frob, mergedDense, randomAdapter, relErr } from './merge-reference.js';

/*
 * The factored svd / task_arithmetic merges on inputs whose stacked factors are rank-deficient:
 * duplicate adapters, zero units, adapters that cancel, more ranks than rows or columns, and
 * ranks shared across adapters. References are dense F64 sums and the Jacobi SVD of the dense
 * matrix (never the factored code).
 */

/** Best rank-k approximation of a dense F64 matrix through the dense Jacobi SVD. */
function denseTruncation(m: Float64Array, rows: number, cols: number, k: number): Float64Array {
  const d = svd(m, rows, cols);
  const out = new Float64Array(rows * cols);
  for (let c = 0; c < Math.min(k, d.k); c++) {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = out[i * cols + j]! + d.u[i * d.k + c]! * d.s[c]! * d.v[j * d.k + c]!;
  }
  return out;
}

function copyOf(f: ModuleFactors, weight = f.weight, scale = f.scale): ModuleFactors {
  return { A: f.A.slice(), B: f.B.slice(), r: f.r, scale, weight };
}

async function assertSvdExact(inputs: ModuleFactors[], dIn: number, dOut: number, ks: number[], label: string): Promise<void> {
  const sum = denseSum(inputs, dIn, dOut);
  const full = await mergeModule('m', inputs, dIn, dOut, { method: 'task_arithmetic' });
  assert.ok(relErr(mergedDense(full, dIn, dOut), sum) <= 1e-5, `${label}: task_arithmetic exact`);
  for (const k of ks) {
    const m = await mergeModule('m', inputs, dIn, dOut, { method: 'svd', k });
    assert.equal(m.k, k);
    for (const v of [...m.A, ...m.B]) assert.ok(Number.isFinite(v), `${label}: finite factors at k=${k}`);
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseTruncation(sum, dOut, dIn, k)) <= 1e-5, `${label}: svd k=${k}`);
  }
}

describe('factored merges of rank-deficient inputs', () => {
  const dIn = 26;
  const dOut = 19;

  test('duplicate adapters (same factors twice) equal the dense sum and its truncations', async () => {
    const rng = new Rng(31);
    const x = randomAdapter(rng, 5, dIn, dOut, 2, 1);
    const y = randomAdapter(rng, 4, dIn, dOut, 0.5, 0.7);
    await assertSvdExact([x, copyOf(x), y], dIn, dOut, [1, 3, 6, 9, 14], 'duplicates');
    // A duplicate with another weight and scale spans the same subspace.
    await assertSvdExact([x, copyOf(x, -0.4, 3), y], dIn, dOut, [2, 9], 'scaled duplicate');
  });

  test('zero units and zero-weight adapters are dropped without changing the result', async () => {
    const rng = new Rng(32);
    const x = randomAdapter(rng, 6, dIn, dOut, 1, 1);
    x.A.fill(0, 2 * dIn, 3 * dIn); // rank 2 has a zero A row
    for (let o = 0; o < dOut; o++) x.B[o * 6 + 4] = 0; // rank 4 has a zero B column
    const y = randomAdapter(rng, 3, dIn, dOut, 1, 0); // weight 0
    const z = randomAdapter(rng, 4, dIn, dOut, 1.5, 1);
    await assertSvdExact([x, y, z], dIn, dOut, [1, 4, 8, 13], 'zero units');
  });

  test('more ranks than rows and columns (Σ r_i > dIn, dOut): exact, and svd truncates correctly', async () => {
    const rng = new Rng(33);
    const dI = 7;
    const dO = 6;
    const inputs = [randomAdapter(rng, 4, dI, dO, 1, 1), randomAdapter(rng, 5, dI, dO, 0.5, -1), randomAdapter(rng, 4, dI, dO, 2, 0.3)];
    await assertSvdExact(inputs, dI, dO, [1, 3, 6, 13], 'R > d');
  });

  test('ranks shared across adapters (dependent, not duplicate) are merged exactly', async () => {
    const rng = new Rng(34);
    const x = randomAdapter(rng, 4, dIn, dOut, 1, 1);
    // y's B columns are combinations of x's, its A rows are new: only the B side is deficient.
    const y = randomAdapter(rng, 3, dIn, dOut, 1, 1);
    for (let o = 0; o < dOut; o++) for (let j = 0; j < 3; j++) y.B[o * 3 + j] = x.B[o * 4 + j]! - 0.5 * x.B[o * 4 + j + 1]!;
    await assertSvdExact([x, y], dIn, dOut, [1, 3, 5, 7], 'shared B');
  });

  test('adapters that cancel give a zero (zero-padded) result; partial cancellation keeps the rest', async () => {
    const rng = new Rng(35);
    const x = randomAdapter(rng, 4, dIn, dOut, 1, 1);
    const m = await mergeModule('m', [x, copyOf(x, -1)], dIn, dOut, { method: 'svd', k: 3 });
    assert.ok(frob(mergedDense(m, dIn, dOut)) <= 1e-5 * frob(denseSum([x], dIn, dOut)), 'cancelled');
    for (const v of [...m.A, ...m.B]) assert.ok(Number.isFinite(v));
    const y = randomAdapter(rng, 3, dIn, dOut, 1, 1);
    await assertSvdExact([x, copyOf(x, -1), y], dIn, dOut, [2, 3, 5], 'partial cancellation');
  });

  test('large factors (fast F32 Gram path): duplicates are exact and merge like one adapter of double weight', async () => {
    const rng = new Rng(36);
    const dI = 1500;
    const dO = 1700;
    const x = randomAdapter(rng, 16, dI, dO, 1, 1);
    const y = randomAdapter(rng, 16, dI, dO, 1, 1);
    const dup = [x, copyOf(x), y];
    const sum = denseSum(dup, dI, dO);
    const full = await mergeModule('m', dup, dI, dO, { method: 'task_arithmetic' });
    assert.equal(full.k, 48);
    assert.ok(relErr(mergedDense(full, dI, dO), sum) <= 1e-5, 'exact at k = R');
    // Same ΔW from full-rank stacked factors (no deficiency): the truncations must agree.
    const single = [copyOf(x, 2), y];
    for (const k of [8, 20, 32]) {
      const a = await mergeModule('m', dup, dI, dO, { method: 'svd', k });
      const b = await mergeModule('m', single, dI, dO, { method: 'svd', k });
      assert.ok(relErr(mergedDense(a, dI, dO), mergedDense(b, dI, dO)) <= 1e-5, `k=${k}`);
    }
  });
});
