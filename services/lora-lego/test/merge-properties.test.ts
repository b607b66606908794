import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { fidelity, mergeModule, type ModuleFactors } from '../src/merge/index.js';
import { bytesOf, denseProduct, denseSum, mergedDense, permuteRanks, randomAdapter, relErr } from './merge-reference.js';

const dIn = 24;
const dOut = 18;

/** Three adapters with mixed ranks, scales (α/r and rsLoRA-style α/√r) and weights, one negative. */
function mixedInputs(seed: number): ModuleFactors[] {
  const rng = new Rng(seed);
  return [
    randomAdapter(rng, 4, dIn, dOut, 16 / 4, 1),
    randomAdapter(rng, 6, dIn, dOut, 8 / Math.sqrt(6), 0.7),
    randomAdapter(rng, 3, dIn, dOut, 2 / 3, -0.4),
  ];
}

describe('LoRA-LEGO algebraic properties', () => {
  test('concatenation–summation: cat gives Σ w_i s_i B_i A_i', async () => {
    const inputs = mixedInputs(1);
    const m = await mergeModule('m', inputs, dIn, dOut, { method: 'cat' });
    assert.equal(m.k, 13);
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseSum(inputs, dIn, dOut)) <= 1e-5);
  });

  test('permutation invariance: ranks inside an adapter and adapter order give the same LEGO bytes', async () => {
    const inputs = mixedInputs(2);
    for (const metric of ['euclidean', 'cosine'] as const) {
      const opts = { method: 'lego' as const, k: 5, seed: 11, metric };
      const base = await mergeModule('m', inputs, dIn, dOut, opts);
      const permutedRanks = [permuteRanks(inputs[0]!, [2, 0, 3, 1], dIn, dOut), inputs[1]!, permuteRanks(inputs[2]!, [2, 1, 0], dIn, dOut)];
      const reordered = [inputs[2]!, inputs[0]!, inputs[1]!];
      for (const other of [permutedRanks, reordered]) {
        const m = await mergeModule('m', other, dIn, dOut, opts);
        assert.ok(bytesOf(m.A).equals(bytesOf(base.A)), `${metric}: A differs`);
        assert.ok(bytesOf(m.B).equals(bytesOf(base.B)), `${metric}: B differs`);
        assert.deepEqual(m.stats, base.stats);
      }
    }
  });

  test('one adapter, k = r, reweighting off: its own ΔW back', async () => {
    const rng = new Rng(3);
    const f = randomAdapter(rng, 8, dIn, dOut, 2);
    const m = await mergeModule('m', [f], dIn, dOut, { method: 'lego', k: 8, paramNorm: 'none', outputScale: 'none' });
    assert.ok(relErr(mergedDense(m, dIn, dOut), denseProduct(f.B, f.A, 8, dIn, dOut, 2)) <= 1e-5);
    assert.ok(m.stats.warnings.some((w) => w.includes('own cluster')));
  });

  test('k = R, reweighting off: exactly the cat merge', async () => {
    const inputs = mixedInputs(4);
    const lego = await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 13, paramNorm: 'none', outputScale: 'none' });
    const cat = await mergeModule('m', inputs, dIn, dOut, { method: 'cat' });
    assert.ok(relErr(mergedDense(lego, dIn, dOut), mergedDense(cat, dIn, dOut)) <= 1e-5);
    assert.deepEqual(lego.stats.clusterSizes, new Array(13).fill(1));
  });

  test('one adapter, k < r (pruning): ‖ΔW − ΔW′‖ falls as k grows', async () => {
    const rng = new Rng(5);
    const r = 8;
    const f = randomAdapter(rng, r, dIn, dOut, 1.5);
    const target = denseProduct(f.B, f.A, r, dIn, dOut, 1.5);
    for (const reweight of [{ paramNorm: 'none', outputScale: 'none' }, {}] as const) {
      const errors: number[] = [];
      for (let k = 1; k <= r; k++) {
        const m = await mergeModule('m', [f], dIn, dOut, { method: 'lego', k, seed: 0, ...reweight });
        errors.push(relErr(mergedDense(m, dIn, dOut), target));
      }
      for (let k = 1; k < r; k++) assert.ok(errors[k]! <= errors[k - 1]! + 1e-9, `${JSON.stringify(reweight)}: errors ${errors.map((e) => e.toFixed(4)).join(' ')}`);
      if (Object.keys(reweight).length > 0) assert.ok(errors[r - 1]! < 1e-5);
    }
  });

  test('same seed → identical bytes; the seed reaches the clustering', async () => {
    const inputs = mixedInputs(6);
    const a = await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 4, seed: 'run-1' });
    const b = await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 4, seed: 'run-1' });
    assert.ok(bytesOf(a.A).equals(bytesOf(b.A)) && bytesOf(a.B).equals(bytesOf(b.B)));
    let differs = false;
    for (let s = 0; s < 8 && !differs; s++) {
      const c = await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 4, seed: s, nInit: 1 });
      differs = !bytesOf(c.A).equals(bytesOf(a.A));
    }
    assert.ok(differs, 'eight different seeds all gave the same clustering');
  });

  test('LEGO defaults: k = max r, l2 reweighting and √(r_ref/k) output scale, computed by hand for a tiny pool', async () => {
    // One adapter, r = 2, dIn = 2, dOut = 1, two identical units: a = (1, 0), b = (2) and s = 2.
    // Balanced unit: c = 2, ‖a‖ = 1, ‖b‖ = 2 → â = a·√(2·2/1) = (2, 0), b̂ = 2·√(2·1/2) = (2). m = (2, 0, 2).
    // k = 1: centroid (2, 0, 2), ‖μ‖ = mean‖m‖ so l2 reweighting keeps it; γ = √(2/1).
    const f: ModuleFactors = { A: new Float32Array([1, 0, 1, 0]), B: new Float32Array([2, 2]), r: 2, scale: 2, weight: 1 };
    const m = await mergeModule('m', [f], 2, 1, { method: 'lego', k: 1 });
    assert.deepEqual(Array.from(m.A), [2, 0]);
    assert.ok(Math.abs(m.B[0]! - 2 * Math.SQRT2) < 1e-6);
    assert.deepEqual(m.stats.clusterSizes, [2]);
  });

  test('paramNorm l2 and linf rescale the centroid to the members’ mean norm (hand example)', async () => {
    // Units (after balancing) m1 = (2, 0 | 2) and m2 = (0, 2 | 2) (dIn = 2, dOut = 1), one cluster.
    // μ = (1, 1 | 2): ‖μ‖₂ = √6, mean‖m‖₂ = √8 → factor √8/√6; ‖μ‖∞ = 2, mean‖m‖∞ = 2 → factor 1.
    const f: ModuleFactors = { A: new Float32Array([1, 0, 0, 1]), B: new Float32Array([2, 2]), r: 2, scale: 2, weight: 1 };
    const l2 = await mergeModule('m', [f], 2, 1, { method: 'lego', k: 1, outputScale: 'none' });
    const g = Math.sqrt(8 / 6);
    assert.ok(Math.abs(l2.A[0]! - g) < 1e-6 && Math.abs(l2.A[1]! - g) < 1e-6 && Math.abs(l2.B[0]! - 2 * g) < 1e-6);
    const linf = await mergeModule('m', [f], 2, 1, { method: 'lego', k: 1, outputScale: 'none', paramNorm: 'linf' });
    assert.deepEqual([...linf.A, ...linf.B], [1, 1, 2]);
    const scaled = await mergeModule('m', [f], 2, 1, { method: 'lego', k: 1, outputScale: 3, paramNorm: 'none' });
    assert.deepEqual([...scaled.A, ...scaled.B], [1, 1, 6]);
  });

  test('fidelity equals the dense computation (relative error to ΔW_i without w_i, retained energy in span B′)', async () => {
    const inputs = mixedInputs(7);
    const m = await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 4, seed: 3 });
    const fid = fidelity(inputs, m, dIn, dOut);
    const merged = mergedDense(m, dIn, dOut);
    inputs.forEach((f, i) => {
      const target = denseProduct(f.B, f.A, f.r, dIn, dOut, f.scale);
      assert.ok(Math.abs(fid.relativeError[i]! - relErr(merged, target)) < 1e-6);
    });
    // Retained energy: cat's B' spans the columns of every B_i, so each input keeps everything;
    // with B' = only the first input's columns, input 0 keeps everything and the others lose some.
    const cat = await mergeModule('m', inputs, dIn, dOut, { method: 'cat' });
    for (const e of fidelity(inputs, cat, dIn, dOut).retainedEnergy) assert.ok(Math.abs(e - 1) < 1e-6);
    const only0 = await mergeModule('m', [inputs[0]!], dIn, dOut, { method: 'cat' });
    const fe = fidelity(inputs, only0, dIn, dOut);
    assert.ok(Math.abs(fe.retainedEnergy[0]! - 1) < 1e-6);
    assert.ok(fe.retainedEnergy[1]! < 0.9);
    assert.ok(Math.abs(fe.relativeError[0]! - 0) < 1e-3);
  });
});
