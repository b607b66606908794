import { ErrorCode, WeightsmithError } from '@weightsmith/core';
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

/** Below this many multiply-adds a Gram matrix is summed in F64 in JS: exact enough to resolve rank deficiency, and cheaper than a native call. */
const JS_GRAM_MAX_MADDS = 1 << 21;

/**
 * X·Xᵀ of a row-major rows×len F32 matrix as F64. Small products are summed in F64 (no F32
 * rounding of the Gram, which matters when rank deficiency has to be told from noise); large
 * ones go through the fast matmul (F32 accumulation, relative noise ~1e-7).
 */
export async function gramRows(x: Float32Array, rows: number, len: number): Promise<Float64Array> {
  if (rows * rows * len > 2 * JS_GRAM_MAX_MADDS) return rowGram(x, rows, len);
  const out = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    const xi = i * len;
    for (let j = i; j < rows; j++) {
      const xj = j * len;
      let s = 0;
      for (let t = 0; t < len; t++) s += x[xi + t]! * x[xj + t]!;
      out[i * rows + j] = s;
      out[j * rows + i] = s;
    }
  }
  return out;
}

/**
 * Squared distance, relative to the largest squared column norm, below which a column counts as
 * lying in the span of the pivots already chosen. It sits above the F32 noise of a large Gram
 * (~1e-7 for unit columns), so exact duplicates and rank excess (R > d) are recognised, and it
 * drops only components shorter than 1e-3 of a column.
 */
export const CHOLESKY_RELATIVE_FLOOR = 1e-6;

/**
 * G ≈ L·Lᵀ by Cholesky with diagonal (complete) pivoting, stopped when the largest remaining
 * Schur diagonal falls to `relFloor`·max diag(G): the rank-revealing form of Cholesky, so
 * rank-deficient Grams (duplicate or dependent columns, more columns than rows) need no eigen
 * decomposition. `l` is n×p (row-major, stride p) indexed by the ORIGINAL column: row piv[s] is
 * zero beyond column s, so the p×p block of pivot rows, in pivot order, is lower triangular with a
 * positive diagonal. Ties go to the lowest index (deterministic).
 */
export function pivotedCholesky(g: Float64Array, n: number, relFloor = CHOLESKY_RELATIVE_FLOOR): { l: Float64Array; piv: Int32Array; p: number } {
  const d = new Float64Array(n);
  let top = 0;
  for (let i = 0; i < n; i++) {
    d[i] = g[i * n + i]!;
    if (d[i]! > top) top = d[i]!;
  }
  const used = new Uint8Array(n);
  const piv = new Int32Array(n);
  const full = new Float64Array(n * n); // n×n scratch, stride n; compacted to stride p at the end
  let p = 0;
  const floor = top * relFloor;
  while (p < n) {
    let best = -1;
    let bestD = floor;
    for (let i = 0; i < n; i++) if (!used[i] && d[i]! > bestD) (best = i), (bestD = d[i]!);
    if (best < 0) break;
    used[best] = 1;
    piv[p] = best;
    const root = Math.sqrt(bestD);
    const bo = best * n;
    full[bo + p] = root;
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      const io = i * n;
      let s = g[io + best]!;
      for (let t = 0; t < p; t++) s -= full[io + t]! * full[bo + t]!;
      const v = s / root;
      full[io + p] = v;
      d[i] = d[i]! - v * v;
    }
    p++;
  }
  const l = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let t = 0; t < p; t++) l[i * p + t] = full[i * n + t]!;
  return { l, piv: piv.slice(0, p), p };
}

/**
 * Solves L₁₁ᵀ·X = Y for X (p×k), L₁₁ the lower-triangular pivot block of a pivotedCholesky
 * factor and Y p×k row-major (both in pivot order). Back substitution, F64.
 */
export function solvePivotBlockTransposed(l: Float64Array, piv: Int32Array, p: number, y: Float64Array, k: number): Float64Array {
  const x = new Float64Array(p * k);
  for (let s = p - 1; s >= 0; s--) {
    const inv = 1 / l[piv[s]! * p + s]!;
    for (let c = 0; c < k; c++) {
      let v = y[s * k + c]!;
      for (let t = s + 1; t < p; t++) v -= l[piv[t]! * p + s]! * x[t * k + c]!;
      x[s * k + c] = v * inv;
    }
  }
  return x;
}

const EPS = 2.220446049250313e-16;
const MAX_SWEEPS = 60;

/**
 * Left singular vectors and singular values of a small F64 matrix C (m×n, row-major) by cyclic
 * one-sided (Hestenes) Jacobi on its columns: C·V = U·diag(s), and the rotated columns ARE U·s,
 * so V is never accumulated (callers that need Vᵀ form diag(s)⁻¹·Uᵀ·C, which keeps B'A' an exact
 * projection of C). Tight loops for the merge core (64×64 in ~ms): columns in one contiguous
 * array, squared norms carried through the rotations (α' = α − tγ, β' = β + tγ) and recomputed
 * once per sweep, no allocation inside sweeps. A pair counts as orthogonal at
 * |γ| ≤ ε·√m·√(αβ), and columns below ε·‖C‖_F are treated as zero (they cannot change anything
 * above the F64 noise of C).
 *
 * Returns the `q` = min(m, n) largest singular values (descending) and U as m×q row-major; the
 * largest-|·| entry of each U column is positive (first on a tie). Columns of U whose singular
 * value is below `zeroFloor`·s₀ are left zero.
 */
export function leftSvd(c: Float64Array, m: number, n: number, zeroFloor = 1e-13): { u: Float64Array; s: Float64Array; q: number } {
  const q = Math.min(m, n);
  const cols = new Float64Array(n * m);
  let total = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    const v = c[i * n + j]!;
    cols[j * m + i] = v;
    total += v * v;
  }
  const nrm = new Float64Array(n);
  const tol = EPS * Math.sqrt(m);
  const negligible = EPS * EPS * total;
  let converged = n < 2 || total === 0;
  for (let sweep = 0; sweep < MAX_SWEEPS && !converged; sweep++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      const o = j * m;
      for (let i = 0; i < m; i++) s += cols[o + i]! * cols[o + i]!;
      nrm[j] = s;
    }
    let rotated = false;
    for (let a = 0; a < n - 1; a++) {
      const ao = a * m;
      for (let b = a + 1; b < n; b++) {
        const alpha = nrm[a]!;
        const beta = nrm[b]!;
        if (alpha <= negligible || beta <= negligible) continue;
        const bo = b * m;
        let gamma = 0;
        for (let i = 0; i < m; i++) gamma += cols[ao + i]! * cols[bo + i]!;
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < m; i++) {
          const x = cols[ao + i]!;
          const y = cols[bo + i]!;
          cols[ao + i] = cs * x - sn * y;
          cols[bo + i] = sn * x + cs * y;
        }
        nrm[a] = alpha - t * gamma;
        nrm[b] = beta + t * gamma;
      }
    }
    converged = !rotated;
  }
  if (!converged) throw new WeightsmithError(ErrorCode.Internal, `Jacobi SVD of the ${m}×${n} merge core did not converge in ${MAX_SWEEPS} sweeps`);
  const sigma = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    const o = j * m;
    for (let i = 0; i < m; i++) s += cols[o + i]! * cols[o + i]!;
    sigma[j] = Math.sqrt(s);
  }
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => sigma[y]! - sigma[x]! || x - y);
  const s = new Float64Array(q);
  const u = new Float64Array(m * q);
  const floor = (sigma[order[0] ?? 0] ?? 0) * zeroFloor;
  for (let r = 0; r < q; r++) {
    const j = order[r]!;
    const sj = sigma[j]!;
    s[r] = sj;
    if (!(sj > floor) || sj === 0) continue;
    const o = j * m;
    let arg = 0;
    for (let i = 1; i < m; i++) if (Math.abs(cols[o + i]!) > Math.abs(cols[o + arg]!)) arg = i;
    const f = (cols[o + arg]! < 0 ? -1 : 1) / sj;
    for (let i = 0; i < m; i++) u[i * q + r] = cols[o + i]! * f;
  }
  return { u, s, q };
}
