import { symmetricEigen } from '@weightsmith/tensor';
import { GRAM_RELATIVE_FLOOR } from './small-linalg.js';
import type { MergedModule, ModuleFactors } from './types.js';

/*
 * How well a merged module serves each input, from small Gram matrices only (never a dense
 * dOut×dIn matrix). The target of input i is its own delta ΔW_i = s_i·B_i·A_i WITHOUT the user
 * weight w_i (spec: "‖ΔW' − ΔW_i‖_F / ‖ΔW_i‖_F"): the question answered is how close the merged
 * adapter is to what adapter i does alone.
 *
 *   ‖B'A' − s·B·A‖² = Σ(B'ᵀB' ∘ A'A'ᵀ) − 2s·Σ(B'ᵀB ∘ A'Aᵀ) + s²·Σ(BᵀB ∘ AAᵀ)   (∘: entrywise)
 *
 * retainedEnergy: ‖P·ΔW_i‖_F / ‖ΔW_i‖_F with P the orthogonal projection onto the column space of
 * B' (the output directions the merged adapter can write). With G = B'ᵀB' and X = B'ᵀB_i,
 * ‖P·B_i·A_i‖² = Σ((Xᵀ·G⁺·X) ∘ A_iA_iᵀ); G⁺ is the eigen pseudo-inverse, which also copes with
 * zero-padded or dependent columns of B'.
 *
 * Sums are F64 dot products over the long dimension. The formula subtracts nearly equal numbers
 * when the error is tiny: relative errors below ~1e-7 are noise. An input with ΔW_i = 0 reports
 * relativeError 0 when ΔW' = 0 too and Infinity otherwise, and retainedEnergy 1.
 */
export interface Fidelity {
  relativeError: number[];
  retainedEnergy: number[];
}

export function fidelity(inputs: readonly ModuleFactors[], merged: MergedModule, dIn: number, dOut: number): Fidelity {
  const k = merged.k;
  const gB = colCross(merged.B, k, merged.B, k, dOut);
  const gA = rowCross(merged.A, k, merged.A, k, dIn);
  const mergedSq = frobDot(gB, gA);
  const pinv = pseudoInverse(gB, k);
  const relativeError: number[] = [];
  const retainedEnergy: number[] = [];
  for (const f of inputs) {
    const r = f.r;
    const s = f.scale;
    const bb = colCross(f.B, r, f.B, r, dOut);
    const aa = rowCross(f.A, r, f.A, r, dIn);
    const ownSq = s * s * frobDot(bb, aa);
    const x = colCross(merged.B, k, f.B, r, dOut); // k×r
    const cross = s * frobDot(x, rowCross(merged.A, k, f.A, r, dIn));
    const errSq = Math.max(0, mergedSq - 2 * cross + ownSq);
    // Xᵀ·G⁺·X (r×r)
    const gx = new Float64Array(k * r);
    for (let a = 0; a < k; a++) for (let j = 0; j < r; j++) {
      let t = 0;
      for (let b = 0; b < k; b++) t += pinv[a * k + b]! * x[b * r + j]!;
      gx[a * r + j] = t;
    }
    const proj = new Float64Array(r * r);
    for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) {
      let t = 0;
      for (let a = 0; a < k; a++) t += x[a * r + i]! * gx[a * r + j]!;
      proj[i * r + j] = t;
    }
    const keptSq = Math.max(0, s * s * frobDot(proj, aa));
    if (ownSq === 0) {
      relativeError.push(mergedSq === 0 ? 0 : Infinity);
      retainedEnergy.push(1);
    } else {
      relativeError.push(Math.sqrt(errSq / ownSq));
      retainedEnergy.push(Math.min(1, Math.sqrt(keptSq / ownSq)));
    }
  }
  return { relativeError, retainedEnergy };
}

/** Xᵀ·Y for X (len×p) and Y (len×q), row-major, F64 sums. */
function colCross(x: Float32Array, p: number, y: Float32Array, q: number, len: number): Float64Array {
  const out = new Float64Array(p * q);
  for (let t = 0; t < len; t++) {
    const xo = t * p;
    const yo = t * q;
    for (let i = 0; i < p; i++) {
      const xi = x[xo + i]!;
      if (xi === 0) continue;
      const oo = i * q;
      for (let j = 0; j < q; j++) out[oo + j] = out[oo + j]! + xi * y[yo + j]!;
    }
  }
  return out;
}

/** X·Yᵀ for X (p×len) and Y (q×len), row-major, F64 sums. */
function rowCross(x: Float32Array, p: number, y: Float32Array, q: number, len: number): Float64Array {
  const out = new Float64Array(p * q);
  for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) {
    let s = 0;
    const xo = i * len;
    const yo = j * len;
    for (let t = 0; t < len; t++) s += x[xo + t]! * y[yo + t]!;
    out[i * q + j] = s;
  }
  return out;
}

function frobDot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function pseudoInverse(g: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n);
  if (n === 0) return out;
  const eig = symmetricEigen(g, n);
  const top = eig.values[0]!;
  for (let e = 0; e < n; e++) {
    const l = eig.values[e]!;
    if (!(l > top * GRAM_RELATIVE_FLOOR) || l <= 0) continue;
    for (let i = 0; i < n; i++) {
      const vi = eig.vectors[i * n + e]! / l;
      if (vi === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + vi * eig.vectors[j * n + e]!;
    }
  }
  return out;
}
