import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { checkMatrix, type MatrixData } from './matrix-checks.js';

/*
 * Dense factorizations for small matrices (up to a few hundred rows/columns): LoRA cores R×R,
 * covariance matrices for PCA. Inputs are row-major F32 or F64 arrays with explicit dimensions;
 * all work and all results are F64 and row-major. Inputs are never modified.
 *
 * Every routine is deterministic (fixed operation order, no randomness) and fixes the sign
 * ambiguity of its outputs the same way: in each column of Q (by R's diagonal), U or the
 * eigenvector matrix, the entry of largest magnitude (the first one on a tie) is positive.
 */

/** Thin QR: A (m×n) = Q (m×p) · R (p×n), p = min(m, n); Q has orthonormal columns, R is upper triangular (trapezoidal when m < n) with R[i][i] ≥ 0. */
export interface QrResult {
  q: Float64Array;
  r: Float64Array;
  m: number;
  n: number;
  p: number;
}

/** Thin SVD: A (m×n) = U (m×k) · diag(s) · Vᵀ, with V stored as n×k (columns are right singular vectors), s descending and ≥ 0. */
export interface SvdResult {
  u: Float64Array;
  s: Float64Array;
  v: Float64Array;
  m: number;
  n: number;
  k: number;
}

/** S = V · diag(values) · Vᵀ with values descending; column j of `vectors` (n×n) goes with values[j]. */
export interface EigenResult {
  values: Float64Array;
  vectors: Float64Array;
  n: number;
}

const EPS = 2.220446049250313e-16;
const MAX_SWEEPS = 100;

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m) m = v;
  }
  return m;
}

/** ‖x‖₂ without overflow or underflow: the sum of squares is taken after dividing by max|x|. */
function norm2(x: Float64Array, start: number, end: number, stride: number): number {
  let scale = 0;
  for (let i = start; i < end; i += stride) scale = Math.max(scale, Math.abs(x[i]!));
  if (scale === 0) return 0;
  let sum = 0;
  for (let i = start; i < end; i += stride) {
    const v = x[i]! / scale;
    sum += v * v;
  }
  return scale * Math.sqrt(sum);
}

function transpose(a: ArrayLike<number>, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j]!;
  return t;
}

/**
 * Flips columns so that each column's largest-magnitude entry (the first on a tie) is positive;
 * `partner` (rows × cols, may be null) gets the same column flips to keep the product unchanged.
 */
function fixColumnSigns(x: Float64Array, rows: number, cols: number, partner: Float64Array | null, partnerRows: number): void {
  for (let j = 0; j < cols; j++) {
    let best = 0;
    let bestAbs = -1;
    for (let i = 0; i < rows; i++) {
      const v = Math.abs(x[i * cols + j]!);
      if (v > bestAbs) {
        bestAbs = v;
        best = i;
      }
    }
    if (rows === 0 || x[best * cols + j]! >= 0) continue;
    for (let i = 0; i < rows; i++) x[i * cols + j] = -x[i * cols + j]!;
    if (partner) for (let i = 0; i < partnerRows; i++) partner[i * cols + j] = -partner[i * cols + j]!;
  }
}

/**
 * Householder QR of a work copy (F64, m×n, overwritten with R in its upper part). Returns the
 * unit Householder vectors (null where the column below the diagonal is already zero, so
 * rank-deficient input needs no division by zero) and builds Q by applying them to I.
 */
function householderQr(w: Float64Array, m: number, n: number): { q: Float64Array; r: Float64Array; p: number } {
  const p = Math.min(m, n);
  const vectors: (Float64Array | null)[] = [];
  const dots = new Float64Array(n);
  for (let j = 0; j < p; j++) {
    const len = m - j;
    const normX = norm2(w, j * n + j, m * n, n);
    if (normX === 0) {
      vectors.push(null);
      continue;
    }
    const x0 = w[j * n + j]!;
    // Reflect x onto −sign(x0)·‖x‖·e1 so that v0 = x0 − alpha never cancels.
    const alpha = x0 >= 0 ? -normX : normX;
    const v = new Float64Array(len);
    for (let i = 0; i < len; i++) v[i] = w[(j + i) * n + j]!;
    v[0] = x0 - alpha;
    const normV = norm2(v, 0, len, 1);
    for (let i = 0; i < len; i++) v[i] = v[i]! / normV;
    vectors.push(v);
    // W[j:, j+1:] -= 2 v (vᵀ W[j:, j+1:]), row by row so memory is read contiguously.
    dots.fill(0, j + 1, n);
    for (let i = 0; i < len; i++) {
      const vi = v[i]!;
      const row = (j + i) * n;
      for (let c = j + 1; c < n; c++) dots[c] = dots[c]! + vi * w[row + c]!;
    }
    for (let i = 0; i < len; i++) {
      const f = 2 * v[i]!;
      const row = (j + i) * n;
      for (let c = j + 1; c < n; c++) w[row + c] = w[row + c]! - f * dots[c]!;
    }
    w[j * n + j] = alpha;
    for (let i = 1; i < len; i++) w[(j + i) * n + j] = 0;
  }
  const r = new Float64Array(p * n);
  for (let i = 0; i < p; i++) for (let c = i; c < n; c++) r[i * n + c] = w[i * n + c]!;
  // Q = H0 H1 … H(p−1) applied to the first p columns of I, last reflector first.
  const q = new Float64Array(m * p);
  for (let i = 0; i < p; i++) q[i * p + i] = 1;
  const qd = new Float64Array(p);
  for (let j = p - 1; j >= 0; j--) {
    const v = vectors[j];
    if (!v) continue;
    qd.fill(0);
    for (let i = 0; i < v.length; i++) {
      const vi = v[i]!;
      const row = (j + i) * p;
      for (let c = 0; c < p; c++) qd[c] = qd[c]! + vi * q[row + c]!;
    }
    for (let i = 0; i < v.length; i++) {
      const f = 2 * v[i]!;
      const row = (j + i) * p;
      for (let c = 0; c < p; c++) q[row + c] = q[row + c]! - f * qd[c]!;
    }
  }
  // Make R's diagonal non-negative (flip row i of R and column i of Q together).
  for (let i = 0; i < p; i++) {
    if (r[i * n + i]! >= 0) continue;
    for (let c = i; c < n; c++) r[i * n + c] = -r[i * n + c]!;
    for (let k = 0; k < m; k++) q[k * p + i] = -q[k * p + i]!;
  }
  return { q, r, p };
}

/**
 * Thin QR by Householder reflections: A = Q·R with Q m×p (orthonormal columns) and R p×n,
 * p = min(m, n). Works for tall, square and wide A and for rank-deficient A (a zero column gives
 * a zero on R's diagonal; Q stays orthonormal). R's diagonal is made non-negative, which makes
 * the factorization unique when A has full column rank.
 */
export function qr(a: MatrixData, m: number, n: number): QrResult {
  checkMatrix(a, m, n, 'a', true);
  const { q, r, p } = householderQr(Float64Array.from(a), m, n);
  return { q, r, m, n, p };
}

/**
 * One-sided (Hestenes) Jacobi on the columns of B (rows×n, given transposed as `cols`, n rows of
 * length `rows`): rotates column pairs until every pair is orthogonal to working precision,
 * applying the same rotations to V (also stored by columns). On return the columns of B·V are
 * the rotated columns, i.e. U·diag(s).
 */
function oneSidedJacobi(cols: Float64Array, rows: number, n: number, vCols: Float64Array): void {
  const tol = EPS * Math.max(1, Math.sqrt(rows));
  for (let sweep = 0; sweep < MAX_SWEEPS; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const po = p * rows;
      for (let q = p + 1; q < n; q++) {
        const qo = q * rows;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i++) {
          const x = cols[po + i]!;
          const y = cols[qo + i]!;
          alpha += x * x;
          beta += y * y;
          gamma += x * y;
        }
        if (gamma === 0 || alpha === 0 || beta === 0 || Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        rotated = true;
        // Rotation angle that zeroes the pair's inner product (the smaller root, |t| ≤ 1).
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.hypot(1, zeta));
        const c = 1 / Math.hypot(1, t);
        const s = c * t;
        for (let i = 0; i < rows; i++) {
          const x = cols[po + i]!;
          const y = cols[qo + i]!;
          cols[po + i] = c * x - s * y;
          cols[qo + i] = s * x + c * y;
        }
        const pv = p * n;
        const qv = q * n;
        for (let i = 0; i < n; i++) {
          const x = vCols[pv + i]!;
          const y = vCols[qv + i]!;
          vCols[pv + i] = c * x - s * y;
          vCols[qv + i] = s * x + c * y;
        }
      }
    }
    if (!rotated) return;
  }
  throw new WeightsmithError(ErrorCode.Internal, `Jacobi SVD did not converge in ${MAX_SWEEPS} sweeps (${rows}×${n})`);
}

/**
 * Replaces the columns of u (rows×cols) not flagged in `valid` with unit vectors orthogonal to
 * all the others: standard basis vectors in order, orthogonalized twice (Gram–Schmidt, "twice is
 * enough") and kept if at least half of their length survives. Used where a singular value is 0
 * and the data says nothing about the direction.
 */
function completeOrthonormalColumns(u: Float64Array, rows: number, cols: number, valid: boolean[]): void {
  let candidate = 0;
  const w = new Float64Array(rows);
  for (let j = 0; j < cols; j++) {
    if (valid[j]) continue;
    for (;;) {
      if (candidate >= rows) throw new WeightsmithError(ErrorCode.Internal, 'could not complete an orthonormal basis');
      w.fill(0);
      w[candidate++] = 1;
      for (let pass = 0; pass < 2; pass++) {
        for (let k = 0; k < cols; k++) {
          if (!valid[k]) continue;
          let d = 0;
          for (let i = 0; i < rows; i++) d += u[i * cols + k]! * w[i]!;
          for (let i = 0; i < rows; i++) w[i] = w[i]! - d * u[i * cols + k]!;
        }
      }
      const nw = norm2(w, 0, rows, 1);
      if (nw < 0.5) continue;
      for (let i = 0; i < rows; i++) u[i * cols + j] = w[i]! / nw;
      valid[j] = true;
      break;
    }
  }
}

/** Singular values below this (relative to the largest entry, after scaling to 1) get a completed U column. */
const ZERO_SINGULAR = 1e-280;

/** SVD of a tall or square F64 matrix scaled so max|a| = 1 (m ≥ n). */
function svdTall(a: Float64Array, m: number, n: number): { u: Float64Array; s: Float64Array; v: Float64Array } {
  // For m > n, first A = Q·R and decompose the n×n R: Jacobi then costs n³ per sweep instead of m·n².
  let q: Float64Array | null = null;
  let b = a;
  let rows = m;
  if (m > n) {
    const f = householderQr(Float64Array.from(a), m, n);
    q = f.q;
    b = f.r;
    rows = n;
  }
  const cols = transpose(b, rows, n);
  const vCols = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vCols[i * n + i] = 1;
  oneSidedJacobi(cols, rows, n, vCols);

  const sigma = new Float64Array(n);
  for (let j = 0; j < n; j++) sigma[j] = norm2(cols, j * rows, (j + 1) * rows, 1);
  const order = Array.from({ length: n }, (_, j) => j).sort((x, y) => sigma[y]! - sigma[x]! || x - y);

  const s = new Float64Array(n);
  const ub = new Float64Array(rows * n);
  const v = new Float64Array(n * n);
  const valid: boolean[] = [];
  for (let k = 0; k < n; k++) {
    const j = order[k]!;
    const sj = sigma[j]!;
    s[k] = sj;
    const ok = sj > ZERO_SINGULAR;
    valid.push(ok);
    if (ok) for (let i = 0; i < rows; i++) ub[i * n + k] = cols[j * rows + i]! / sj;
    for (let i = 0; i < n; i++) v[i * n + k] = vCols[j * n + i]!;
  }
  if (valid.includes(false)) completeOrthonormalColumns(ub, rows, n, valid);
  if (!q) return { u: ub, s, v };
  // U = Q · U_R (m×n · n×n).
  const u = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < n; p++) {
      const qip = q[i * n + p]!;
      if (qip === 0) continue;
      for (let k = 0; k < n; k++) u[i * n + k] = u[i * n + k]! + qip * ub[p * n + k]!;
    }
  }
  return { u, s, v };
}

/**
 * Thin SVD by one-sided Jacobi (after a QR step when m > n): A = U·diag(s)·Vᵀ with
 * k = min(m, n), U m×k and V n×k with orthonormal columns, s sorted descending and ≥ 0.
 * Accurate to a few ulps relative to ‖A‖ and meant for small matrices (cost ~ m·n² + sweeps·n³).
 * Zero singular values get U columns completed to an orthonormal set. Signs: the largest-|·|
 * entry of each U column is positive (V's column flips with it).
 */
export function svd(a: MatrixData, m: number, n: number): SvdResult {
  checkMatrix(a, m, n, 'a', true);
  const k = Math.min(m, n);
  const scale = maxAbs(a);
  let u: Float64Array;
  let s: Float64Array;
  let v: Float64Array;
  if (k === 0) {
    u = new Float64Array(0);
    s = new Float64Array(0);
    v = new Float64Array(0);
  } else {
    // Work on A / max|A| so sums of squares can neither overflow nor underflow.
    const inv = scale === 0 ? 1 : 1 / scale;
    const scaled = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) scaled[i] = a[i]! * inv;
    if (m >= n) ({ u, s, v } = svdTall(scaled, m, n));
    else {
      // A = (Aᵀ)ᵀ: the SVD of Aᵀ = U'·S·V'ᵀ gives A = V'·S·U'ᵀ.
      const t = svdTall(transpose(scaled, m, n), n, m);
      u = t.v;
      v = t.u;
      s = t.s;
    }
    for (let i = 0; i < k; i++) s[i] = s[i]! * scale;
    fixColumnSigns(u, m, k, v, n);
  }
  return { u, s, v, m, n, k };
}

/**
 * The k leading singular triplets: U m×k, s (k), V n×k, computed as the full thin SVD and cut,
 * so it has the same accuracy and cost as `svd` (fine for the small matrices this serves).
 */
export function truncatedSvd(a: MatrixData, m: number, n: number, k: number): SvdResult {
  checkMatrix(a, m, n, 'a', true);
  const p = Math.min(m, n);
  if (!Number.isSafeInteger(k) || k < 0 || k > p) {
    throw invalidInput('k', `k must be an integer in 0..min(m, n) = 0..${p}, got ${k}`);
  }
  const full = svd(a, m, n);
  if (k === p) return full;
  const take = (x: Float64Array, rows: number): Float64Array => {
    const out = new Float64Array(rows * k);
    for (let i = 0; i < rows; i++) out.set(x.subarray(i * p, i * p + k), i * k);
    return out;
  };
  return { u: take(full.u, m), s: full.s.slice(0, k), v: take(full.v, n), m, n, k };
}

export interface SymmetricEigenOptions {
  /**
   * Largest accepted |S[i][j] − S[j][i]|, relative to max|S| (default 1e-6, which admits
   * covariances accumulated in F32). The matrix used is (S + Sᵀ)/2.
   */
  symmetryTolerance?: number;
}

/**
 * Eigen-decomposition of a symmetric matrix by the cyclic Jacobi method: repeated plane
 * rotations that zero one off-diagonal pair each, until the off-diagonal part is below
 * ε·‖S‖_F. Eigenvalues come out descending (not by magnitude: negative ones last), eigenvectors
 * orthonormal with the largest-|·| entry of each positive.
 */
export function symmetricEigen(sym: MatrixData, n: number, options: SymmetricEigenOptions = {}): EigenResult {
  checkMatrix(sym, n, n, 's', true);
  const tolerance = options.symmetryTolerance ?? 1e-6;
  if (!(tolerance >= 0)) throw invalidInput('symmetryTolerance', `symmetryTolerance must be non-negative, got ${tolerance}`);
  const scale = maxAbs(sym);
  const inv = scale === 0 ? 1 : 1 / scale;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const x = sym[i * n + j]! * inv;
      const y = sym[j * n + i]! * inv;
      if (Math.abs(x - y) > tolerance) {
        throw invalidInput('s', `s is not symmetric: s[${i}, ${j}] = ${sym[i * n + j]} but s[${j}, ${i}] = ${sym[j * n + i]}`);
      }
      a[i * n + j] = a[j * n + i] = (x + y) / 2;
    }
  }
  const vecRows = new Float64Array(n * n);
  for (let i = 0; i < n; i++) vecRows[i * n + i] = 1;

  let converged = n < 2;
  for (let sweep = 0; sweep < MAX_SWEEPS && !converged; sweep++) {
    let off = 0;
    let total = 0;
    for (let i = 0; i < n * n; i++) total += a[i]! * a[i]!;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) off += a[i * n + j]! * a[i * n + j]!;
    if (off <= EPS * EPS * total) {
      converged = true;
      break;
    }
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        // Golub & Van Loan's symmetric Schur 2×2: the rotation J with JᵀAJ diagonal at (p, q).
        const tau = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = (tau >= 0 ? 1 : -1) / (Math.abs(tau) + Math.hypot(1, tau));
        const c = 1 / Math.hypot(1, t);
        const s = c * t;
        // Rows p and q of JᵀAJ away from the 2×2 block are (c·row_p − s·row_q, s·row_p + c·row_q);
        // by symmetry the same values go to columns p and q, so only rows are read.
        const po = p * n;
        const qo = q * n;
        for (let k = 0; k < n; k++) {
          if (k === p || k === q) continue;
          const x = a[po + k]!;
          const y = a[qo + k]!;
          const nx = c * x - s * y;
          const ny = s * x + c * y;
          a[po + k] = nx;
          a[qo + k] = ny;
          a[k * n + p] = nx;
          a[k * n + q] = ny;
        }
        a[po + p] = a[po + p]! - t * apq;
        a[qo + q] = a[qo + q]! + t * apq;
        a[po + q] = 0;
        a[qo + p] = 0;
        // Eigenvectors are kept as rows of vecRows (V transposed) so this update is contiguous too.
        for (let k = 0; k < n; k++) {
          const x = vecRows[po + k]!;
          const y = vecRows[qo + k]!;
          vecRows[po + k] = c * x - s * y;
          vecRows[qo + k] = s * x + c * y;
        }
      }
    }
  }
  if (!converged) throw new WeightsmithError(ErrorCode.Internal, `Jacobi eigensolver did not converge in ${MAX_SWEEPS} sweeps (n=${n})`);

  const diag = Array.from({ length: n }, (_, i) => a[i * n + i]!);
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => diag[y]! - diag[x]! || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const j = order[k]!;
    values[k] = diag[j]! * scale;
    for (let i = 0; i < n; i++) vectors[i * n + k] = vecRows[j * n + i]!;
  }
  fixColumnSigns(vectors, n, n, null, 0);
  return { values, vectors, n };
}
