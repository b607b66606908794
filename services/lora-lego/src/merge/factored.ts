import { matmul, svd } from '@weightsmith/tensor';
import { gramRange, rowGram } from './small-linalg.js';
import type { ModuleFactors } from './types.js';

/*
 * Merges that are exact in factored form. Σ_i c_i·B_i·A_i is B·diag(c)·A with B = [B_1 … B_N]
 * (dOut×R) and A = [A_1; …; A_N] (R×dIn), so its SVD needs only R×R work:
 *
 *   B = Q_B·R_B and Aᵀ = Q_A·R_A  ⇒  ΔW = Q_B·(R_B·diag(c)·R_Aᵀ)·Q_Aᵀ, SVD the R×R core.
 *
 * The "R" factors are taken from the Gram matrices instead of Householder QR: with
 * BᵀB = U_B·Λ_B·U_Bᵀ, Q_B = B·U_B·Λ_B^{-1/2} and R_B = Λ_B^{1/2}·U_Bᵀ (likewise for A). Measured
 * here, JS Householder QR of an 11008×64 factor takes ~0.5 s while the Gram is one MLAS product
 * (~ms), and every product with a tall factor then goes through the fast matmul. The price is
 * the Gram's squared condition number: directions of B or A below ~1e-3.5 of the largest
 * singular value are resolved only to F32-Gram accuracy, which affects how the smallest
 * singular values are ranked, not the reconstruction (B'·A' reproduces ΔW exactly when k keeps
 * every direction, because the Gram factors cancel algebraically). Columns of B and rows of A
 * are normalised first (their norms folded into c), so adapters of very different magnitude do
 * not make the Grams ill-conditioned; pairs with a zero factor or zero coefficient are dropped.
 *
 * Result: B' = Q_B·U_k·√S_k and A' = √S_k·V_kᵀ·Q_Aᵀ, so both factors carry √σ (balanced). Signs
 * follow the SVD's convention (largest entry of each U column positive), so results are
 * deterministic. A dense dOut×dIn matrix is never formed.
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

/**
 * Best rank-k approximation of Σ_i coef_i·B_i·A_i (Eckart–Young), computed in factored form (see
 * the file comment). When fewer than k directions are non-zero the result is zero-padded to k.
 */
export async function truncatedSumOfProducts(inputs: readonly ModuleFactors[], coef: readonly number[], dIn: number, dOut: number, k: number): Promise<LowRank> {
  // Unit columns of B (stored transposed, one row per rank) and unit rows of A, norms into c.
  const kept: { bt: Float32Array; a: Float32Array; c: number }[] = [];
  inputs.forEach((f, i) => {
    const c = coef[i]!;
    if (c === 0) return;
    for (let j = 0; j < f.r; j++) {
      const bt = new Float32Array(dOut);
      let nb = 0;
      for (let o = 0; o < dOut; o++) {
        const v = f.B[o * f.r + j]!;
        bt[o] = v;
        nb += v * v;
      }
      const a = f.A.subarray(j * dIn, (j + 1) * dIn);
      let na = 0;
      for (let d = 0; d < dIn; d++) na += a[d]! * a[d]!;
      if (nb === 0 || na === 0) continue;
      nb = Math.sqrt(nb);
      na = Math.sqrt(na);
      for (let o = 0; o < dOut; o++) bt[o] = bt[o]! / nb;
      const an = new Float32Array(dIn);
      for (let d = 0; d < dIn; d++) an[d] = a[d]! / na;
      kept.push({ bt, a: an, c: c * nb * na });
    }
  });
  const R = kept.length;
  if (R === 0) return { B: new Float32Array(dOut * k), A: new Float32Array(k * dIn), k, singularValues: new Float64Array(0) };
  const bt = new Float32Array(R * dOut);
  const at = new Float32Array(R * dIn);
  kept.forEach((m, j) => {
    bt.set(m.bt, j * dOut);
    at.set(m.a, j * dIn);
  });

  const rb = gramRange(await rowGram(bt, R, dOut), R);
  const ra = gramRange(await rowGram(at, R, dIn), R);
  // Core K = Λ_B^{1/2}·U_Bᵀ·diag(c)·U_A·Λ_A^{1/2} (pB×pA).
  const pB = rb.p;
  const pA = ra.p;
  const core = new Float64Array(pB * pA);
  for (let x = 0; x < pB; x++) {
    for (let y = 0; y < pA; y++) {
      let s = 0;
      for (let j = 0; j < R; j++) s += rb.vectors[j * pB + x]! * kept[j]!.c * ra.vectors[j * pA + y]!;
      core[x * pA + y] = s * Math.sqrt(rb.values[x]! * ra.values[y]!);
    }
  }
  const dec = svd(core, pB, pA);
  const q = dec.k;
  let kk = 0;
  while (kk < Math.min(k, q) && dec.s[kk]! > 0) kk++;

  // T_Bᵀ (kk×R) = √S_k·U_kᵀ·Λ_B^{-1/2}·U_Bᵀ and T_A (kk×R) = √S_k·V_kᵀ·Λ_A^{-1/2}·U_Aᵀ.
  const tbT = new Float32Array(kk * R);
  const ta = new Float32Array(kk * R);
  for (let c = 0; c < kk; c++) {
    const rs = Math.sqrt(dec.s[c]!);
    for (let j = 0; j < R; j++) {
      let sb = 0;
      for (let x = 0; x < pB; x++) sb += dec.u[x * q + c]! * rb.vectors[j * pB + x]! / Math.sqrt(rb.values[x]!);
      tbT[c * R + j] = rs * sb;
      let sa = 0;
      for (let y = 0; y < pA; y++) sa += dec.v[y * q + c]! * ra.vectors[j * pA + y]! / Math.sqrt(ra.values[y]!);
      ta[c * R + j] = rs * sa;
    }
  }
  const A = new Float32Array(k * dIn);
  const B = new Float32Array(dOut * k);
  if (kk > 0) {
    A.set(await matmul(ta, at, kk, R, dIn));
    const bPrimeT = await matmul(tbT, bt, kk, R, dOut);
    for (let o = 0; o < dOut; o++) for (let c = 0; c < kk; c++) B[o * k + c] = bPrimeT[c * dOut + o]!;
  }
  return { A, B, k, singularValues: dec.s };
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

