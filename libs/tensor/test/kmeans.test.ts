import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { kmeans } from '../src/kmeans.js';
import { Rng } from '../src/rng.js';

const hasCode = (code: string, field?: string) => (err: unknown) =>
  isWeightsmithError(err) && err.code === code && (field === undefined || err.field === field);

/** Three tight blobs far apart: blob b is centred at 10·b on every axis. */
function blobs(perBlob: number, dim: number, seed: number): { points: Float32Array; labels: number[] } {
  const rng = new Rng(seed);
  const n = 3 * perBlob;
  const points = new Float32Array(n * dim);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const b = i % 3; // interleaved so cluster order cannot come from input order
    labels.push(b);
    for (let d = 0; d < dim; d++) points[i * dim + d] = 10 * b + 0.1 * rng.normal();
  }
  return { points, labels };
}

/** Plain double-loop Lloyd from given centroids, written independently as the reference. */
function naiveLloyd(points: Float32Array, n: number, dim: number, init: Float32Array, k: number, iters: number) {
  const c = Float64Array.from(init);
  const assign = new Array<number>(n).fill(0);
  for (let it = 0; it < iters; it++) {
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let j = 0; j < k; j++) {
        let d = 0;
        for (let t = 0; t < dim; t++) d += (points[i * dim + t]! - c[j * dim + t]!) ** 2;
        if (d < bestD) [bestD, best] = [d, j];
      }
      assign[i] = best;
    }
    for (let j = 0; j < k; j++) {
      const members = assign.map((a, i) => (a === j ? i : -1)).filter((i) => i >= 0);
      if (members.length === 0) continue;
      for (let t = 0; t < dim; t++) c[j * dim + t] = members.reduce((s, i) => s + points[i * dim + t]!, 0) / members.length;
    }
  }
  let inertia = 0;
  for (let i = 0; i < n; i++) for (let t = 0; t < dim; t++) inertia += (points[i * dim + t]! - c[assign[i]! * dim + t]!) ** 2;
  return { centroids: c, assign, inertia };
}

describe('kmeans', () => {
  test('recovers well-separated clusters (large dim goes through the fast matmul path)', async () => {
    const dim = 300;
    const { points, labels } = blobs(10, dim, 1);
    const res = await kmeans(points, 30, dim, 3, { seed: 7 });
    // Same partition as the labels, up to renaming clusters.
    const map = new Map<number, number>();
    for (let i = 0; i < 30; i++) {
      const c = res.assignment[i]!;
      if (!map.has(c)) map.set(c, labels[i]!);
      assert.equal(map.get(c), labels[i]);
    }
    assert.equal(map.size, 3);
    assert.deepEqual([...res.sizes].sort(), [10, 10, 10]);
    for (let j = 0; j < 3; j++) {
      const b = map.get(j)!;
      for (let d = 0; d < dim; d++) assert.ok(Math.abs(res.centroids[j * dim + d]! - 10 * b) < 0.2);
    }
    // Inertia ≈ n·dim·σ² with σ = 0.1 (minus a little for the fitted means).
    assert.ok(res.inertia > 0.8 * 30 * dim * 0.01 && res.inertia < 1.1 * 30 * dim * 0.01, `inertia ${res.inertia}`);
  });

  test('assignment inertia never increases across iterations', async () => {
    const rng = new Rng(3);
    const n = 80;
    const dim = 40;
    const points = rng.normalArray(n * dim);
    const res = await kmeans(points, n, dim, 6, { seed: 1, nInit: 1, tol: 0 });
    assert.ok(res.inertiaHistory.length >= 2);
    for (let i = 1; i < res.inertiaHistory.length; i++) {
      assert.ok(res.inertiaHistory[i]! <= res.inertiaHistory[i - 1]! * (1 + 1e-6), `iteration ${i}: ${res.inertiaHistory[i]} > ${res.inertiaHistory[i - 1]}`);
    }
    assert.ok(res.inertia <= res.inertiaHistory[res.inertiaHistory.length - 1]! * (1 + 1e-6));
  });

  test('same seed gives identical results; the result is a valid clustering for other seeds', async () => {
    const rng = new Rng(4);
    const points = rng.normalArray(50 * 20);
    const a = await kmeans(points, 50, 20, 5, { seed: 'abc' });
    const b = await kmeans(points, 50, 20, 5, { seed: 'abc' });
    assert.deepEqual(a.assignment, b.assignment);
    assert.deepEqual(Buffer.from(a.centroids.buffer), Buffer.from(b.centroids.buffer));
    assert.equal(a.inertia, b.inertia);
    const c = await kmeans(points, 50, 20, 5, { seed: 'xyz' });
    assert.equal(c.sizes.reduce((s, v) => s + v, 0), 50);
  });

  test('k = n gives zero inertia and singleton clusters', async () => {
    const rng = new Rng(5);
    const points = rng.normalArray(12 * 7);
    const res = await kmeans(points, 12, 7, 12, { seed: 0 });
    assert.equal(res.inertia, 0);
    assert.deepEqual(res.sizes, new Array(12).fill(1));
  });

  test('agrees with a naive double-loop Lloyd from the same initial centroids', async () => {
    const rng = new Rng(6);
    const n = 40;
    const dim = 64;
    const k = 4;
    const points = rng.normalArray(n * dim);
    // Initial centroids: four of the points.
    const init = new Float32Array(k * dim);
    for (let j = 0; j < k; j++) init.set(points.subarray(j * 7 * dim, (j * 7 + 1) * dim), j * dim);
    const ref = naiveLloyd(points, n, dim, init, k, 100);
    const res = await kmeans(points, n, dim, k, { init, tol: 0, maxIter: 100 });
    assert.deepEqual(Array.from(res.assignment), ref.assign);
    assert.ok(Math.abs(res.inertia - ref.inertia) <= 1e-5 * ref.inertia);
    for (let i = 0; i < k * dim; i++) assert.ok(Math.abs(res.centroids[i]! - ref.centroids[i]!) < 1e-5);
  });

  test('duplicate points: no crash, all points assigned, empty clusters reported with size 0', async () => {
    const points = new Float32Array([1, 1, 1, 1, 1, 1, 5, 5]);
    const res = await kmeans(points, 4, 2, 3, { seed: 2 });
    assert.equal(res.sizes.reduce((s, v) => s + v, 0), 4);
    assert.equal(res.inertia, 0);
  });

  test('rejects bad input with the field named', async () => {
    const p = new Float32Array(6);
    await assert.rejects(kmeans(p, 3, 2, 0), hasCode(ErrorCode.InvalidInput, 'k'));
    await assert.rejects(kmeans(p, 3, 2, 4), hasCode(ErrorCode.InvalidInput, 'k'));
    await assert.rejects(kmeans(p, 3, 2, 2, { nInit: 0 }), hasCode(ErrorCode.InvalidInput, 'nInit'));
    await assert.rejects(kmeans(p, 3, 2, 2, { tol: -1 }), hasCode(ErrorCode.InvalidInput, 'tol'));
    await assert.rejects(kmeans(new Float32Array([0, NaN, 0, 0, 0, 0]), 3, 2, 2), hasCode(ErrorCode.NonFinite, 'points'));
    await assert.rejects(kmeans(new Float32Array(5), 3, 2, 2), hasCode(ErrorCode.ShapeMismatch, 'points'));
  });
});
