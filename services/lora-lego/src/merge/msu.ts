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

export function buildMsuPool(inputs: readonly ModuleFactors[], dIn: number, dOut: number): MsuPool {
  const dim = dIn + dOut;
  const units: Float32Array[] = [];
  let dropped = 0;
  for (const f of inputs) {
    const c = f.weight * f.scale;
    for (let j = 0; j < f.r; j++) {
      const a = f.A.subarray(j * dIn, (j + 1) * dIn);
      let na = 0;
      for (let d = 0; d < dIn; d++) na += a[d]! * a[d]!;
      let nb = 0;
      for (let o = 0; o < dOut; o++) nb += f.B[o * f.r + j]! ** 2;
      if (c === 0 || na === 0 || nb === 0) {
        dropped++;
        continue;
      }
      na = Math.sqrt(na);
      nb = Math.sqrt(nb);
      const fa = Math.sign(c) * Math.sqrt((Math.abs(c) * nb) / na);
      const fb = Math.sqrt((Math.abs(c) * na) / nb);
      const m = new Float32Array(dim);
      for (let d = 0; d < dIn; d++) m[d] = fa * a[d]!;
      for (let o = 0; o < dOut; o++) m[dIn + o] = fb * f.B[o * f.r + j]!;
      let arg = 0;
      for (let d = 1; d < dIn; d++) if (Math.abs(m[d]!) > Math.abs(m[arg]!)) arg = d;
      if (m[arg]! < 0) for (let t = 0; t < dim; t++) m[t] = -m[t]!;
      // A value rounded to zero in F32 can still make a unit vanish.
      if (m.every((v) => v === 0)) {
        dropped++;
        continue;
      }
      units.push(m);
    }
  }
  const keyed = units.map((m) => {
    let s = 0;
    for (let t = 0; t < dim; t++) s += m[t]! * m[t]!;
    return { m, norm: Math.sqrt(s), bits: new Uint32Array(m.buffer, m.byteOffset, dim) };
  });
  keyed.sort((x, y) => {
    if (x.norm !== y.norm) return y.norm - x.norm;
    for (let t = 0; t < dim; t++) {
      const d = x.bits[t]! - y.bits[t]!;
      if (d !== 0) return d;
    }
    return 0;
  });
  const n = keyed.length;
  const vectors = new Float32Array(n * dim);
  const norms = new Float64Array(n);
  keyed.forEach((u, i) => {
    vectors.set(u.m, i * dim);
    norms[i] = u.norm;
  });
  return { vectors, norms, n, dim, dropped };
}
