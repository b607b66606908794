import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { Rng } from '@weightsmith/tensor';
import { buildMsuPool, MAX_MERGE_RANK, mergeModule, type MergeOptions, type ModuleFactors } from '../src/merge/index.js';
import { bytesOf, denseProduct, denseSum, mergedDense, randomAdapter, relErr } from './merge-reference.js';

const hasCode = (code: string, field: string) => (err: unknown) => isWeightsmithError(err) && err.code === code && err.field === field;

const dIn = 12;
const dOut = 10;

function twoAdapters(seed: number, r1 = 4, r2 = 4): ModuleFactors[] {
  const rng = new Rng(seed);
  return [randomAdapter(rng, r1, dIn, dOut, 2), randomAdapter(rng, r2, dIn, dOut, 0.5)];
}

describe('merge input and option validation', () => {
  const inputs = twoAdapters(1);
  const bad: [MergeOptions, string][] = [
    [{ method: 'lego', k: 0 }, 'k'],
    [{ method: 'lego', k: 2.5 }, 'k'],
    [{ method: 'lego', k: MAX_MERGE_RANK + 1 }, 'k'],
    [{ method: 'nope' as MergeOptions['method'] }, 'method'],
    [{ method: 'ties', density: 0 }, 'options.density'],
    [{ method: 'dare_ties', density: 1.5 }, 'options.density'],
    [{ method: 'ties', density: Number.NaN }, 'options.density'],
    [{ method: 'lego', metric: 'manhattan' as 'cosine' }, 'options.metric'],
    [{ method: 'lego', paramNorm: 'l1' as 'l2' }, 'options.paramNorm'],
    [{ method: 'lego', outputScale: -1 }, 'options.outputScale'],
    [{ method: 'lego', nInit: 0 }, 'options.nInit'],
    [{ method: 'lego', seed: -3 }, 'seed'],
    [{ method: 'cat', k: 5 }, 'k'],
    [{ method: 'task_arithmetic', lambda: Infinity }, 'options.lambda'],
  ];
  for (const [opts, field] of bad) {
    test(`${JSON.stringify(opts)} → invalid_input on ${field}`, async () => {
      await assert.rejects(mergeModule('m', inputs, dIn, dOut, opts), hasCode(ErrorCode.InvalidInput, field));
    });
  }

  test('linear with unequal ranks names the ranks', async () => {
    await assert.rejects(mergeModule('m', twoAdapters(2, 4, 6), dIn, dOut, { method: 'linear' }), (err: unknown) => {
      return isWeightsmithError(err, ErrorCode.InvalidInput) && err.field === 'method' && err.message.includes('4, 6');
    });
  });

  test('empty input list, bad factor shapes, NaN entries and bad scales are rejected with the field', async () => {
    await assert.rejects(mergeModule('m', [], dIn, dOut, { method: 'lego' }), hasCode(ErrorCode.InvalidInput, 'inputs'));
    const short = { ...inputs[1]!, A: new Float32Array(5) };
    await assert.rejects(mergeModule('m', [inputs[0]!, short], dIn, dOut, { method: 'lego' }), hasCode(ErrorCode.ShapeMismatch, 'inputs[1].A'));
    const nan = { ...inputs[0]!, B: inputs[0]!.B.slice() };
    nan.B[7] = Number.NaN;
    await assert.rejects(mergeModule('m', [nan], dIn, dOut, { method: 'svd' }), hasCode(ErrorCode.NonFinite, 'inputs[0].B'));
    await assert.rejects(mergeModule('m', [{ ...inputs[0]!, scale: Infinity }], dIn, dOut, { method: 'cat' }), hasCode(ErrorCode.InvalidInput, 'inputs[0].scale'));
    await assert.rejects(mergeModule('m', [{ ...inputs[0]!, weight: Number.NaN }], dIn, dOut, { method: 'cat' }), hasCode(ErrorCode.InvalidInput, 'inputs[0].weight'));
  });
});

describe('merge edge cases', () => {
  test('zero MSUs are dropped (zero row of A, zero column of B, zero weight) and reported', async () => {
    const [a, b] = twoAdapters(3);
    const za = { ...a!, A: a!.A.slice() };
    za.A.fill(0, 0, dIn); // rank 0 of adapter a
    const zb = { ...b!, B: b!.B.slice() };
    for (let o = 0; o < dOut; o++) zb.B[o * 4 + 2] = 0; // rank 2 of adapter b
    const rng = new Rng(4);
    const zw = randomAdapter(rng, 3, dIn, dOut, 1, 0);
    const inputs = [za, zb, zw];
    assert.equal(buildMsuPool(inputs, dIn, dOut).n, 6);
    const m = await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 11, paramNorm: 'none', outputScale: 'none' });
    assert.ok(m.stats.warnings.some((w) => w.includes('5 of 11 rank units are zero')));
    assert.ok(m.stats.warnings.some((w) => w.includes('own cluster')));
    assert.equal(m.k, 11);
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseSum(inputs, dIn, dOut)) <= 1e-5);
  });

  test('negative weights: balanced units carry the sign on the A half and still sum to c·b·aᵀ', async () => {
    const rng = new Rng(5);
    const f = randomAdapter(rng, 3, dIn, dOut, 1.5, -2);
    const pool = buildMsuPool([f], dIn, dOut);
    const rebuilt = new Float64Array(dOut * dIn);
    for (let u = 0; u < pool.n; u++) {
      const m = pool.vectors.subarray(u * (dIn + dOut), (u + 1) * (dIn + dOut));
      let na = 0;
      let nb = 0;
      for (let d = 0; d < dIn; d++) na += m[d]! ** 2;
      for (let o = 0; o < dOut; o++) nb += m[dIn + o]! ** 2;
      assert.ok(Math.abs(na - nb) <= 1e-5 * na, 'halves are balanced');
      // Canonical sign: the largest-|·| entry of â is positive.
      const a = Array.from(m.subarray(0, dIn));
      const big = a.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
      assert.ok(big > 0);
      for (let o = 0; o < dOut; o++) for (let d = 0; d < dIn; d++) rebuilt[o * dIn + d] = rebuilt[o * dIn + d]! + m[dIn + o]! * m[d]!;
    }
    assert.ok(relErr(rebuilt, denseProduct(f.B, f.A, 3, dIn, dOut, -3)) <= 1e-5);
  });

  test('k ≥ R warns that every unit is its own cluster and pads with zero ranks', async () => {
    const inputs = twoAdapters(6, 2, 3);
    const m = await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 8, outputScale: 'none', paramNorm: 'none' });
    assert.equal(m.k, 8);
    assert.ok(m.stats.warnings.some((w) => w.includes('own cluster') && w.includes('3 zero ranks')));
    for (let t = 5 * dIn; t < 8 * dIn; t++) assert.equal(m.A[t], 0);
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseSum(inputs, dIn, dOut)) <= 1e-5);
  });

  test('dense methods are deterministic for a seed (same bytes twice)', async () => {
    const inputs = twoAdapters(7);
    for (const method of ['dare_ties', 'dare_linear', 'ties', 'magnitude_prune'] as const) {
      const a = await mergeModule('layers.0.q_proj', inputs, dIn, dOut, { method, k: 3, seed: 5, density: 0.4 });
      const b = await mergeModule('layers.0.q_proj', inputs, dIn, dOut, { method, k: 3, seed: 5, density: 0.4 });
      assert.ok(bytesOf(a.A).equals(bytesOf(b.A)) && bytesOf(a.B).equals(bytesOf(b.B)), method);
      assert.equal(a.k, 3);
    }
  });

  test('each method returns k rows of A′ and k columns of B′', async () => {
    const inputs = twoAdapters(8);
    for (const method of ['lego', 'cat', 'linear', 'task_arithmetic', 'svd', 'ties', 'dare_linear', 'dare_ties', 'magnitude_prune'] as const) {
      const m = await mergeModule('m', inputs, dIn, dOut, { method, k: 8 });
      assert.equal(m.A.length, 8 * dIn, method);
      assert.equal(m.B.length, dOut * 8, method);
      assert.ok(m.A.every(Number.isFinite) && m.B.every(Number.isFinite), method);
    }
  });
});
