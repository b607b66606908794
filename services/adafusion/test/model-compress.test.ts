import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, qr, symmetricEigen } from '@weightsmith/tensor';
import { compressRows, fitClosedForm, pcaProjection, layerNormRowsInPlace } from '../src/model/compress.js';
import { covariance, centreColumns, fitPca, topEigen } from '../src/model/pca.js';
import { procrustesRotation } from '../src/model/procrustes.js';

function randomOrthogonal(rng: Rng, d: number): Float64Array {
  return qr(Float64Array.from(rng.normalArray(d * d)), d, d).q;
}

function matmul64(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + a[i * k + p]! * b[p * n + j]!;
  return out;
}

/** Data with a decaying spectrum: x = s ⊙ g · Q (+ offset), so the covariance's eigenvectors are Q's rows. */
function spectrumData(rng: Rng, n: number, dim: number): { x: Float32Array; basis: Float64Array; scales: number[] } {
  const basis = randomOrthogonal(rng, dim);
  const scales = Array.from({ length: dim }, (_, i) => 10 * Math.pow(0.8, i));
  const x = new Float32Array(n * dim);
  for (let t = 0; t < n; t++) {
    const g = scales.map((s) => s * rng.normal());
    for (let j = 0; j < dim; j++) {
      let v = 3;
      for (let k = 0; k < dim; k++) v += g[k]! * basis[k * dim + j]!;
      x[t * dim + j] = v;
    }
  }
  return { x, basis, scales };
}

/** Top eigenvector by power iteration (an independent method from the Jacobi/subspace solvers). */
function powerIteration(c: Float32Array, dim: number, deflate: Float64Array[]): Float64Array {
  let v = new Float64Array(dim).fill(1);
  for (let it = 0; it < 2000; it++) {
    const w = new Float64Array(dim);
    for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) w[i] = w[i]! + c[i * dim + j]! * v[j]!;
    for (const u of deflate) {
      let dotp = 0;
      for (let i = 0; i < dim; i++) dotp += w[i]! * u[i]!;
      for (let i = 0; i < dim; i++) w[i] = w[i]! - dotp * u[i]!;
    }
    const norm = Math.hypot(...w);
    v = w.map((x) => x / norm);
  }
  return v;
}

describe('closed-form compression', () => {
  test('Procrustes recovers a known rotation (< 1e-5)', async () => {
    const rng = new Rng(1);
    const n = 200;
    const d = 12;
    const za = rng.normalArray(n * d);
    const r = randomOrthogonal(rng, d);
    // z_m = z_a Rᵀ, so z_m R = z_a.
    const rt = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) rt[i * d + j] = r[j * d + i]!;
    const zm = Float32Array.from(matmul64(za, rt, n, d, d));
    const found = await procrustesRotation(zm, za, n, d);
    let maxDiff = 0;
    for (let i = 0; i < d * d; i++) maxDiff = Math.max(maxDiff, Math.abs(found[i]! - r[i]!));
    assert.ok(maxDiff < 1e-5, `max |R − R_true| = ${maxDiff}`);
  });

  test('PCA components match power iteration on the covariance', async () => {
    const rng = new Rng(2);
    const n = 2000;
    const dim = 10;
    const d = 4;
    const { x } = spectrumData(rng, n, dim);
    const pca = await fitPca(x, n, dim, d);
    const { centred } = centreColumns(x, n, dim);
    const cov = await covariance(centred, n, dim);
    const found: Float64Array[] = [];
    for (let k = 0; k < d; k++) {
      const v = powerIteration(cov, dim, found);
      found.push(v);
      let dotp = 0;
      for (let i = 0; i < dim; i++) dotp += v[i]! * pca.components[i * d + k]!;
      assert.ok(Math.abs(Math.abs(dotp) - 1) < 1e-4, `component ${k}: |cos| = ${Math.abs(dotp)}`);
      // Sign convention: largest-|·| entry positive.
      let best = 0;
      for (let i = 1; i < dim; i++) if (Math.abs(pca.components[i * d + k]!) > Math.abs(pca.components[best * d + k]!)) best = i;
      assert.ok(pca.components[best * d + k]! > 0);
    }
    // Means are the column means.
    for (let j = 0; j < dim; j++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += x[t * dim + j]!;
      assert.ok(Math.abs(pca.mean[j]! - s / n) < 1e-9);
    }
  });

  test('the subspace-iteration path agrees with the exact eigensolver', async () => {
    const rng = new Rng(3);
    const dim = 64;
    const d = 8;
    const { x } = spectrumData(rng, 1500, dim);
    const { centred } = centreColumns(x, 1500, dim);
    const cov = await covariance(centred, 1500, dim);
    const exact = symmetricEigen(cov, dim);
    const fast = await topEigen(cov, dim, d, { exactMaxDim: 16, oversample: 8, seed: 5 });
    for (let k = 0; k < d; k++) {
      assert.ok(Math.abs(fast.values[k]! - exact.values[k]!) < 1e-3 * exact.values[0]!, `eigenvalue ${k}`);
      let dotp = 0;
      for (let i = 0; i < dim; i++) dotp += fast.vectors[i * d + k]! * exact.vectors[i * dim + k]!;
      assert.ok(dotp > 1 - 1e-4, `eigenvector ${k}: cos = ${dotp}`);
    }
  });

  test('the folded map equals centre → PCA → rotate → LayerNorm step by step', async () => {
    const rng = new Rng(4);
    const n = 300;
    const dims = [9, 7];
    const d = 5;
    const samples = dims.map((dim) => spectrumData(rng, n, dim).x);
    for (const whiten of [false, true]) {
      const fit = await fitClosedForm(samples, n, dims, { d, whiten, anchor: 1, seed: 1 });
      for (let m = 0; m < 2; m++) {
        const dim = dims[m]!;
        const p = pcaProjection(fit.pcas[m]!, whiten);
        const r = fit.rotations[m]!;
        const folded = await compressRows(samples[m]!, n, fit.maps[m]!);
        // Step by step in F64.
        const centred = new Float64Array(n * dim);
        for (let t = 0; t < n; t++) for (let j = 0; j < dim; j++) centred[t * dim + j] = samples[m]![t * dim + j]! - fit.pcas[m]!.mean[j]!;
        const steps = Float32Array.from(matmul64(matmul64(centred, p, n, dim, d), r, n, d, d));
        layerNormRowsInPlace(steps, n, d);
        let maxDiff = 0;
        for (let i = 0; i < n * d; i++) maxDiff = Math.max(maxDiff, Math.abs(folded[i]! - steps[i]!));
        assert.ok(maxDiff < 1e-4, `model ${m} whiten=${whiten}: max diff ${maxDiff}`);
      }
      // The anchor is not rotated.
      const r1 = fit.rotations[1]!;
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) assert.equal(r1[i * d + j], i === j ? 1 : 0);
      if (whiten) {
        // Whitened PCA codes have unit variance per component.
        const pca = fit.pcas[0]!;
        const p = pcaProjection(pca, true);
        const { centred } = centreColumns(samples[0]!, n, dims[0]!);
        const codes = matmul64(centred, p, n, dims[0]!, d);
        for (let k = 0; k < d; k++) {
          let v = 0;
          for (let t = 0; t < n; t++) v += codes[t * d + k]! ** 2;
          assert.ok(Math.abs(v / (n - 1) - 1) < 1e-3, `component ${k} variance ${v / (n - 1)}`);
        }
      }
    }
  });
});
