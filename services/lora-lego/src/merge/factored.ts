import { matmul, matmulTransB } from '@weightsmith/tensor';
import { putScratch, takeScratch } from './scratch.js';
import { gramRows, leftSvd, pivotedCholesky, solvePivotBlockTransposed } from './small-linalg.js';
import type { ModuleFactors } from './types.js';

/*
 * Merges that are exact in factored form. Σ_i c_i·B_i·A_i is B·D·A with B = [B_1 … B_N]
 * (dOut×R), A = [A_1; …; A_N] (R×dIn), D = diag(c), so its SVD needs only R×R work:
 *
 *   B = Q_B·L_Bᵀ and Aᵀ = Q_A·L_Aᵀ  ⇒  ΔW = Q_B·(L_Bᵀ·D·L_A)·Q_Aᵀ = Q_B·C·Q_Aᵀ, SVD the core C.
 *
 * The triangular factors come from the Gram matrices BᵀB and AAᵀ (Cholesky-QR) instead of
 * Householder QR: each Gram is one fast matmul on the stacked factors (JS Householder of an
 * 11008×64 factor took ~0.5 s), and Cholesky of a 64×64 Gram costs ~0.1 ms where the former
 * eigen-decomposition cost ~20 ms. The Cholesky is pivoted and stops at the numerical rank
 * (CHOLESKY_RELATIVE_FLOOR), which handles rank deficiency without eigenvalues: duplicate or
 * dependent ranks across adapters, Σ r_i above dIn or dOut. Q_B = B_piv·L₁₁⁻ᵀ uses only the pivot
 * columns. The price of the Gram route is its squared condition number: directions weaker than
 * ~1e-3.5 of a factor's strongest are resolved to F32-Gram accuracy, which affects the ranking of
 * the smallest singular values, not the reconstruction when k keeps every direction. Columns of
 * B and rows of A are normalised first (their norms folded into c) so adapters of very different
 * magnitude do not make the Grams ill-conditioned; pairs with a zero factor or coefficient are
 * dropped.
 *
 * With C = U·S·Vᵀ: B' = Q_B·U_k·√S_k and A' = S_k^{-1/2}·U_kᵀ·C·Q_Aᵀ (= √S_k·V_kᵀ·Q_Aᵀ), so V is
 * never formed and B'·A' = Q_B·U_k·U_kᵀ·C·Q_Aᵀ is an exact projection. Both become small k×R
 * transforms applied by ONE fast matmul each to the stacked factors. Signs follow the core's U
 * (largest entry of each column positive), so results are deterministic. A dense dOut×dIn matrix
 * is never formed; the stacked factors live in reused scratch buffers (fresh memory costs more
 * than the arithmetic here).
 */

export interface LowRank {
  /** dOut×k, row-major. */
  B: Float32Array;
  /** k×dIn, row-major. */
  A: Float32Array;
  k: number;
  /** Singular values of the combined ΔW, descending (all of them, not only the kept ones). */
  singularValues: Float64Array;
}

/** B' = [c_1·B_1 … c_N·B_N], A' = [A_1; …; A_N], zero-padded to k ≥ Σ r_i columns/rows. */
export function concatFactors(inputs: readonly ModuleFactors[], coef: readonly number[], dIn: number, dOut: number, k: number): { A: Float32Array; B: Float32Array } {
  const A = new Float32Array(k * dIn);
  const B = new Float32Array(dOut * k);
  let row = 0;
  inputs.forEach((f, i) => {
    const c = coef[i]!;
    A.set(f.A, row * dIn);
    for (let o = 0; o < dOut; o++) for (let j = 0; j < f.r; j++) B[o * k + row + j] = c * f.B[o * f.r + j]!;
    row += f.r;
  });
  return { A, B };
}

/** Singular values below this fraction of the largest are numerical zeros of the F64 core. */
const CORE_ZERO = 1e-13;

/** The non-zero units of the stacked factors: unit rows of A and unit columns of B (stored as rows), norms folded into c. */
interface Stacked {
  /** R×dIn. */
  at: Float32Array;
  /** R×dOut (Bᵀ, for the Gram). */
  bt: Float32Array;
  /** dOut×R (B, for the final product, which then lands in the output layout). */
  bs: Float32Array;
  c: Float64Array;
  R: number;
}

function stackUnits(inputs: readonly ModuleFactors[], coef: readonly number[], dIn: number, dOut: number): Stacked {
  // Pass 1: squared norms of every unit (B read row by row, contiguously).
  const total = inputs.reduce((s, f, i) => s + (coef[i] === 0 ? 0 : f.r), 0);
  const na = new Float64Array(total);
  const nb = new Float64Array(total);
  const cAll = new Float64Array(total);
  let u = 0;
  for (let i = 0; i < inputs.length; i++) {
    const c = coef[i]!;
    if (c === 0) continue;
    const { A: fA, B: fB, r } = inputs[i]!;
    for (let o = 0; o < dOut; o++) {
      const bo = o * r;
      for (let j = 0; j < r; j++) nb[u + j] = nb[u + j]! + fB[bo + j]! * fB[bo + j]!;
    }
    for (let j = 0; j < r; j++) {
      let s = 0;
      const ao = j * dIn;
      for (let d = 0; d < dIn; d++) s += fA[ao + d]! * fA[ao + d]!;
      na[u + j] = s;
      cAll[u + j] = c;
    }
    u += r;
  }
  // Units with a zero half are dropped; the rest get unit norm, with the norms folded into c.
  const rowOf = new Int32Array(total).fill(-1);
  const invA = new Float64Array(total);
  const invB = new Float64Array(total);
  let R = 0;
  for (let t = 0; t < total; t++) {
    if (!(na[t]! > 0 && nb[t]! > 0)) continue;
    rowOf[t] = R++;
    const ra = Math.sqrt(na[t]!);
    const rb = Math.sqrt(nb[t]!);
    invA[t] = 1 / ra;
    invB[t] = 1 / rb;
    cAll[t] = cAll[t]! * ra * rb;
  }
  const at = takeScratch(R * dIn);
  const bt = takeScratch(R * dOut);
  const bs = takeScratch(dOut * R);
  const c = new Float64Array(R);
  u = 0;
  for (let i = 0; i < inputs.length; i++) {
    if (coef[i] === 0) continue;
    const { A: fA, B: fB, r } = inputs[i]!;
    for (let j = 0; j < r; j++) {
      const rw = rowOf[u + j]!;
      if (rw < 0) continue;
      c[rw] = cAll[u + j]!;
      const f = invA[u + j]!;
      const ao = j * dIn;
      const to = rw * dIn;
      for (let d = 0; d < dIn; d++) at[to + d] = fA[ao + d]! * f;
    }
    // Bᵀ in blocks of 64 rows of B, so the block stays in cache while each unit's row is written.
    for (let o0 = 0; o0 < dOut; o0 += 64) {
      const oEnd = Math.min(dOut, o0 + 64);
      for (let j = 0; j < r; j++) {
        const rw = rowOf[u + j]!;
        if (rw < 0) continue;
        const g = invB[u + j]!;
        const to = rw * dOut;
        for (let o = o0; o < oEnd; o++) bt[to + o] = fB[o * r + j]! * g;
      }
    }
    // B itself (unit k of the stack is row k of bt and column k of bs), both sides contiguous.
    for (let o = 0; o < dOut; o++) {
      const bo = o * r;
      const so = o * R;
      for (let j = 0; j < r; j++) {
        const rw = rowOf[u + j]!;
        if (rw >= 0) bs[so + rw] = fB[bo + j]! * invB[u + j]!;
      }
    }
    u += r;
  }
  return { at, bt, bs, c, R };
}

/** x itself when it spans its whole buffer (the writers may hand `.buffer` on), else a copy. */
function ownBuffer(x: Float32Array): Float32Array {
  return x.byteOffset === 0 && x.byteLength === x.buffer.byteLength ? x : x.slice();
}

/**
 * Best rank-k approximation of Σ_i coef_i·B_i·A_i (Eckart–Young), computed in factored form (see
 * the file comment). When fewer than k directions are non-zero the result is zero-padded to k.
 */
export async function truncatedSumOfProducts(inputs: readonly ModuleFactors[], coef: readonly number[], dIn: number, dOut: number, k: number): Promise<LowRank> {
  const { at, bt, bs, c, R } = stackUnits(inputs, coef, dIn, dOut);
  try {
    if (R === 0) return { B: new Float32Array(dOut * k), A: new Float32Array(k * dIn), k, singularValues: new Float64Array(0) };
    const fb = pivotedCholesky(await gramRows(bt, R, dOut), R);
    const fa = pivotedCholesky(await gramRows(at, R, dIn), R);
    const pB = fb.p;
    const pA = fa.p;
    // Core C = L_Bᵀ·D·L_A (pB×pA); rows of L are indexed by unit.
    const core = new Float64Array(pB * pA);
    for (let j = 0; j < R; j++) {
      const cj = c[j]!;
      const lb = j * pB;
      const la = j * pA;
      for (let x = 0; x < pB; x++) {
        const v = fb.l[lb + x]! * cj;
        if (v === 0) continue;
        const co = x * pA;
        for (let y = 0; y < pA; y++) core[co + y] = core[co + y]! + v * fa.l[la + y]!;
      }
    }
    const dec = leftSvd(core, pB, pA, CORE_ZERO);
    const q = dec.q;
    let kk = 0;
    while (kk < Math.min(k, q) && dec.s[kk]! > dec.s[0]! * CORE_ZERO) kk++;

    if (kk > 0) {
      // Y_B = U_k·√S_k (pB×kk); Y_A = (S_k^{-1/2}·U_kᵀ·C)ᵀ (pA×kk).
      const yB = new Float64Array(pB * kk);
      const yA = new Float64Array(pA * kk);
      for (let col = 0; col < kk; col++) {
        const rs = Math.sqrt(dec.s[col]!);
        for (let x = 0; x < pB; x++) yB[x * kk + col] = dec.u[x * q + col]! * rs;
        for (let y = 0; y < pA; y++) {
          let s = 0;
          for (let x = 0; x < pB; x++) s += dec.u[x * q + col]! * core[x * pA + y]!;
          yA[y * kk + col] = s / rs;
        }
      }
      // T = L₁₁⁻ᵀ·Y on each side, scattered onto the pivot units (kk×R, zero elsewhere).
      const xB = solvePivotBlockTransposed(fb.l, fb.piv, pB, yB, kk);
      const xA = solvePivotBlockTransposed(fa.l, fa.piv, pA, yA, kk);
      const tbT = new Float32Array(kk * R);
      const ta = new Float32Array(kk * R);
      for (let s = 0; s < pB; s++) for (let col = 0; col < kk; col++) tbT[col * R + fb.piv[s]!] = xB[s * kk + col]!;
      for (let s = 0; s < pA; s++) for (let col = 0; col < kk; col++) ta[col * R + fa.piv[s]!] = xA[s * kk + col]!;
      // The products are fresh arrays already: returned as they are unless zero padding is needed.
      const aK = await matmul(ta, at, kk, R, dIn);
      const bK = await matmulTransB(bs, tbT, dOut, R, kk);
      if (kk === k) return { A: ownBuffer(aK), B: ownBuffer(bK), k, singularValues: dec.s };
      const A = new Float32Array(k * dIn);
      const B = new Float32Array(dOut * k);
      A.set(aK);
      for (let o = 0; o < dOut; o++) B.set(bK.subarray(o * kk, (o + 1) * kk), o * k);
      return { A, B, k, singularValues: dec.s };
    }
    return { A: new Float32Array(k * dIn), B: new Float32Array(dOut * k), k, singularValues: dec.s };
  } finally {
    putScratch(at);
    putScratch(bt);
    putScratch(bs);
  }
}

/**
 * PEFT's 'linear' combination (`add_weighted_adapter`): A' = Σ √(w_i·s_i)·A_i and
 * B' = Σ √(w_i·s_i)·B_i, for equal ranks. This is NOT Σ w_i·s_i·B_i·A_i: B'A' also holds the cross
 * terms √(c_i·c_j)·B_i·A_j for i ≠ j, which pair rank j of one adapter with rank j of another
 * (meaningful only when the adapters share an initialisation). A negative c_i (PEFT would fail on
 * the square root) puts its sign on the A side: √|c_i| on B_i and sign(c_i)·√|c_i| on A_i, so the
 * diagonal terms stay c_i·B_i·A_i. Zero-padded to k ≥ r.
 */
export function linearFactors(inputs: readonly ModuleFactors[], coef: readonly number[], dIn: number, dOut: number, k: number): { A: Float32Array; B: Float32Array } {
  const r = inputs[0]!.r;
  const A = new Float64Array(r * dIn);
  const B = new Float64Array(dOut * r);
  inputs.forEach((f, i) => {
    const c = coef[i]!;
    const root = Math.sqrt(Math.abs(c));
    const fa = Math.sign(c) * root;
    for (let t = 0; t < r * dIn; t++) A[t] = A[t]! + fa * f.A[t]!;
    for (let t = 0; t < dOut * r; t++) B[t] = B[t]! + root * f.B[t]!;
  });
  const outA = new Float32Array(k * dIn);
  outA.set(A);
  const outB = new Float32Array(dOut * k);
  for (let o = 0; o < dOut; o++) for (let j = 0; j < r; j++) outB[o * k + j] = B[o * r + j]!;
  return { A: outA, B: outB };
}

