import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { isWeightsmithError } from '@weightsmith/core';
import { hungarianMax, hungarianMin } from '../src/fusion/hungarian.js';

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let k = 0; k <= p.length; k++) out.push([...p.slice(0, k), n - 1, ...p.slice(k)]);
  return out;
}

function bruteMin(c: Float64Array, n: number): number {
  let best = Infinity;
  for (const p of permutations(n)) {
    let s = 0;
    for (let i = 0; i < n; i++) s += c[i * n + p[i]!]!;
    best = Math.min(best, s);
  }
  return best;
}

function isPermutation(a: Int32Array): boolean {
  return [...a].sort((x, y) => x - y).every((v, i) => v === i);
}

describe('Hungarian algorithm', () => {
  test('equals brute force over all 720 permutations on random 6×6 matrices', () => {
    assert.equal(permutations(6).length, 720);
    const rng = new Rng('hungarian-6');
    for (let trial = 0; trial < 40; trial++) {
      const c = Float64Array.from(rng.normalArray(36), (v) => (trial % 2 ? Math.round(v * 3) : v)); // odd trials: many ties
      const { rowToCol, cost } = hungarianMin(c, 6);
      assert.ok(isPermutation(rowToCol));
      let s = 0;
      for (let i = 0; i < 6; i++) s += c[i * 6 + rowToCol[i]!]!;
      assert.equal(cost, s);
      assert.ok(Math.abs(cost - bruteMin(c, 6)) <= 1e-12, `trial ${trial}`);
    }
  });

  test('maximisation equals brute force on negated costs', () => {
    const rng = new Rng('hungarian-max');
    for (let trial = 0; trial < 10; trial++) {
      const w = Float64Array.from(rng.normalArray(25));
      const { cost } = hungarianMax(w, 5);
      assert.ok(Math.abs(cost + bruteMin(w.map((x) => -x), 5)) <= 1e-12);
    }
  });

  test('a permuted diagonal is recovered exactly (larger n)', () => {
    const n = 40;
    const perm = new Rng('perm').shuffle(Array.from({ length: n }, (_, i) => i));
    const c = new Float64Array(n * n).fill(1);
    for (let i = 0; i < n; i++) c[i * n + perm[i]!] = 0;
    assert.deepEqual(Array.from(hungarianMin(c, n).rowToCol), perm);
  });

  test('degenerate and tied matrices: deterministic, lowest column wins ties', () => {
    assert.deepEqual(Array.from(hungarianMin(new Float64Array(16), 4).rowToCol), [0, 1, 2, 3]);
    assert.deepEqual(Array.from(hungarianMin(new Float64Array(16).fill(7), 4).rowToCol), [0, 1, 2, 3]);
    // Identical rows: any assignment is optimal; the result is the same every time and a permutation.
    const rows = Float64Array.from([3, 1, 2, 3, 1, 2, 3, 1, 2]);
    const a = hungarianMin(rows, 3);
    const b = hungarianMin(rows, 3);
    assert.deepEqual(a.rowToCol, b.rowToCol);
    assert.ok(isPermutation(a.rowToCol));
    assert.equal(a.cost, 6);
    assert.deepEqual(Array.from(hungarianMin(new Float64Array(0), 0).rowToCol), []);
    assert.deepEqual(Array.from(hungarianMin(Float64Array.from([-5]), 1).rowToCol), [0]);
  });

  test('rejects a non-square or non-finite matrix', () => {
    assert.throws(() => hungarianMin(new Float64Array(5), 2), (e) => isWeightsmithError(e, 'shape_mismatch') && e.field === 'costs');
    assert.throws(() => hungarianMin(Float64Array.from([0, Infinity, 1, 2]), 2), (e) => isWeightsmithError(e, 'non_finite'));
  });
});
