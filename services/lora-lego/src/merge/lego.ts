import { kmeans } from '@weightsmith/tensor';
import { buildMsuPool, type MsuPool } from './msu.js';
import { putScratch, takeScratch } from './scratch.js';
import type { ResolvedOptions } from './options.js';
import type { MergedModule, ModuleFactors } from './types.js';

/*
 * LoRA-LEGO (Zhao et al., ICLR 2025), spec steps 1–6, for one module.
 *
 * Decisions where the paper is silent:
 * - metric 'cosine': k-means runs on the unit vectors m/‖m‖ (assignment by angle); the centroid
 *   of a cluster is then the mean of its members' ORIGINAL vectors (spec step 3 unchanged), so
 *   its scale is in parameter units before step 4.
 * - paramNorm 'linf': μ_c ← μ_c · mean_{m∈C}‖m‖_∞ / ‖μ_c‖_∞ (max-abs over the whole [â; b̂]).
 *   Both reweightings scale the whole vector, so ā_c and b̄_c each get the factor.
 * - outputScale 'sqrt_rank_ratio': γ = √(r_ref / k) with r_ref = Σ|w_i|·r_i / Σ|w_i| over the
 *   inputs (the rank an input has on average, weighted by how much it counts); k is the
 *   requested output rank.
 * - k ≥ number of non-zero units: no clustering, every unit is its own cluster (warning); the
 *   factors are zero-padded up to k. Empty clusters (only possible with coinciding units) give
 *   zero rows/columns.
 * - The k-means seed is the merge seed as given, the same for every module: the pool differs
 *   per module, and this keeps a module's result independent of which other modules exist.
 */
export async function legoMerge(inputs: readonly ModuleFactors[], dIn: number, dOut: number, opts: ResolvedOptions): Promise<MergedModule> {
  const R = inputs.reduce((s, f) => s + f.r, 0);
  const poolBuffer = takeScratch(R * (dIn + dOut));
  try {
    return await legoFromPool(buildMsuPool(inputs, dIn, dOut, poolBuffer), inputs, R, dIn, dOut, opts);
  } finally {
    putScratch(poolBuffer);
  }
}

async function legoFromPool(pool: MsuPool, inputs: readonly ModuleFactors[], R: number, dIn: number, dOut: number, opts: ResolvedOptions): Promise<MergedModule> {
  const warnings: string[] = [];
  const k = opts.k;
  if (pool.dropped > 0) warnings.push(`${pool.dropped} of ${R} rank units are zero (zero factor or zero weight·scale) and were dropped`);
  const A = new Float32Array(k * dIn);
  const B = new Float32Array(dOut * k);
  const { n, dim } = pool;
  if (n === 0) {
    warnings.push('every rank unit is zero: the merged delta is zero');
    return { A, B, k, stats: { inertia: 0, clusterSizes: [], iterations: 0, warnings } };
  }

  let centroids: Float32Array;
  let sizes: number[];
  let inertia = 0;
  let iterations = 0;
  let members: Int32Array;
  if (k >= n) {
    warnings.push(`k = ${k} ≥ ${n} non-zero rank units: every unit is its own cluster (no clustering)${k > n ? `; ${k - n} zero ranks pad the output` : ''}`);
    centroids = pool.vectors.slice();
    sizes = new Array<number>(n).fill(1);
    members = Int32Array.from({ length: n }, (_, i) => i);
  } else {
    let points = pool.vectors;
    if (opts.metric === 'cosine') {
      points = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) for (let t = 0; t < dim; t++) points[i * dim + t] = pool.vectors[i * dim + t]! / pool.norms[i]!;
    }
    const res = await kmeans(points, n, dim, k, { seed: opts.seed, nInit: opts.nInit, maxIter: opts.maxIter, tol: opts.tol });
    sizes = res.sizes;
    iterations = res.iterations;
    members = res.assignment;
    inertia = res.inertia;
    centroids = opts.metric === 'cosine' ? clusterMeans(pool.vectors, n, dim, k, members, sizes) : res.centroids;
    for (let c = 0; c < k; c++) if (sizes[c] === 0) centroids.fill(0, c * dim, (c + 1) * dim);
  }
  const clusters = sizes.length;

  if (opts.paramNorm !== 'none') {
    const memberNorm = new Float64Array(clusters);
    for (let i = 0; i < n; i++) {
      const v = pool.vectors.subarray(i * dim, (i + 1) * dim);
      const c = members[i]!;
      memberNorm[c] = memberNorm[c]! + (opts.paramNorm === 'l2' ? pool.norms[i]! : maxAbs(v));
    }
    for (let c = 0; c < clusters; c++) {
      if (sizes[c] === 0) continue;
      const mu = centroids.subarray(c * dim, (c + 1) * dim);
      const own = opts.paramNorm === 'l2' ? l2(mu) : maxAbs(mu);
      if (own === 0) {
        warnings.push(`cluster ${c}: its members cancel out (zero centroid), it contributes nothing`);
        continue;
      }
      const f = memberNorm[c]! / sizes[c]! / own;
      for (let t = 0; t < dim; t++) mu[t] = mu[t]! * f;
    }
  }

  const gamma = outputGamma(inputs, k, opts.outputScale);
  for (let c = 0; c < clusters; c++) {
    A.set(centroids.subarray(c * dim, c * dim + dIn), c * dIn);
    for (let o = 0; o < dOut; o++) B[o * k + c] = gamma * centroids[c * dim + dIn + o]!;
  }
  return { A, B, k, stats: { inertia, clusterSizes: sizes, iterations, warnings } };
}

/** γ of spec step 5 (see the file comment for r_ref). */
export function outputGamma(inputs: readonly ModuleFactors[], k: number, outputScale: ResolvedOptions['outputScale']): number {
  if (typeof outputScale === 'number') return outputScale;
  if (outputScale === 'none') return 1;
  let num = 0;
  let den = 0;
  for (const f of inputs) {
    num += Math.abs(f.weight) * f.r;
    den += Math.abs(f.weight);
  }
  return den === 0 ? 1 : Math.sqrt(num / den / k);
}

function clusterMeans(vectors: Float32Array, n: number, dim: number, k: number, assignment: Int32Array, sizes: number[]): Float32Array {
  const sums = new Float64Array(k * dim);
  for (let i = 0; i < n; i++) {
    const o = assignment[i]! * dim;
    for (let t = 0; t < dim; t++) sums[o + t] = sums[o + t]! + vectors[i * dim + t]!;
  }
  const out = new Float32Array(k * dim);
  for (let c = 0; c < k; c++) if (sizes[c]! > 0) for (let t = 0; t < dim; t++) out[c * dim + t] = sums[c * dim + t]! / sizes[c]!;
  return out;
}

function l2(v: Float32Array): number {
  let s = 0;
  for (let t = 0; t < v.length; t++) s += v[t]! * v[t]!;
  return Math.sqrt(s);
}

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (let t = 0; t < v.length; t++) m = Math.max(m, Math.abs(v[t]!));
  return m;
}
