/**
 * PCA of tile features to d components, on F32 row-major samples.
 *
 * The covariance (dim × dim) is one MLAS product of the centred samples. Its top-d eigenvectors
 * come from the exact Jacobi solver when the matrix is small, and otherwise from block subspace
 * iteration with a Rayleigh–Ritz step (Halko, Martinsson & Tropp 2011, alg. 4.4 on a symmetric
 * matrix): Jacobi costs ~n³ per sweep in JS, too slow for 1536-dim features, while the subspace
 * iteration costs a few dim²·k products in MLAS plus one k×k Jacobi.
 *
 * Signs are fixed deterministically: the largest-|·| entry of each component is positive.
 */
import { invalidInput } from '@weightsmith/core';
import { Rng, matmul, qr, symmetricEigen, type Seed } from '@weightsmith/tensor';

export interface PcaResult {
  dim: number;
  d: number;
  /** Per-feature mean (dim). */
  mean: Float64Array;
  /** dim × d, column j = component j (row-major). */
  components: Float64Array;
  /** Variance along each component, descending (d). */
  variances: Float64Array;
}

export interface PcaOptions {
  seed?: Seed;
  /** Use the exact Jacobi eigensolver up to this dim (default 160). */
  exactMaxDim?: number;
  /** Extra subspace columns beyond d (default 16). */
  oversample?: number;
  /** Subspace iterations (default 4; Rayleigh–Ritz after them makes the top-d subspace accurate to (λ_{k+1}/λ_d)^(2·iterations+1)). */
  iterations?: number;
}

export function transposeF32(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) t[j * rows + i] = a[o + j]!;
  }
  return t;
}

/** Column means (F64) and the centred copy (F32). */
export function centreColumns(x: Float32Array, n: number, dim: number): { mean: Float64Array; centred: Float32Array } {
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) mean[j] = mean[j]! + x[o + j]!;
  }
  for (let j = 0; j < dim; j++) mean[j] = mean[j]! / n;
  const centred = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) centred[o + j] = x[o + j]! - mean[j]!;
  }
  return { mean, centred };
}

/** Sample covariance (dim × dim, F32, symmetrised) of already centred rows. */
export async function covariance(centred: Float32Array, n: number, dim: number): Promise<Float32Array> {
  const cov = await matmul(transposeF32(centred, n, dim), centred, dim, n, dim);
  const f = 1 / Math.max(1, n - 1);
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = 0.5 * (cov[i * dim + j]! + cov[j * dim + i]!) * f;
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return cov;
}

export async function fitPca(x: Float32Array, n: number, dim: number, d: number, opts: PcaOptions = {}): Promise<PcaResult> {
  if (!Number.isInteger(d) || d < 1 || d > dim) throw invalidInput('d', `d must be an integer from 1 to the feature dim (${dim}), got ${d}`);
  if (n < 2) throw invalidInput('n', `PCA needs at least 2 samples, got ${n}`);
  const { mean, centred } = centreColumns(x, n, dim);
  const cov = await covariance(centred, n, dim);
  const { vectors, values } = await topEigen(cov, dim, d, opts);
  return { dim, d, mean, components: vectors, variances: values };
}

/** The top-d eigenpairs of a symmetric dim × dim matrix: vectors dim × d (columns), values d. */
export async function topEigen(
  sym: Float32Array,
  dim: number,
  d: number,
  opts: PcaOptions = {},
): Promise<{ vectors: Float64Array; values: Float64Array }> {
  const exactMax = opts.exactMaxDim ?? 160;
  const k = Math.min(dim, d + (opts.oversample ?? 16));
  if (dim <= exactMax || k >= dim) {
    const e = symmetricEigen(sym, dim);
    return { vectors: takeColumns(e.vectors, dim, dim, d), values: e.values.slice(0, d) };
  }
  const rng = new Rng(opts.seed ?? 0).fork('pca-subspace');
  let q = orthonormalise(Float32Array.from(rng.normalArray(dim * k)), dim, k);
  const iterations = opts.iterations ?? 4;
  for (let it = 0; it < iterations; it++) q = orthonormalise(await matmul(sym, q, dim, dim, k), dim, k);
  // Rayleigh–Ritz: eigen-decompose Qᵀ S Q (k × k) and rotate Q by its eigenvectors.
  const sq = await matmul(sym, q, dim, dim, k);
  const small = await matmul(transposeF32(q, dim, k), sq, k, dim, k);
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const v = 0.5 * (small[i * k + j]! + small[j * k + i]!);
      small[i * k + j] = v;
      small[j * k + i] = v;
    }
  }
  const e = symmetricEigen(small, k);
  const vectors = new Float64Array(dim * d);
  for (let i = 0; i < dim; i++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += q[i * k + p]! * e.vectors[p * k + c]!;
      vectors[i * d + c] = s;
    }
  }
  fixSigns(vectors, dim, d);
  return { vectors, values: e.values.slice(0, d) };
}

function orthonormalise(y: Float32Array, rows: number, cols: number): Float32Array {
  return Float32Array.from(qr(y, rows, cols).q);
}

function takeColumns(a: Float64Array, rows: number, cols: number, take: number): Float64Array {
  const out = new Float64Array(rows * take);
  for (let i = 0; i < rows; i++) for (let j = 0; j < take; j++) out[i * take + j] = a[i * cols + j]!;
  return out;
}

/** Flips each column so its largest-|·| entry (the first on a tie) is positive. */
export function fixSigns(v: Float64Array, rows: number, cols: number): void {
  for (let j = 0; j < cols; j++) {
    let best = 0;
    for (let i = 1; i < rows; i++) if (Math.abs(v[i * cols + j]!) > Math.abs(v[best * cols + j]!)) best = i;
    if (v[best * cols + j]! >= 0) continue;
    for (let i = 0; i < rows; i++) v[i * cols + j] = -v[i * cols + j]!;
  }
}
