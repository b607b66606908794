import { invalidInput } from '@weightsmith/core';
import { checkMatrix } from './matrix-checks.js';
import { matmulTransB } from './matmul.js';
import { Rng, type Seed } from './rng.js';

/*
 * Seeded k-means (Lloyd) with k-means++ initialisation and restarts, for pools of a few hundred
 * long vectors (LoRA rank units: n ≈ 64–128 points of dimension up to ~15k, k ≤ n).
 *
 * Distances: ‖x − c‖² = ‖x‖² − 2·x·c + ‖c‖², with the dot products for all point/centroid pairs
 * from one `matmulTransB` (onnxruntime MLAS for large shapes). The F32 dot products cancel when a
 * point lies close to a centroid relative to its norm (relative error ≈ 1e-7·‖x‖²/‖x − c‖²), and
 * can come out slightly negative: they are clamped to 0. To keep ‖x‖² small next to the distances
 * the points are centred (the pool mean subtracted) first; distances do not change under a shift.
 * The cancellation only affects which centroid wins a near-tie; the reported inertia of each run
 * is recomputed exactly (F64 differences) from the final assignment and centroids.
 *
 * k-means++ uses point-to-point distances from one Gram matrix X·Xᵀ (also one MLAS product), so
 * restarts cost O(n²) each. Determinism: every random choice comes from `Rng(seed).fork('run/r')`
 * for restart r; ties (equal distances, equal inertia) go to the lowest index.
 *
 * Empty clusters (possible when points coincide or after a bad start) are re-seeded with the
 * point farthest from its own centroid among clusters with more than one member (lowest index on
 * ties), which then moves to the empty cluster. If no such point exists (all points sit on their
 * centroids), the cluster stays empty: its size is 0 and its centroid is left where it was.
 */

export interface KmeansOptions {
  seed?: Seed;
  /** Restarts with different k-means++ draws; the lowest-inertia run is kept. Default 4. */
  nInit?: number;
  /** Lloyd iterations per run. Default 100. */
  maxIter?: number;
  /** Stop when the assignment inertia changes by at most tol relative to the previous one. Default 1e-6. */
  tol?: number;
  /** Initial centroids (k×dim): one run from these instead of k-means++ (nInit ignored). */
  init?: Float32Array;
}

export interface KmeansResult {
  /** k×dim, row-major: the mean of each cluster's members. */
  centroids: Float32Array;
  /** Cluster index of each point. */
  assignment: Int32Array;
  /** Σ ‖x − centroid(x)‖² of the kept run, in F64. */
  inertia: number;
  /** Lloyd iterations of the kept run. */
  iterations: number;
  sizes: number[];
  /** Assignment-step inertia of each iteration of the kept run (from the fast distances). */
  inertiaHistory: number[];
}

const DEFAULT_N_INIT = 4;
const DEFAULT_MAX_ITER = 100;
const DEFAULT_TOL = 1e-6;

function checkInt(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidInput(field, `${field} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

export async function kmeans(points: Float32Array, n: number, dim: number, k: number, opts: KmeansOptions = {}): Promise<KmeansResult> {
  checkInt(n, 'n', 1);
  checkInt(dim, 'dim', 1);
  checkMatrix(points, n, dim, 'points', true);
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1 || k > n) {
    throw invalidInput('k', `k must be an integer from 1 to the number of points (${n}), got ${String(k)}`);
  }
  const nInit = checkInt(opts.nInit ?? DEFAULT_N_INIT, 'nInit', 1);
  const maxIter = checkInt(opts.maxIter ?? DEFAULT_MAX_ITER, 'maxIter', 1);
  const tol = opts.tol ?? DEFAULT_TOL;
  if (typeof tol !== 'number' || !(tol >= 0) || !Number.isFinite(tol)) throw invalidInput('tol', `tol must be a finite number ≥ 0, got ${String(tol)}`);
  if (opts.init !== undefined) checkMatrix(opts.init, k, dim, 'init', true);

  // Centre the points (see the file comment).
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let d = 0; d < dim; d++) mean[d] = mean[d]! + points[o + d]!;
  }
  for (let d = 0; d < dim; d++) mean[d]! /= n;
  // The centred copy and the run's centroids are work buffers, reused across calls (see takeScratch).
  const x = takeScratch(n * dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let d = 0; d < dim; d++) x[o + d] = points[o + d]! - mean[d]!;
  }
  const xx = rowSquaredNorms(x, n, dim);

  const ctx: RunContext = { x, xx, n, dim, k, maxIter, tol, dots: new Float32Array(n * k) };
  let best: RunResult | undefined;
  const work = takeScratch(k * dim);
  try {
    if (opts.init !== undefined) {
      const c = new Float32Array(k * dim);
      for (let j = 0; j < k; j++) for (let d = 0; d < dim; d++) c[j * dim + d] = opts.init[j * dim + d]! - mean[d]!;
      best = await lloyd(ctx, c);
    } else {
      const gram = await matmulTransB(x, x, n, dim, n);
      const root = new Rng(opts.seed ?? 0);
      const kept = new Float32Array(k * dim);
      for (let r = 0; r < nInit; r++) {
        kmeansPlusPlus(ctx, gram, root.fork(`run/${r}`), work);
        const run = await lloyd(ctx, work);
        if (best === undefined || run.inertia < best.inertia) {
          kept.set(work);
          best = { ...run, centroids: kept };
        }
      }
    }
  } finally {
    putScratch(x);
    putScratch(work);
  }
  const run = best!;
  for (let j = 0; j < k; j++) for (let d = 0; d < dim; d++) run.centroids[j * dim + d] = run.centroids[j * dim + d]! + mean[d]!;
  return {
    centroids: run.centroids,
    assignment: run.assignment,
    inertia: run.inertia,
    iterations: run.iterations,
    sizes: Array.from(run.sizes),
    inertiaHistory: run.history,
  };
}

interface RunContext {
  x: Float32Array;
  xx: Float64Array;
  n: number;
  dim: number;
  k: number;
  maxIter: number;
  tol: number;
  dots: Float32Array;
}

interface RunResult {
  centroids: Float32Array;
  assignment: Int32Array;
  sizes: Int32Array;
  inertia: number;
  iterations: number;
  history: number[];
}

function rowSquaredNorms(a: Float32Array, rows: number, dim: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * dim;
    for (let d = 0; d < dim; d++) s += a[o + d]! * a[o + d]!;
    out[i] = s;
  }
  return out;
}

/** k-means++ (Arthur & Vassilvitskii 2007): each next centre drawn with probability ∝ D². */
function kmeansPlusPlus(ctx: RunContext, gram: Float32Array, rng: Rng, centroids: Float32Array): Float32Array {
  const { x, xx, n, dim, k } = ctx;
  const chosen = new Uint8Array(n);
  const minD = new Float64Array(n).fill(Infinity);
  let next = rng.int(n);
  for (let j = 0; j < k; j++) {
    chosen[next] = 1;
    centroids.set(x.subarray(next * dim, (next + 1) * dim), j * dim);
    for (let i = 0; i < n; i++) {
      const d = i === next ? 0 : Math.max(0, xx[i]! + xx[next]! - 2 * gram[i * n + next]!);
      if (d < minD[i]!) minD[i] = d;
    }
    if (j === k - 1) break;
    let total = 0;
    for (let i = 0; i < n; i++) if (!chosen[i]) total += minD[i]!;
    next = -1;
    if (total > 0) {
      const u = rng.uniform() * total;
      let cum = 0;
      let lastPositive = -1;
      for (let i = 0; i < n; i++) {
        if (chosen[i] || !(minD[i]! > 0)) continue;
        lastPositive = i;
        cum += minD[i]!;
        if (cum > u) {
          next = i;
          break;
        }
      }
      if (next < 0) next = lastPositive; // u landed on the rounding gap at the top
    }
    if (next < 0) next = chosen.indexOf(0); // every remaining point coincides with a centre
  }
  return centroids;
}

/** Lloyd iterations from the given (centred) centroids, which it overwrites. */
async function lloyd(ctx: RunContext, centroids: Float32Array): Promise<RunResult> {
  const { x, xx, n, dim, k, maxIter, tol, dots } = ctx;
  const assignment = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  const sizes = new Int32Array(k);
  const history: number[] = [];
  let iterations = 0;
  for (let iter = 1; iter <= maxIter; iter++) {
    iterations = iter;
    await matmulTransB(x, centroids, n, dim, k, { out: dots });
    const cc = rowSquaredNorms(centroids, k, dim);
    let changed = false;
    let inertia = 0;
    for (let i = 0; i < n; i++) {
      let bestJ = 0;
      let bestD = Infinity;
      for (let j = 0; j < k; j++) {
        const d = Math.max(0, xx[i]! - 2 * dots[i * k + j]! + cc[j]!);
        if (d < bestD) {
          bestD = d;
          bestJ = j;
        }
      }
      if (assignment[i] !== bestJ) changed = true;
      assignment[i] = bestJ;
      dist[i] = bestD;
      inertia += bestD;
    }
    const prev = history.length > 0 ? history[history.length - 1]! : Infinity;
    history.push(inertia);
    if (!changed && iter > 1) break; // centroids are already the means of this assignment
    await updateCentroids(x, n, dim, k, assignment, dist, centroids, sizes);
    if (Number.isFinite(prev) && prev - inertia <= tol * prev) break;
  }
  return { centroids, assignment, sizes, inertia: exactInertia(x, n, dim, centroids, assignment), iterations, history };
}

/**
 * Re-seeds empty clusters (see the file comment), then sets each centroid to the mean of its
 * members.
 */
async function updateCentroids(
  x: Float32Array,
  n: number,
  dim: number,
  k: number,
  assignment: Int32Array,
  dist: Float64Array,
  centroids: Float32Array,
  sizes: Int32Array,
): Promise<void> {
  sizes.fill(0);
  for (let i = 0; i < n; i++) sizes[assignment[i]!]! += 1;
  for (let j = 0; j < k; j++) {
    if (sizes[j]! > 0) continue;
    let far = -1;
    for (let i = 0; i < n; i++) {
      if (sizes[assignment[i]!]! > 1 && dist[i]! > 0 && (far < 0 || dist[i]! > dist[far]!)) far = i;
    }
    if (far < 0) continue;
    sizes[assignment[far]!]! -= 1;
    assignment[far] = j;
    sizes[j] = 1;
    dist[far] = 0;
  }
  // Sums of members in place (n·dim adds): cheaper here than a k×n×dim product, whose result
  // would also be fresh memory on every iteration.
  for (let j = 0; j < k; j++) if (sizes[j]! > 0) centroids.fill(0, j * dim, (j + 1) * dim);
  for (let i = 0; i < n; i++) {
    const co = assignment[i]! * dim;
    const xo = i * dim;
    for (let d = 0; d < dim; d++) centroids[co + d] = centroids[co + d]! + x[xo + d]!;
  }
  for (let j = 0; j < k; j++) {
    if (sizes[j]! <= 1) continue;
    const f = 1 / sizes[j]!;
    const co = j * dim;
    for (let d = 0; d < dim; d++) centroids[co + d] = centroids[co + d]! * f;
  }
}

function exactInertia(x: Float32Array, n: number, dim: number, centroids: Float32Array, assignment: Int32Array): number {
  let total = 0;
  for (let i = 0; i < n; i++) {
    const xo = i * dim;
    const co = assignment[i]! * dim;
    for (let d = 0; d < dim; d++) {
      const v = x[xo + d]! - centroids[co + d]!;
      total += v * v;
    }
  }
  return total;
}

/*
 * One reusable buffer per length (fresh memory costs ~4 ms per MB in page faults on the dev VM,
 * more than the clustering itself). Taken out while in use, so concurrent calls never share one.
 */
const scratch = new Map<number, Float32Array>();

function takeScratch(length: number): Float32Array {
  const b = scratch.get(length);
  if (b === undefined) return new Float32Array(length);
  scratch.delete(length);
  return b;
}

function putScratch(buf: Float32Array): void {
  scratch.delete(buf.length);
  scratch.set(buf.length, buf);
  if (scratch.size > 8) scratch.delete(scratch.keys().next().value!);
}
