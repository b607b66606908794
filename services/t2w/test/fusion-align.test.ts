import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { isWeightsmithError } from '@weightsmith/core';
import { alignAndAverage, averageHeads, matchHiddenUnits, permuteHiddenUnits, type HeadDims, type MlpHead } from '../src/fusion/align.js';

const dims: HeadDims = { inFeatures: 7, hidden: 16, outFeatures: 5 };

function randomHead(rng: Rng): MlpHead {
  return {
    fc1Weight: rng.normalArray(dims.hidden * dims.inFeatures),
    fc1Bias: rng.normalArray(dims.hidden),
    fc2Weight: rng.normalArray(dims.outFeatures * dims.hidden),
    fc2Bias: rng.normalArray(dims.outFeatures),
  };
}

/** Forward pass written independently of the module: fc2 · GELU(fc1 · x + b1) + b2, float64. */
function forward(head: MlpHead, x: Float32Array): Float64Array {
  const { inFeatures: f, hidden: h, outFeatures: e } = dims;
  const gelu = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
  const hid = new Float64Array(h);
  for (let u = 0; u < h; u++) {
    let s = head.fc1Bias[u]!;
    for (let k = 0; k < f; k++) s += head.fc1Weight[u * f + k]! * x[k]!;
    hid[u] = gelu(s);
  }
  const out = new Float64Array(e);
  for (let o = 0; o < e; o++) {
    let s = head.fc2Bias[o]!;
    for (let u = 0; u < h; u++) s += head.fc2Weight[o * h + u]! * hid[u]!;
    out[o] = s;
  }
  return out;
}

function bytes(head: MlpHead): Buffer {
  return Buffer.concat([head.fc1Weight, head.fc1Bias, head.fc2Weight, head.fc2Bias].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
}

describe('hidden-unit alignment', () => {
  const rng = new Rng('align');
  const head = randomHead(rng);
  const pi = Int32Array.from(new Rng('pi').shuffle(Array.from({ length: dims.hidden }, (_, i) => i)));
  const shuffled = permuteHiddenUnits(head, dims, pi);

  test('permuting hidden units leaves the function unchanged', () => {
    const inputs = new Rng('inputs');
    for (let k = 0; k < 20; k++) {
      const x = inputs.normalArray(dims.inFeatures);
      const a = forward(head, x);
      const b = forward(shuffled, x);
      // Only the order of the hidden-unit sum differs: equal up to float64 rounding.
      for (let o = 0; o < dims.outFeatures; o++) assert.ok(Math.abs(a[o]! - b[o]!) <= 1e-12 * (1 + Math.abs(a[o]!)));
    }
    assert.notDeepEqual(bytes(head), bytes(shuffled));
  });

  for (const cost of ['squared-distance', 'correlation'] as const) {
    test(`recovers a known permutation exactly (${cost})`, () => {
      const perm = matchHiddenUnits(head, shuffled, dims, cost);
      // shuffled unit j is head unit pi[j], so unit i sits at pi⁻¹(i).
      for (let i = 0; i < dims.hidden; i++) assert.equal(pi[perm[i]!], i);
      assert.deepEqual(bytes(permuteHiddenUnits(shuffled, dims, perm)), bytes(head));
    });
  }

  test('aligning noisy permuted copies makes their average close to the original; the plain average is not', () => {
    const noise = new Rng('noise');
    const experts = [head];
    const truePerms: Int32Array[] = [];
    for (let k = 0; k < 3; k++) {
      const p = Int32Array.from(new Rng(`p${k}`).shuffle(Array.from({ length: dims.hidden }, (_, i) => i)));
      truePerms.push(p);
      const copy = permuteHiddenUnits(head, dims, p);
      for (const a of [copy.fc1Weight, copy.fc1Bias, copy.fc2Weight, copy.fc2Bias]) {
        const z = noise.normalArray(a.length, 0, 0.05);
        for (let i = 0; i < a.length; i++) a[i] = a[i]! + z[i]!;
      }
      experts.push(copy);
    }
    const { average, permutations, aligned } = alignAndAverage(experts, dims);
    assert.deepEqual(Array.from(permutations[0]!), Array.from({ length: dims.hidden }, (_, i) => i));
    assert.equal(aligned[0], head);
    truePerms.forEach((p, k) => {
      for (let i = 0; i < dims.hidden; i++) assert.equal(p[permutations[k + 1]![i]!], i, `expert ${k + 1} unit ${i}`);
    });
    const dist = (a: MlpHead) => {
      let s = 0;
      const pairs: Array<[Float32Array, Float32Array]> = [[a.fc1Weight, head.fc1Weight], [a.fc1Bias, head.fc1Bias], [a.fc2Weight, head.fc2Weight]];
      for (const [x, y] of pairs) for (let i = 0; i < x.length; i++) s += (x[i]! - y[i]!) ** 2;
      return Math.sqrt(s);
    };
    // What is left is the averaged noise: std 0.05·√3/4 on 208 values, norm ≈ 0.31.
    assert.ok(dist(average) < 0.5, `aligned ${dist(average)}`);
    assert.ok(dist(averageHeads(experts, dims)) > 5, `plain ${dist(averageHeads(experts, dims))}`);
  });

  test('rejects heads that do not match the layout, bad permutations and references', () => {
    const bad = { ...head, fc1Bias: new Float32Array(3) };
    assert.throws(() => matchHiddenUnits(head, bad, dims), (e) => isWeightsmithError(e, 'shape_mismatch') && e.field === 'other.fc1.bias');
    assert.throws(() => permuteHiddenUnits(head, dims, new Int32Array(dims.hidden)), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'perm');
    assert.throws(() => alignAndAverage([head], dims, { reference: 2 }), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'reference');
    assert.throws(() => alignAndAverage([], dims), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'experts');
    const nan = { ...head, fc2Bias: Float32Array.from([1, 2, 3, 4, Number.NaN]) };
    assert.throws(() => alignAndAverage([head, nan], dims), (e) => isWeightsmithError(e, 'non_finite') && e.field === 'experts.1.fc2.bias');
  });
});
