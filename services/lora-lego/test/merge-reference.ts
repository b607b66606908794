/*
 * Independent float64 references for the merge tests: dense products written out as plain
 * loops, never through the code under test.
 */
import { Rng } from '@weightsmith/tensor';
import type { MergedModule, ModuleFactors } from '../src/merge/index.js';

export function randomAdapter(rng: Rng, r: number, dIn: number, dOut: number, scale = 1, weight = 1): ModuleFactors {
  return { A: rng.normalArray(r * dIn), B: rng.normalArray(dOut * r), r, scale, weight };
}

/** c·B·A (dOut×dIn) in F64. */
export function denseProduct(B: ArrayLike<number>, A: ArrayLike<number>, r: number, dIn: number, dOut: number, c = 1): Float64Array {
  const out = new Float64Array(dOut * dIn);
  for (let o = 0; o < dOut; o++) for (let j = 0; j < r; j++) {
    const b = c * B[o * r + j]!;
    for (let d = 0; d < dIn; d++) out[o * dIn + d] = out[o * dIn + d]! + b * A[j * dIn + d]!;
  }
  return out;
}

/** Σ_i w_i·s_i·B_i·A_i. */
export function denseSum(inputs: readonly ModuleFactors[], dIn: number, dOut: number): Float64Array {
  const out = new Float64Array(dOut * dIn);
  for (const f of inputs) {
    const d = denseProduct(f.B, f.A, f.r, dIn, dOut, f.weight * f.scale);
    for (let t = 0; t < out.length; t++) out[t] = out[t]! + d[t]!;
  }
  return out;
}

export function mergedDense(m: MergedModule, dIn: number, dOut: number): Float64Array {
  return denseProduct(m.B, m.A, m.k, dIn, dOut);
}

export function frob(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

export function relErr(x: ArrayLike<number>, ref: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < ref.length; i++) s += (x[i]! - ref[i]!) ** 2;
  return Math.sqrt(s) / frob(ref);
}

/** The same adapter with its ranks permuted (row j of A and column j of B move together). */
export function permuteRanks(f: ModuleFactors, perm: number[], dIn: number, dOut: number): ModuleFactors {
  const A = new Float32Array(f.A.length);
  const B = new Float32Array(f.B.length);
  perm.forEach((src, dst) => {
    A.set(f.A.subarray(src * dIn, (src + 1) * dIn), dst * dIn);
    for (let o = 0; o < dOut; o++) B[o * f.r + dst] = f.B[o * f.r + src]!;
  });
  return { ...f, A, B };
}

export function bytesOf(x: Float32Array): Buffer {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}
