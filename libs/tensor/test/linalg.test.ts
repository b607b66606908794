import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { qr, svd, symmetricEigen, truncatedSvd, type SvdResult } from '../src/linalg.js';
import { matmulNaive } from '../src/matmul-naive.js';
import { Rng } from '../src/rng.js';

const hasCode = (code: string, field?: string) => (err: unknown) =>
  isWeightsmithError(err) && err.code === code && (field === undefined || err.field === field);

// Small helpers written out plainly (not via the code under test) to check results.
function mul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
    c[i * n + j] = s;
  }
  return c;
}
function transpose(a: ArrayLike<number>, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j]!;
  return t;
}
function frob(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}
function diffNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}
/** ‖XᵀX − I‖_F for X rows×cols. */
function orthogonalityError(x: Float64Array, rows: number, cols: number): number {
  const g = mul(transpose(x, rows, cols), x, cols, rows, cols);
  for (let i = 0; i < cols; i++) g[i * cols + i] = g[i * cols + i]! - 1;
  return frob(g);
}
function randomMatrix(rng: Rng, m: number, n: number): Float64Array {
  return Float64Array.from(rng.normalArray(m * n));
}
function reconstructSvd(f: SvdResult): Float64Array {
  const us = new Float64Array(f.m * f.k);
  for (let i = 0; i < f.m; i++) for (let j = 0; j < f.k; j++) us[i * f.k + j] = f.u[i * f.k + j]! * f.s[j]!;
  return mul(us, transpose(f.v, f.n, f.k), f.m, f.k, f.n);
}
/** The full contract of a thin SVD, plus the sign convention. */
function checkSvd(a: ArrayLike<number>, m: number, n: number, f: SvdResult, tol = 1e-12): void {
  const k = Math.min(m, n);
  assert.equal(f.k, k);
  assert.equal(f.u.length, m * k);
  assert.equal(f.v.length, n * k);
  const scale = Math.max(frob(a), Number.MIN_VALUE);
  assert.ok(diffNorm(reconstructSvd(f), a) / scale < tol, `reconstruction ${diffNorm(reconstructSvd(f), a) / scale}`);
  assert.ok(orthogonalityError(f.u, m, k) < tol * 10, `U orthogonality ${orthogonalityError(f.u, m, k)}`);
  assert.ok(orthogonalityError(f.v, n, k) < tol * 10, `V orthogonality ${orthogonalityError(f.v, n, k)}`);
  for (let j = 0; j < k; j++) {
    assert.ok(f.s[j]! >= 0);
    if (j > 0) assert.ok(f.s[j]! <= f.s[j - 1]!, 'descending');
    let best = 0;
    for (let i = 1; i < m; i++) if (Math.abs(f.u[i * k + j]!) > Math.abs(f.u[best * k + j]!)) best = i;
    assert.ok(f.u[best * k + j]! > 0, `sign convention in column ${j}`);
  }
}

describe('matmulNaive', () => {
  test('a hand-computed product, F64 and F32', () => {
    const a = [1, 2, 3, 4, 5, 6]; // 2×3
    const b = [7, 8, 9, 10, 11, 12]; // 3×2
    const expected = [58, 64, 139, 154];
    assert.deepEqual([...matmulNaive(Float64Array.from(a), Float64Array.from(b), 2, 3, 2)], expected);
    const f32 = matmulNaive(Float32Array.from(a), Float32Array.from(b), 2, 3, 2);
    assert.ok(f32 instanceof Float32Array);
    assert.deepEqual([...f32], expected);
  });

  test('matches a dot-product reference on random shapes, writes into out, handles empty dims', () => {
    const rng = new Rng(1);
    const a = randomMatrix(rng, 7, 13);
    const b = randomMatrix(rng, 13, 5);
    const out = new Float64Array(35);
    const c = matmulNaive(a, b, 7, 13, 5, out);
    assert.equal(c, out);
    assert.ok(diffNorm(c, mul(a, b, 7, 13, 5)) < 1e-12);
    assert.deepEqual([...matmulNaive(new Float64Array(0), new Float64Array(0), 3, 0, 2)], [0, 0, 0, 0, 0, 0]);
  });

  test('NaN propagates even when multiplied by zero', () => {
    const c = matmulNaive(Float64Array.of(0, 1), Float64Array.of(Number.NaN, 2), 1, 2, 1);
    assert.ok(Number.isNaN(c[0]!));
  });

  test('wrong lengths are shape_mismatch naming the operand', () => {
    assert.throws(() => matmulNaive(new Float32Array(5), new Float32Array(6), 2, 3, 2), hasCode(ErrorCode.ShapeMismatch, 'a'));
    assert.throws(() => matmulNaive(new Float32Array(6), new Float32Array(5), 2, 3, 2), hasCode(ErrorCode.ShapeMismatch, 'b'));
    assert.throws(() => matmulNaive(new Float32Array(6), new Float32Array(6), 2, 3, 2, new Float32Array(3)), hasCode(ErrorCode.ShapeMismatch, 'out'));
  });
});

describe('qr', () => {
  test('hand examples: a 2×1 column and a permutation-like 2×2', () => {
    const f = qr(Float64Array.of(3, 4), 2, 1);
    assert.deepEqual([...f.r], [5]);
    assert.ok(diffNorm(f.q, [0.6, 0.8]) < 1e-15);
    // Columns (0, 3) and (2, 0): Q = [[0, 1], [1, 0]], R = diag(3, 2).
    const g = qr(Float64Array.of(0, 2, 3, 0), 2, 2);
    assert.ok(diffNorm(g.q, [0, 1, 1, 0]) < 1e-15);
    assert.ok(diffNorm(g.r, [3, 0, 0, 2]) < 1e-15);
  });

  for (const [m, n] of [[40, 12], [15, 15], [5, 9], [1, 4], [6, 1]] as const) {
    test(`random ${m}×${n}: A = QR, QᵀQ = I, R upper triangular with R[i][i] ≥ 0`, () => {
      const a = randomMatrix(new Rng(m * 100 + n), m, n);
      const f = qr(a, m, n);
      const p = Math.min(m, n);
      assert.equal(f.p, p);
      assert.equal(f.q.length, m * p);
      assert.equal(f.r.length, p * n);
      assert.ok(diffNorm(mul(f.q, f.r, m, p, n), a) / frob(a) < 1e-13);
      assert.ok(orthogonalityError(f.q, m, p) < 1e-13);
      for (let i = 0; i < p; i++) {
        assert.ok(f.r[i * n + i]! >= 0);
        for (let j = 0; j < i; j++) assert.equal(f.r[i * n + j], 0);
      }
    });
  }

  test('rank-deficient input (a zero column, a repeated column) stays stable', () => {
    const rng = new Rng(4);
    const m = 6;
    const n = 4;
    const a = randomMatrix(rng, m, n);
    for (let i = 0; i < m; i++) {
      a[i * n + 1] = 0;
      a[i * n + 3] = a[i * n]!;
    }
    const f = qr(a, m, n);
    assert.ok(f.q.every(Number.isFinite) && f.r.every(Number.isFinite));
    assert.ok(diffNorm(mul(f.q, f.r, m, n, n), a) / frob(a) < 1e-13);
    assert.ok(orthogonalityError(f.q, m, n) < 1e-13);
    assert.equal(f.r[1 * n + 1], 0);
    assert.ok(Math.abs(f.r[3 * n + 3]!) < 1e-14 * frob(a));
  });

  test('the zero matrix gives R = 0 and an orthonormal Q', () => {
    const f = qr(new Float64Array(12), 4, 3);
    assert.ok(f.r.every((x) => x === 0));
    assert.ok(orthogonalityError(f.q, 4, 3) < 1e-15);
  });

  test('F32 input, and invalid input', () => {
    const f = qr(Float32Array.of(3, 4), 2, 1);
    assert.ok(f.q instanceof Float64Array);
    assert.equal(f.r[0], 5);
    assert.throws(() => qr(Float64Array.of(1, Number.NaN), 2, 1), hasCode(ErrorCode.NonFinite, 'a'));
    assert.throws(() => qr(Float32Array.of(1, Infinity), 1, 2), hasCode(ErrorCode.NonFinite));
    assert.throws(() => qr(new Float64Array(5), 2, 3), (e: unknown) => hasCode(ErrorCode.ShapeMismatch, 'a')(e) && /2×3/.test((e as Error).message));
    assert.throws(() => qr(new Float64Array(6), -2, -3), hasCode(ErrorCode.InvalidInput));
  });
});

describe('svd', () => {
  test('a diagonal matrix: singular values are the sorted absolute diagonal', () => {
    const a = Float64Array.of(3, 0, 0, 0, -5, 0, 0, 0, 1);
    const f = svd(a, 3, 3);
    assert.ok(diffNorm(f.s, [5, 3, 1]) < 1e-14);
    checkSvd(a, 3, 3, f);
    // Up to sign (fixed by the convention) U and V are permuted identity columns.
    assert.ok(diffNorm(f.u, [0, 1, 0, 1, 0, 0, 0, 0, 1]) < 1e-14);
    assert.ok(diffNorm(f.v, [0, 1, 0, -1, 0, 0, 0, 0, 1]) < 1e-14);
  });

  test('a 2×2 with closed-form singular values', () => {
    // For [[2, 0], [1, 1]]: σ² = (S ± √(S² − 4·det²)) / 2 with S = ‖A‖_F² = 6, det = 2, i.e. 3 ± √5.
    const a = Float64Array.of(2, 0, 1, 1);
    const f = svd(a, 2, 2);
    assert.ok(Math.abs(f.s[0]! - Math.sqrt(3 + Math.sqrt(5))) < 1e-14);
    assert.ok(Math.abs(f.s[1]! - Math.sqrt(3 - Math.sqrt(5))) < 1e-14);
    checkSvd(a, 2, 2, f);
  });

  test('a rank-1 outer product x·yᵀ: σ = ‖x‖‖y‖, then zeros, U and V still orthonormal', () => {
    const x = [1, 2, 2]; // ‖x‖ = 3
    const y = [3, 4]; // ‖y‖ = 5
    const a = Float64Array.from({ length: 6 }, (_, i) => x[Math.floor(i / 2)]! * y[i % 2]!);
    const f = svd(a, 3, 2);
    assert.ok(Math.abs(f.s[0]! - 15) < 1e-13);
    assert.ok(f.s[1]! < 1e-14);
    checkSvd(a, 3, 2, f);
    assert.ok(diffNorm([f.u[0]!, f.u[2]!, f.u[4]!], [1 / 3, 2 / 3, 2 / 3]) < 1e-14);
    assert.ok(diffNorm([f.v[0]!, f.v[2]!], [0.6, 0.8]) < 1e-14);
    const wide = svd(transpose(a, 3, 2), 2, 3);
    assert.ok(Math.abs(wide.s[0]! - 15) < 1e-13);
    checkSvd(transpose(a, 3, 2), 2, 3, wide);
  });

  test('the zero matrix: all singular values 0, U and V orthonormal', () => {
    for (const [m, n] of [[4, 3], [3, 4], [2, 2]] as const) {
      const f = svd(new Float64Array(m * n), m, n);
      assert.ok(f.s.every((s) => s === 0));
      checkSvd(new Float64Array(m * n), m, n, f);
    }
  });

  for (const [m, n] of [[30, 8], [8, 30], [20, 20], [1, 5], [5, 1], [60, 60]] as const) {
    test(`random ${m}×${n}: reconstruction, orthonormality, ‖A‖_F² = Σσ², σ₁ = power-iteration norm`, () => {
      const a = randomMatrix(new Rng(m * 1000 + n), m, n);
      const f = svd(a, m, n);
      checkSvd(a, m, n, f);
      const sumSq = f.s.reduce((s, x) => s + x * x, 0);
      assert.ok(Math.abs(sumSq - frob(a) ** 2) / frob(a) ** 2 < 1e-13);
      // Spectral norm by power iteration on AᵀA, an independent method.
      let v = new Float64Array(n).fill(1);
      let sigma = 0;
      const ata = mul(transpose(a, m, n), a, n, m, n);
      for (let it = 0; it < 2000; it++) {
        const w = mul(ata, v, n, n, 1);
        const norm = frob(w);
        v = w.map((x) => x / norm);
        sigma = Math.sqrt(norm);
      }
      assert.ok(Math.abs(sigma - f.s[0]!) / f.s[0]! < 1e-8, `${sigma} vs ${f.s[0]}`);
    });
  }

  test('deterministic, and the sign convention makes svd(−A) = (U, s, −V)', () => {
    const a = randomMatrix(new Rng(77), 9, 6);
    const f = svd(a, 9, 6);
    assert.deepEqual(svd(a, 9, 6), f);
    const g = svd(a.map((x) => -x), 9, 6);
    assert.deepEqual(g.s, f.s);
    assert.ok(diffNorm(g.u, f.u) < 1e-13);
    assert.ok(diffNorm(g.v, f.v.map((x) => -x)) < 1e-13);
  });

  test('Aᵀ has the same singular values, with U and V swapped', () => {
    const a = randomMatrix(new Rng(78), 7, 4);
    const f = svd(a, 7, 4);
    const t = svd(transpose(a, 7, 4), 4, 7);
    assert.ok(diffNorm(f.s, t.s) < 1e-13);
    // Same singular vectors up to a sign per pair: compare the products u_j v_jᵀ.
    for (let j = 0; j < 4; j++) {
      for (let i = 0; i < 7; i++) for (let l = 0; l < 4; l++) {
        assert.ok(Math.abs(f.u[i * 4 + j]! * f.v[l * 4 + j]! - t.v[i * 4 + j]! * t.u[l * 4 + j]!) < 1e-12);
      }
    }
  });

  test('rank-deficient wide matrix (repeated rows) and extreme scales', () => {
    const rng = new Rng(5);
    const a = randomMatrix(rng, 3, 6);
    for (let j = 0; j < 6; j++) a[2 * 6 + j] = a[j]!;
    const f = svd(a, 3, 6);
    assert.ok(f.s[2]! < 1e-14 * f.s[0]!);
    checkSvd(a, 3, 6, f);
    for (const scale of [1e200, 1e-200]) {
      const b = a.map((x) => x * scale);
      const g = svd(b, 3, 6);
      assert.ok(g.s.every(Number.isFinite));
      assert.ok(Math.abs(g.s[0]! / scale - f.s[0]!) / f.s[0]! < 1e-13, `scale ${scale}`);
      // Check the factors against the unscaled matrix (sums of squares of b itself would overflow/underflow here).
      checkSvd(a, 3, 6, { ...g, s: g.s.map((x) => x / scale) });
    }
  });

  test('F32 input is accepted; NaN/Inf are non_finite; wrong lengths shape_mismatch', () => {
    const f = svd(Float32Array.of(2, 0, 1, 1), 2, 2);
    assert.ok(Math.abs(f.s[0]! - Math.sqrt(3 + Math.sqrt(5))) < 1e-14);
    assert.throws(() => svd(Float64Array.of(1, 2, Infinity, 4), 2, 2), (e: unknown) => hasCode(ErrorCode.NonFinite, 'a')(e) && /a\[1, 0\]/.test((e as Error).message));
    assert.throws(() => svd(new Float64Array(3), 2, 2), hasCode(ErrorCode.ShapeMismatch, 'a'));
    assert.deepEqual(svd(new Float64Array(0), 0, 3).s, new Float64Array(0));
  });
});

describe('truncatedSvd', () => {
  test('keeps the leading k triplets; the error is the Eckart-Young tail', () => {
    const m = 12;
    const n = 9;
    const a = randomMatrix(new Rng(91), m, n);
    const full = svd(a, m, n);
    const t = truncatedSvd(a, m, n, 3);
    assert.equal(t.k, 3);
    assert.deepEqual(t.s, full.s.slice(0, 3));
    for (let i = 0; i < m; i++) for (let j = 0; j < 3; j++) assert.equal(t.u[i * 3 + j], full.u[i * n + j]);
    for (let i = 0; i < n; i++) for (let j = 0; j < 3; j++) assert.equal(t.v[i * 3 + j], full.v[i * n + j]);
    const tail = Math.sqrt(full.s.slice(3).reduce((s, x) => s + x * x, 0));
    assert.ok(Math.abs(diffNorm(reconstructSvd(t), a) - tail) / tail < 1e-12);
  });

  test('k must be in 0..min(m, n)', () => {
    const a = new Float64Array(6).fill(1);
    assert.equal(truncatedSvd(a, 2, 3, 0).u.length, 0);
    assert.equal(truncatedSvd(a, 2, 3, 2).k, 2);
    for (const k of [3, -1, 1.5]) assert.throws(() => truncatedSvd(a, 2, 3, k), hasCode(ErrorCode.InvalidInput, 'k'));
  });
});

describe('symmetricEigen', () => {
  test('a 2×2 with eigenvalues 3 and 1', () => {
    const f = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2);
    assert.ok(diffNorm(f.values, [3, 1]) < 1e-15);
    const c = Math.SQRT1_2;
    assert.ok(diffNorm([f.vectors[0]!, f.vectors[2]!], [c, c]) < 1e-15);
    assert.ok(Math.abs(Math.abs(f.vectors[1]!) - c) < 1e-15 && Math.abs(f.vectors[1]! + f.vectors[3]!) < 1e-15);
  });

  test('a diagonal with negative entries sorts values descending (not by magnitude)', () => {
    const f = symmetricEigen(Float64Array.of(1, 0, 0, 0, -3, 0, 0, 0, 2), 3);
    assert.deepEqual([...f.values], [2, 1, -3]);
    assert.deepEqual([...f.vectors], [0, 1, 0, 0, 0, 1, 1, 0, 0]);
  });

  test('random symmetric 30×30: S = V Λ Vᵀ, VᵀV = I, S v = λ v, trace = Σλ', () => {
    const n = 30;
    const b = randomMatrix(new Rng(17), n, n);
    const s = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s[i * n + j] = b[i * n + j]! + b[j * n + i]!;
    const f = symmetricEigen(s, n);
    const vl = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vl[i * n + j] = f.vectors[i * n + j]! * f.values[j]!;
    assert.ok(diffNorm(mul(vl, transpose(f.vectors, n, n), n, n, n), s) / frob(s) < 1e-13);
    assert.ok(orthogonalityError(f.vectors, n, n) < 1e-13);
    assert.ok(diffNorm(mul(s, f.vectors, n, n, n), vl) / frob(s) < 1e-13);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += s[i * n + i]!;
    assert.ok(Math.abs(trace - f.values.reduce((x, y) => x + y, 0)) < 1e-11);
    for (let j = 1; j < n; j++) assert.ok(f.values[j]! <= f.values[j - 1]!);
  });

  test('on AᵀA the eigenvalues are the squared singular values of A (two different algorithms agree)', () => {
    const a = randomMatrix(new Rng(18), 25, 10);
    const ata = mul(transpose(a, 25, 10), a, 10, 25, 10);
    const e = symmetricEigen(ata, 10);
    const f = svd(a, 25, 10);
    for (let j = 0; j < 10; j++) assert.ok(Math.abs(e.values[j]! - f.s[j]! ** 2) / f.s[0]! ** 2 < 1e-13);
  });

  test('asymmetry beyond the tolerance is invalid_input; rounding-level asymmetry is accepted', () => {
    assert.throws(() => symmetricEigen(Float64Array.of(1, 2, 3, 1), 2), (e: unknown) => hasCode(ErrorCode.InvalidInput, 's')(e) && /s\[0, 1\]/.test((e as Error).message));
    const f = symmetricEigen(Float64Array.of(2, 1 + 1e-9, 1, 2), 2);
    assert.ok(Math.abs(f.values[0]! - 3) < 1e-8);
    assert.throws(() => symmetricEigen(Float64Array.of(2, 1 + 1e-9, 1, 2), 2, { symmetryTolerance: 0 }), hasCode(ErrorCode.InvalidInput));
    assert.throws(() => symmetricEigen(Float64Array.of(Number.NaN), 1), hasCode(ErrorCode.NonFinite, 's'));
    assert.throws(() => symmetricEigen(new Float64Array(5), 2), hasCode(ErrorCode.ShapeMismatch, 's'));
    assert.deepEqual([...symmetricEigen(new Float64Array(4), 2).values], [0, 0]);
  });
});
