import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, svd } from '@weightsmith/tensor';
import { denseCombine, keepTopMagnitude, mergeModule, randomizedTruncatedSvd, type ModuleFactors } from '../src/merge/index.js';
import { denseProduct, denseSum, frob, mergedDense, randomAdapter, relErr } from './merge-reference.js';

/** Best rank-k approximation of a dense F64 matrix by the Jacobi SVD of libs/tensor (the reference). */
function denseTruncation(m: Float64Array, rows: number, cols: number, k: number): Float64Array {
  const d = svd(m, rows, cols);
  const out = new Float64Array(rows * cols);
  for (let c = 0; c < Math.min(k, d.k); c++) {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = out[i * cols + j]! + d.u[i * d.k + c]! * d.s[c]! * d.v[j * d.k + c]!;
  }
  return out;
}

/** A module of a 2×3 layer given by its dense delta: B = ΔW (2×2 identity-padded), A chosen so B·A = ΔW. */
function factorsOf(delta: number[], weight = 1): ModuleFactors {
  // ΔW (2×3) = I₂ · ΔW: r = 2, B = I, A = ΔW, scale 1.
  return { A: new Float32Array(delta), B: new Float32Array([1, 0, 0, 1]), r: 2, scale: 1, weight };
}

describe('factored baselines', () => {
  const dIn = 30;
  const dOut = 22;
  const rng = new Rng(21);
  const inputs = [randomAdapter(rng, 5, dIn, dOut, 2, 1), randomAdapter(rng, 3, dIn, dOut, 0.5, 0.6), randomAdapter(rng, 4, dIn, dOut, 1, -0.3)];

  test('svd equals the dense Jacobi truncation of Σ w_i ΔW_i for every k', async () => {
    const sum = denseSum(inputs, dIn, dOut);
    for (const k of [1, 3, 7, 12]) {
      const m = await mergeModule('m', inputs, dIn, dOut, { method: 'svd', k });
      assert.equal(m.k, k);
      assert.ok(relErr(mergedDense(m, dIn, dOut), denseTruncation(sum, dOut, dIn, k)) <= 1e-5, `k=${k}`);
    }
  });

  test('task_arithmetic: λ·Σ w_i ΔW_i, exact at the default rank R and truncated with k', async () => {
    const sum = denseSum(inputs, dIn, dOut).map((v) => 0.8 * v);
    const exact = await mergeModule('m', inputs, dIn, dOut, { method: 'task_arithmetic', lambda: 0.8 });
    assert.equal(exact.k, 12);
    assert.ok(relErr(mergedDense(exact, dIn, dOut), sum) <= 1e-5);
    const low = await mergeModule('m', inputs, dIn, dOut, { method: 'task_arithmetic', lambda: 0.8, k: 4 });
    assert.ok(relErr(mergedDense(low, dIn, dOut), denseTruncation(sum, dOut, dIn, 4)) <= 1e-5);
  });

  test('svd with k above R is exact, zero-padded and warns', async () => {
    const m = await mergeModule('m', inputs, dIn, dOut, { method: 'svd', k: 20 });
    assert.equal(m.k, 20);
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseSum(inputs, dIn, dOut)) <= 1e-5);
    assert.ok(m.stats.warnings.some((w) => w.includes('zero-padded')));
  });

  test('linear follows PEFT: A′ = Σ √c_i A_i, B′ = Σ √c_i B_i, cross terms included', async () => {
    const r2 = new Rng(22);
    const eq = [randomAdapter(r2, 3, dIn, dOut, 2, 1), randomAdapter(r2, 3, dIn, dOut, 0.5, 2)];
    const m = await mergeModule('m', eq, dIn, dOut, { method: 'linear' });
    const c = eq.map((f) => Math.sqrt(f.weight * f.scale));
    const A = eq[0]!.A.map((v, t) => c[0]! * v + c[1]! * eq[1]!.A[t]!);
    const B = eq[0]!.B.map((v, t) => c[0]! * v + c[1]! * eq[1]!.B[t]!);
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseProduct(B, A, 3, dIn, dOut)) <= 1e-6);
    // The cross terms make it differ from the true sum.
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseSum(eq, dIn, dOut)) > 0.1);
  });
});

describe('dense baselines', () => {
  // Two 2×3 task deltas, density 0.5 keeps ⌊0.5·6⌋ = 3 entries of each.
  const t1 = [4, -1, 2, -3, 0.5, 1];
  const t2 = [-2, 3, 1, 1, -4, 0.25];
  // trim(t1) = [4, 0, 2, -3, 0, 0]; trim(t2) = [-2, 3, 0, 0, -4, 0]
  const inputs = [factorsOf(t1), factorsOf(t2)];
  const opts = { density: 0.5, seed: 0, majoritySign: 'total' as const };

  test('magnitude_prune: sum of the trimmed deltas (by hand)', async () => {
    const d = await denseCombine('m', inputs, 3, 2, { method: 'magnitude_prune', ...opts });
    assert.deepEqual(Array.from(d), [2, 3, 2, -3, -4, 0]);
  });

  test('ties: elect the sign of the sum, average the agreeing entries (by hand)', async () => {
    // sums: [2, 3, 2, -3, -4, 0] → signs + + + − − + ; entry 0: 4 agrees, −2 not → 4;
    // entry 5: both zero → 0.
    const d = await denseCombine('m', inputs, 3, 2, { method: 'ties', ...opts });
    assert.deepEqual(Array.from(d), [4, 3, 2, -3, -4, 0]);
    // With weights 1 and 3: weighted sums [−2, 9, 2, −3, −12, 0] → entry 0 elects −, keeps −6.
    const w = await denseCombine('m', [factorsOf(t1), factorsOf(t2, 3)], 3, 2, { method: 'ties', ...opts });
    assert.deepEqual(Array.from(w), [-6, 9, 2, -3, -12, 0]);
    // Two agreeing entries are averaged: t3 = t1 ⇒ entry 0 = (4 + 4)/2.
    const avg = await denseCombine('m', [factorsOf(t1), factorsOf(t1), factorsOf(t2)], 3, 2, { method: 'ties', ...opts });
    assert.deepEqual(Array.from(avg), [4, 3, 2, -3, -4, 0]);
  });

  test('ties frequency vote: majority of signs decides', async () => {
    // entry 0: t1 = 4, t1' = 1 (both +), t2 = −9: total sum −4 → −, frequency +1 → +.
    const a = factorsOf([4, 0, 0, 0, 0, 0]);
    const b = factorsOf([1, 0, 0, 0, 0, 0]);
    const c = factorsOf([-9, 0, 0, 0, 0, 0]);
    const base = { density: 1, seed: 0 };
    assert.equal((await denseCombine('m', [a, b, c], 3, 2, { method: 'ties', ...base, majoritySign: 'total' }))[0], -9);
    assert.equal((await denseCombine('m', [a, b, c], 3, 2, { method: 'ties', ...base, majoritySign: 'frequency' }))[0], 2.5);
  });

  test('dare: entries kept are rescaled by 1/density, dropped ones are zero, seeded per module and input', async () => {
    const d1 = await denseCombine('layer.0', [factorsOf(t1)], 3, 2, { method: 'dare_linear', ...opts });
    for (let t = 0; t < 6; t++) assert.ok(d1[t] === 0 || d1[t] === t1[t]! * 2, `entry ${t}: ${d1[t]}`);
    const again = await denseCombine('layer.0', [factorsOf(t1)], 3, 2, { method: 'dare_linear', ...opts });
    assert.deepEqual(again, d1);
    // density 1 keeps everything: dare_linear = plain sum, dare_ties = ties without trimming.
    const full = await denseCombine('m', inputs, 3, 2, { method: 'dare_linear', ...opts, density: 1 });
    assert.deepEqual(Array.from(full), [2, 2, 3, -2, -3.5, 1.25]);
    const fullTies = await denseCombine('m', inputs, 3, 2, { method: 'dare_ties', ...opts, density: 1 });
    // signs of the sums: + + + − − + → [4, 3, (2+1)/2, −3, −4, (1+0.25)/2]
    assert.deepEqual(Array.from(fullTies), [4, 3, 1.5, -3, -4, 0.625]);
    // Over many entries about `density` of them survive.
    const rng = new Rng(9);
    const big: ModuleFactors = { A: rng.normalArray(2 * 500), B: new Float32Array([1, 0, 0, 1]), r: 2, scale: 1, weight: 1 };
    const kept = (await denseCombine('x', [big], 500, 2, { method: 'dare_linear', ...opts, density: 0.3 })).filter((v) => v !== 0).length;
    assert.ok(kept > 230 && kept < 370, `kept ${kept} of 1000`);
  });

  test('dense methods end in a rank-k truncation: full rank reproduces the combined matrix', async () => {
    const m = await mergeModule('m', inputs, 3, 2, { method: 'ties', k: 2, density: 0.5 });
    assert.ok(relErr(mergedDense(m, 3, 2), [4, 3, 2, -3, -4, 0]) <= 1e-5);
    const one = await mergeModule('m', inputs, 3, 2, { method: 'magnitude_prune', k: 1, density: 0.5 });
    const ref = denseTruncation(Float64Array.from([2, 3, 2, -3, -4, 0]), 2, 3, 1);
    assert.ok(relErr(mergedDense(one, 3, 2), ref) <= 1e-5);
  });

  test('keepTopMagnitude keeps exactly ⌊density·N⌋ entries, lowest index first on ties', () => {
    const v = new Float32Array([1, -3, 3, 2, -2, 0.5, 3]);
    keepTopMagnitude(v, 2);
    assert.deepEqual(Array.from(v), [0, -3, 3, 0, 0, 0, 0]);
    const rng = new Rng(4);
    const x = rng.normalArray(10_000);
    const sorted = Array.from(x, Math.abs).sort((a, b) => b - a);
    const y = x.slice();
    keepTopMagnitude(y, 1234);
    assert.equal(y.filter((t) => t !== 0).length, 1234);
    const minKept = Math.min(...Array.from(y).filter((t) => t !== 0).map(Math.abs));
    assert.equal(minKept, sorted[1233]);
  });

  test('randomized truncated SVD matches the Jacobi truncation on a matrix with a decaying spectrum', async () => {
    const rng = new Rng(5);
    const rows = 60;
    const cols = 45;
    // M = Σ_j 2^{-j} u_j v_jᵀ plus small noise.
    const m = new Float64Array(rows * cols);
    for (let j = 0; j < 12; j++) {
      const u = rng.normalArray(rows);
      const v = rng.normalArray(cols);
      for (let i = 0; i < rows; i++) for (let t = 0; t < cols; t++) m[i * cols + t] = m[i * cols + t]! + 2 ** -j * u[i]! * v[t]!;
    }
    const m32 = Float32Array.from(m);
    const k = 4;
    const res = await randomizedTruncatedSvd(m32, rows, cols, k, new Rng(1), 10, 2);
    const approx = denseProduct(res.B, res.A, k, cols, rows);
    const best = denseTruncation(Float64Array.from(m32), rows, cols, k);
    const m64 = Float64Array.from(m32);
    const errBest = relErr(best, m64);
    const errApprox = relErr(approx, m64);
    assert.ok(errApprox <= errBest * 1.01 + 1e-6, `randomized ${errApprox} vs optimal ${errBest}`);
    assert.ok(frob(approx) > 0);
  });
});
