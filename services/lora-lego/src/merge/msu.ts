import { putScratch, takeScratch } from './scratch.js';
import type { ModuleFactors } from './types.js';

/*
 * The pool of Minimal Semantic Units (spec step 1). Rank j of adapter i is the pair
 * (a = row j of A_i, b = column j of B_i), with c = w_i·s_i folded in and the pair balanced:
 *
 *   â = sign(c)·a·√(|c|·‖b‖/‖a‖),  b̂ = b·√(|c|·‖a‖/‖b‖)   ⇒   b̂·âᵀ = c·b·aᵀ,  ‖â‖ = ‖b̂‖.
 *
 * Units with a zero half or c = 0 contribute nothing and are dropped. Canonical sign: both halves
 * are negated when the largest-magnitude entry of â (the first such index on a tie, comparing the
 * F32 values) is negative, so ±pairs of the same unit become the same vector. The vector is
 * m = [â ; b̂] (length dIn + dOut), computed in F64 and rounded to F32.
 *
 * Canonical order: by ‖m‖ (F64 over the F32 entries) descending, then by the entries' F32 bit
 * patterns as unsigned integers, lexicographically. Every unit's vector depends only on its own
 * (a, b, c), so permuting ranks inside an adapter or permuting adapters yields the same pool
 * bytes, and hence the same clustering for the same seed.
 */

export interface MsuPool {
  /** n×dim, row-major, canonical order. */
  vectors: Float32Array;
  /** ‖m‖₂ of each vector (F64). */
  norms: Float64Array;
  n: number;
  dim: number;
  /** Units left out because a half or the coefficient was zero. */
  dropped: number;
}

/**
 * `into` (optional, at least Σr_i·(dIn+dOut) elements): where the vectors are written (a reused
 * work buffer; the result's `vectors` is then a view of it). Units are built in a work buffer and
 * moved into canonical order there, so no memory per unit is allocated.
 */
export function buildMsuPool(inputs: readonly ModuleFactors[], dIn: number, dOut: number, into?: Float32Array): MsuPool {
  const dim = dIn + dOut;
  const total = inputs.reduce((s, f) => s + f.r, 0);
  const work = takeScratch(total * dim);
  const workNorms: number[] = [];
  let dropped = 0;
  let n = 0;
  try {
    for (const f of inputs) {
      const c = f.weight * f.scale;
      const r = f.r;
      for (let j = 0; j < r; j++) {
        const a = f.A.subarray(j * dIn, (j + 1) * dIn);
        let na = 0;
        for (let d = 0; d < dIn; d++) na += a[d]! * a[d]!;
        let nb = 0;
        for (let o = 0; o < dOut; o++) nb += f.B[o * r + j]! ** 2;
        if (c === 0 || na === 0 || nb === 0) {
          dropped++;
          continue;
        }
        na = Math.sqrt(na);
        nb = Math.sqrt(nb);
        const fa = Math.sign(c) * Math.sqrt((Math.abs(c) * nb) / na);
        const fb = Math.sqrt((Math.abs(c) * na) / nb);
        const mo = n * dim;
        let arg = 0;
        let best = -1;
        for (let d = 0; d < dIn; d++) {
          const v = Math.fround(fa * a[d]!);
          work[mo + d] = v;
          if (Math.abs(v) > best) {
            best = Math.abs(v);
            arg = d;
          }
        }
        for (let o = 0; o < dOut; o++) work[mo + dIn + o] = fb * f.B[o * r + j]!;
        if (work[mo + arg]! < 0) for (let t = 0; t < dim; t++) work[mo + t] = -work[mo + t]!;
        let sq = 0;
        for (let t = 0; t < dim; t++) sq += work[mo + t]! * work[mo + t]!;
        // A value rounded to zero in F32 can still make a unit vanish.
        if (sq === 0) {
          dropped++;
          continue;
        }
        workNorms.push(Math.sqrt(sq));
        n++;
      }
    }
    const bits = new Uint32Array(work.buffer, work.byteOffset, n * dim);
    const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => {
      const nx = workNorms[x]!;
      const ny = workNorms[y]!;
      if (nx !== ny) return ny - nx;
      const xo = x * dim;
      const yo = y * dim;
      for (let t = 0; t < dim; t++) {
        const d = bits[xo + t]! - bits[yo + t]!;
        if (d !== 0) return d;
      }
      return 0;
    });
    const vectors = into === undefined ? new Float32Array(n * dim) : into.subarray(0, n * dim);
    const norms = new Float64Array(n);
    order.forEach((u, i) => {
      vectors.set(work.subarray(u * dim, (u + 1) * dim), i * dim);
      norms[i] = workNorms[u]!;
    });
    return { vectors, norms, n, dim, dropped };
  } finally {
    putScratch(work);
  }
}
