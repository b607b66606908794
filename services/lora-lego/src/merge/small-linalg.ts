import { matmul, matmulTransB, symmetricEigen } from '@weightsmith/tensor';

/*
 * Small helpers around Gram matrices. The merge code works with tall factors (d×R with d up to
 * ~11k and R up to a few hundred): their R×R Gram matrices come from one fast matmul, and all
 * the linear algebra that follows is on R×R matrices in F64.
 */

/** Eigenvalues at or below this fraction of the largest are treated as zero (rank deficiency). */
export const GRAM_RELATIVE_FLOOR = 1e-12;

/** Transpose of a row-major rows×cols F32 matrix. */
export function transposeF32(a: Float32Array, rows: number, cols: number, out = new Float32Array(rows * cols)): Float32Array {
  for (let i = 0; i < rows; i++) {
    const o = i * cols;
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[o + j]!;
  }
  return out;
}

/** X·Xᵀ (rows×rows) of a row-major rows×len matrix, made exactly symmetric, as F64. */
export async function rowGram(x: Float32Array, rows: number, len: number): Promise<Float64Array> {
  const g = await matmulTransB(x, x, rows, len, rows);
  const out = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = i; j < rows; j++) {
      const v = (g[i * rows + j]! + g[j * rows + i]!) / 2;
      out[i * rows + j] = v;
      out[j * rows + i] = v;
    }
  }
  return out;
}

export interface RangeBasis {
  /** Eigenvectors of the Gram matrix with a non-negligible eigenvalue: n×p, column-major by eigenvalue (row-major n×p). */
  vectors: Float64Array;
  /** Their eigenvalues, descending, all > 0. */
  values: Float64Array;
  n: number;
  p: number;
}

/** Eigen-decomposition of a Gram matrix with the (numerically) zero eigenvalues left out. */
export function gramRange(gram: Float64Array, n: number): RangeBasis {
  if (n === 0) return { vectors: new Float64Array(0), values: new Float64Array(0), n, p: 0 };
  const eig = symmetricEigen(gram, n, { symmetryTolerance: 1e-3 });
  const top = eig.values[0]!;
  let p = 0;
  while (p < n && eig.values[p]! > top * GRAM_RELATIVE_FLOOR && eig.values[p]! > 0) p++;
  const vectors = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) vectors[i * p + j] = eig.vectors[i * n + j]!;
  return { vectors, values: eig.values.slice(0, p), n, p };
}

/**
 * Rows of X (rows×len) made orthonormal by the Gram route (Cholesky-QR style, applied twice so
 * the result is orthonormal to F32 precision): Q = Λ^{-1/2}·Uᵀ·X with X·Xᵀ = U·Λ·Uᵀ. Directions
 * with a negligible eigenvalue are dropped, so the result may have fewer rows.
 */
export async function orthonormalRows(x: Float32Array, rows: number, len: number): Promise<{ q: Float32Array; rows: number }> {
  let q = x;
  let p = rows;
  for (let pass = 0; pass < 2; pass++) {
    const range = gramRange(await rowGram(q, p, len), p);
    const t = new Float32Array(range.p * p);
    for (let a = 0; a < range.p; a++) {
      const f = 1 / Math.sqrt(range.values[a]!);
      for (let j = 0; j < p; j++) t[a * p + j] = range.vectors[j * range.p + a]! * f;
    }
    q = await matmul(t, q, range.p, p, len);
    p = range.p;
  }
  return { q, rows: p };
}
