import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { fidelity, measureFidelity, mergeModule, type ModuleFactors } from '../src/merge/index.js';
import { denseProduct, randomAdapter } from './merge-reference.js';

let dIn = 24;
let dOut = 18;

function mixedInputs(seed: number): ModuleFactors[] {
  const rng = new Rng(seed);
  return [
    randomAdapter(rng, 4, dIn, dOut, 16 / 4, 1),
    randomAdapter(rng, 6, dIn, dOut, 8 / Math.sqrt(6), 0.7),
    randomAdapter(rng, 3, dIn, dOut, 2 / 3, -0.4),
  ];
}

describe('measureFidelity (MLAS Grams, Cholesky projector)', () => {
  for (const [di, doo] of [[24, 18], [300, 200]] as const) test(`agrees with the F64 fidelity on lego, svd, cat and a rank-deficient (zero-padded) merge, ${di}→${doo}`, async () => {
    dIn = di;
    dOut = doo;
    const inputs = mixedInputs(11);
    const merges = [
      await mergeModule('m', inputs, dIn, dOut, { method: 'lego', k: 4, seed: 1 }),
      await mergeModule('m', inputs, dIn, dOut, { method: 'svd', k: 5 }),
      await mergeModule('m', inputs, dIn, dOut, { method: 'cat' }),
      await mergeModule('m', [inputs[0]!, inputs[0]!], dIn, dOut, { method: 'cat', k: 10 }),
    ];
    for (const m of merges) {
      const ref = fidelity(inputs, m, dIn, dOut);
      const fast = await measureFidelity(inputs, m, dIn, dOut);
      ref.relativeError.forEach((e, i) => assert.ok(Math.abs(fast.relativeError[i]! - e) < 2e-3, `relativeError[${i}]: ${fast.relativeError[i]} vs ${e}`));
      ref.retainedEnergy.forEach((e, i) => assert.ok(Math.abs(fast.retainedEnergy[i]! - e) < 1e-4, `retainedEnergy[${i}]: ${fast.retainedEnergy[i]} vs ${e}`));
    }
  });

  test('retained energy matches a dense projection onto span B′ (computed by Gram–Schmidt)', async () => {
    dIn = 24;
    dOut = 18;
    const inputs = mixedInputs(12);
    const only0 = await mergeModule('m', [inputs[0]!], dIn, dOut, { method: 'cat' });
    const fast = await measureFidelity(inputs, only0, dIn, dOut);
    // Orthonormal basis of B′'s columns by modified Gram–Schmidt, then ‖Qᵀ·ΔW_i‖ / ‖ΔW_i‖.
    const k = only0.k;
    const q: Float64Array[] = [];
    for (let c = 0; c < k; c++) {
      const v = Float64Array.from({ length: dOut }, (_, o) => only0.B[o * k + c]!);
      for (const u of q) {
        let d = 0;
        for (let o = 0; o < dOut; o++) d += u[o]! * v[o]!;
        for (let o = 0; o < dOut; o++) v[o] = v[o]! - d * u[o]!;
      }
      const nv = Math.hypot(...v);
      if (nv > 1e-9) q.push(v.map((x) => x / nv));
    }
    inputs.forEach((f, i) => {
      const w = denseProduct(f.B, f.A, f.r, dIn, dOut, f.scale);
      let all = 0;
      let kept = 0;
      for (let d = 0; d < dIn; d++) {
        for (let o = 0; o < dOut; o++) all += w[o * dIn + d]! ** 2;
        for (const u of q) {
          let t = 0;
          for (let o = 0; o < dOut; o++) t += u[o]! * w[o * dIn + d]!;
          kept += t * t;
        }
      }
      assert.ok(Math.abs(fast.retainedEnergy[i]! - Math.sqrt(kept / all)) < 1e-4, `input ${i}: ${fast.retainedEnergy[i]} vs ${Math.sqrt(kept / all)}`);
    });
  });
});
