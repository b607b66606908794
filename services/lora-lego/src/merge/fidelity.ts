import { matmulTransB, symmetricEigen } from '@weightsmith/tensor';
import { putScratch, takeScratch } from './scratch.js';
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

/** One input's figures from the squared norms ‖ΔW_i‖², ‖ΔW′‖², ‖ΔW′ − ΔW_i‖², ‖P·ΔW_i‖² (see above for ΔW_i = 0). */
function pushFidelity(out: Fidelity, ownSq: number, mergedSq: number, errSq: number, keptSq: number): void {
  if (ownSq === 0) {
    out.relativeError.push(mergedSq === 0 ? 0 : Infinity);
    out.retainedEnergy.push(1);
  } else {
    out.relativeError.push(Math.sqrt(errSq / ownSq));
    out.retainedEnergy.push(Math.min(1, Math.sqrt(keptSq / ownSq)));
  }
}

export function fidelity(inputs: readonly ModuleFactors[], merged: MergedModule, dIn: number, dOut: number): Fidelity {
  const k = merged.k;
  const gB = colCross(merged.B, k, merged.B, k, dOut);
  const gA = rowCross(merged.A, k, merged.A, k, dIn);
  const mergedSq = frobDot(gB, gA);
  const pinv = pseudoInverse(gB, k);
  const out: Fidelity = { relativeError: [], retainedEnergy: [] };
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
    pushFidelity(out, ownSq, mergedSq, errSq, keptSq);
  }
  return out;
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

/*
 * measureFidelity: the same report as `fidelity`, for the per-module pipeline. The Gram matrices
 * over the long dimensions (the whole cost: ~140M multiply-adds for `cat` at 4096→11008, ~0.3 s
 * of JS) come from two MLAS products on stacked factors instead: S_B = [B'ᵀ; B_1ᵀ; …; B_Nᵀ] and
 * S_A = [A'; A_1; …; A_N], with rows 0..k of S·Sᵀ giving B'ᵀB' and every B'ᵀB_i at once (and
 * likewise for A), plus one small product per input for B_iᵀB_i and A_iA_iᵀ. The projection
 * uses a Cholesky factor of G = B'ᵀB' that skips dependent columns (pivot below CHOL_DEPENDENT of
 * the column's own squared norm, i.e. within ~3e-3 rad of the span of the earlier columns) instead
 * of an eigen pseudo-inverse: the same projector onto the column space of B', for ~k³/6 flops.
 *
 * Accuracy: the Grams are F32 sums (MLAS), so the cancellation in the error formula leaves an
 * absolute noise of ~1e-3 on a relative error near 0 (an exact `cat` reports ~1e-4..1e-3, not
 * 0), ~1e-6 on values near 1; retained energy is good to ~1e-5. `fidelity` is the F64 reference.
 */
const CHOL_DEPENDENT = 1e-5;

export async function measureFidelity(inputs: readonly ModuleFactors[], merged: MergedModule, dIn: number, dOut: number): Promise<Fidelity> {
  const k = merged.k;
  const R = inputs.reduce((s, f) => s + f.r, 0);
  const rows = k + R;
  const sB = takeScratch(rows * dOut);
  const sA = takeScratch(rows * dIn);
  try {
    transposeInto(merged.B, dOut, k, sB, 0);
    sA.set(merged.A, 0);
    let row = k;
    for (const f of inputs) {
      transposeInto(f.B, dOut, f.r, sB, row * dOut);
      sA.set(f.A, row * dIn);
      row += f.r;
    }
    // k×(k+R): [B'ᵀB' | B'ᵀB_1 … B'ᵀB_N] and [A'A'ᵀ | A'A_1ᵀ …].
    const xB = await matmulTransB(sB.subarray(0, k * dOut), sB, k, dOut, rows);
    const xA = await matmulTransB(sA.subarray(0, k * dIn), sA, k, dIn, rows);
    let mergedSq = 0;
    for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) mergedSq += xB[a * rows + b]! * xA[a * rows + b]!;
    const chol = skipDependentCholesky(xB, rows, k);

    const out: Fidelity = { relativeError: [], retainedEnergy: [] };
    let off = k;
    for (const f of inputs) {
      const r = f.r;
      const s = f.scale;
      const bi = sB.subarray(off * dOut, (off + r) * dOut);
      const ai = sA.subarray(off * dIn, (off + r) * dIn);
      const bb = await matmulTransB(bi, bi, r, dOut, r);
      const aa = await matmulTransB(ai, ai, r, dIn, r);
      let own = 0;
      for (let t = 0; t < r * r; t++) own += bb[t]! * aa[t]!;
      const ownSq = s * s * own;
      let cross = 0;
      for (let a = 0; a < k; a++) for (let j = 0; j < r; j++) cross += xB[a * rows + off + j]! * xA[a * rows + off + j]!;
      const errSq = Math.max(0, mergedSq - 2 * s * cross + ownSq);
      // Y = L⁻¹·X over the kept columns of B'; ‖P·B_i·A_i‖² = Σ((YᵀY) ∘ A_iA_iᵀ).
      const y = new Float64Array(k * r);
      for (let a = 0; a < k; a++) {
        if (!chol.keep[a]) continue;
        const la = a * k;
        for (let j = 0; j < r; j++) {
          let t = xB[a * rows + off + j]!;
          for (let m = 0; m < a; m++) t -= chol.l[la + m]! * y[m * r + j]!;
          y[a * r + j] = t / chol.l[la + a]!;
        }
      }
      let kept = 0;
      for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) {
        let t = 0;
        for (let a = 0; a < k; a++) t += y[a * r + i]! * y[a * r + j]!;
        kept += t * aa[i * r + j]!;
      }
      const keptSq = Math.max(0, s * s * kept);
      pushFidelity(out, ownSq, mergedSq, errSq, keptSq);
      off += r;
    }
    return out;
  } finally {
    putScratch(sB);
    putScratch(sA);
  }
}

/** Writes the transpose of x (rows×cols, row-major) into out at `at` as cols×rows. */
function transposeInto(x: Float32Array, rows: number, cols: number, out: Float32Array, at: number): void {
  for (let o = 0; o < rows; o++) {
    const xo = o * cols;
    for (let j = 0; j < cols; j++) out[at + j * rows + o] = x[xo + j]!;
  }
}

/**
 * Cholesky G = L·Lᵀ of the leading k×k block of g (row stride `stride`, symmetrised), where a
 * column whose pivot falls below CHOL_DEPENDENT of its diagonal (or whose diagonal is negligible)
 * is marked dependent and left out: L then factors the Gram of the kept columns, which span the
 * same space.
 */
function skipDependentCholesky(g: Float32Array, stride: number, k: number): { l: Float64Array; keep: Uint8Array } {
  const l = new Float64Array(k * k);
  const keep = new Uint8Array(k);
  let maxDiag = 0;
  for (let j = 0; j < k; j++) maxDiag = Math.max(maxDiag, g[j * stride + j]!);
  for (let j = 0; j < k; j++) {
    const gjj = g[j * stride + j]!;
    if (!(gjj > maxDiag * GRAM_RELATIVE_FLOOR)) continue;
    let d = gjj;
    for (let m = 0; m < j; m++) d -= l[j * k + m]! * l[j * k + m]!;
    if (!(d > CHOL_DEPENDENT * gjj)) continue;
    keep[j] = 1;
    const ljj = Math.sqrt(d);
    l[j * k + j] = ljj;
    for (let i = j + 1; i < k; i++) {
      let t = (g[i * stride + j]! + g[j * stride + i]!) / 2;
      for (let m = 0; m < j; m++) t -= l[i * k + m]! * l[j * k + m]!;
      l[i * k + j] = t / ljj;
    }
  }
  return { l, keep };
}
