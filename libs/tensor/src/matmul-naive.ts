import { checkMatrix, type MatrixData } from './matrix-checks.js';

/**
 * Reference matrix product C = A·B for row-major A (m×k) and B (k×n), in plain JS.
 *
 * It is the baseline the fast kernels are measured and tested against, and the path for tiny
 * shapes where a native call costs more than the arithmetic. Loop order i-k-j walks B and C
 * row by row (contiguous), and each row of C is accumulated in F64 before it is stored, so the
 * F32 result is at least as accurate as an F32-accumulating kernel. NaN/Inf propagate as in
 * IEEE arithmetic (no zero skipping). `out`, when given, must not overlap `a` or `b`.
 */
export function matmulNaive(a: Float32Array, b: Float32Array, m: number, k: number, n: number, out?: Float32Array): Float32Array;
export function matmulNaive(a: Float64Array, b: Float64Array, m: number, k: number, n: number, out?: Float64Array): Float64Array;
export function matmulNaive(a: MatrixData, b: MatrixData, m: number, k: number, n: number, out?: MatrixData): MatrixData;
export function matmulNaive(a: MatrixData, b: MatrixData, m: number, k: number, n: number, out?: MatrixData): MatrixData {
  checkMatrix(a, m, k, 'a', false);
  checkMatrix(b, k, n, 'b', false);
  const c = out ?? (a instanceof Float64Array ? new Float64Array(m * n) : new Float32Array(m * n));
  checkMatrix(c, m, n, 'out', false);
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    const aRow = i * k;
    for (let p = 0; p < k; p++) {
      const aip = a[aRow + p]!;
      const bRow = p * n;
      for (let j = 0; j < n; j++) acc[j] = acc[j]! + aip * b[bRow + j]!;
    }
    c.set(acc, i * n);
  }
  return c;
}
