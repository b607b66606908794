import { matmul, matmulTransB, Rng } from '@weightsmith/tensor';
import { gramRange, orthonormalRows, rowGram } from './small-linalg.js';

/*
 * Randomized truncated SVD of a dense M (dOut×dIn) after Halko, Martinsson & Tropp (2011),
 * Algorithm 4.4 (randomized subspace iteration): Y = M·Ω with Gaussian Ω (dIn×l, l = k +
 * oversample) from the seeded Rng, `power` rounds of Mᵀ/M products with re-orthonormalisation,
 * Q = orth(Y), then the SVD of the small l×dIn matrix Qᵀ·M. Every product with M goes through the
 * fast matmul; the work is kept transposed (bases as rows) so no transpose of M is needed.
 * Orthonormalisation and the small SVD use Gram matrices (see small-linalg), adequate for the
 * leading k directions that are kept.
 *
 * Result: B = Q·U_k·√S_k (dOut×k), A = √S_k·V_kᵀ (k×dIn), zero-padded when M has fewer than k
 * non-negligible directions. When l reaches min(dOut, dIn) the range is captured exactly.
 */
export async function randomizedTruncatedSvd(
  m: Float32Array,
  dOut: number,
  dIn: number,
  k: number,
  rng: Rng,
  oversample: number,
  power: number,
): Promise<{ A: Float32Array; B: Float32Array }> {
  const A = new Float32Array(k * dIn);
  const B = new Float32Array(dOut * k);
  const l = Math.min(k + oversample, dOut, dIn);
  const omegaT = rng.normalArray(l * dIn);
  // Qᵀ rows span the range of M (as rows of length dOut).
  let { q: qT, rows: p } = await orthonormalRows(await matmulTransB(omegaT, m, l, dIn, dOut), l, dOut);
  for (let it = 0; it < power && p > 0; it++) {
    const w = await orthonormalRows(await matmul(qT, m, p, dOut, dIn), p, dIn);
    if (w.rows === 0) {
      p = 0;
      break;
    }
    ({ q: qT, rows: p } = await orthonormalRows(await matmulTransB(w.q, m, w.rows, dIn, dOut), w.rows, dOut));
  }
  if (p === 0) return { A, B };
  const small = await matmul(qT, m, p, dOut, dIn); // Qᵀ·M, p×dIn
  const range = gramRange(await rowGram(small, p, dIn), p); // small·smallᵀ = U·S²·Uᵀ
  const kk = Math.min(k, range.p);
  // A = S^{-1/2}·U_kᵀ·small (= √S·V_kᵀ) and Bᵀ = S^{1/2}·U_kᵀ·Qᵀ.
  const ta = new Float32Array(kk * p);
  const tb = new Float32Array(kk * p);
  for (let c = 0; c < kk; c++) {
    const sigma = Math.sqrt(range.values[c]!);
    for (let j = 0; j < p; j++) {
      const u = range.vectors[j * range.p + c]!;
      ta[c * p + j] = u / Math.sqrt(sigma);
      tb[c * p + j] = u * Math.sqrt(sigma);
    }
  }
  if (kk > 0) {
    A.set(await matmul(ta, small, kk, p, dIn));
    const bT = await matmul(tb, qT, kk, p, dOut);
    for (let o = 0; o < dOut; o++) for (let c = 0; c < kk; c++) B[o * k + c] = bT[c * dOut + o]!;
  }
  return { A, B };
}
