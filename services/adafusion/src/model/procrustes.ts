/**
 * Orthogonal Procrustes (Schönemann 1966): the rotation R (d × d, orthogonal) minimising
 * ‖Z_m R − Z_a‖_F for paired rows (the same tiles seen by two models), R = U Vᵀ from the SVD
 * Z_mᵀ Z_a = U S Vᵀ. Row-vector convention: a tile's aligned code is z R.
 */
import { matmul, svd } from '@weightsmith/tensor';
import { transposeF32 } from './pca.js';

export async function procrustesRotation(zm: Float32Array, za: Float32Array, n: number, d: number): Promise<Float64Array> {
  const cross = await matmul(transposeF32(zm, n, d), za, d, n, d);
  const { u, v } = svd(cross, d, d);
  const r = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += u[i * d + k]! * v[j * d + k]!;
      r[i * d + j] = s;
    }
  }
  return r;
}
