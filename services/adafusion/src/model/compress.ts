/**
 * Closed-form compress & align (spec step 1): PCA of each model's tile features to d, then an
 * orthogonal Procrustes rotation of each model's PCA space onto the anchor's, fitted on the same
 * tiles, folded into one affine map per model:
 *
 *   z = LN(x Wₘ + bₘ),  Wₘ = Pₘ Rₘ (dₘ × d),  bₘ = −μₘ Wₘ
 *
 * (Wₘ = Aₘᵀ in the spec's column notation, so one MatMul per model does all of it at inference.)
 * The LayerNorm has no affine parameters here (scale 1, shift 0), eps LN_EPS.
 */
import { invalidInput } from '@weightsmith/core';
import { matmul, type Seed } from '@weightsmith/tensor';
import { fitPca, type PcaResult } from './pca.js';
import { procrustesRotation } from './procrustes.js';

export const LN_EPS = 1e-5;

export interface AffineMap {
  /** dim × d, row-major ([in, out]). */
  weight: Float32Array;
  /** d */
  bias: Float32Array;
  dim: number;
  d: number;
}

export interface ClosedFormOptions {
  d: number;
  whiten: boolean;
  /** Index (into `samples`) of the model the others are rotated onto. */
  anchor: number;
  seed?: Seed;
}

export interface ClosedFormResult {
  maps: AffineMap[];
  pcas: PcaResult[];
  /** Rₘ (d × d) per model; identity for the anchor. */
  rotations: Float64Array[];
}

/** PCA projection matrix (dim × d, F64): components, divided by √variance when whitening. */
export function pcaProjection(pca: PcaResult, whiten: boolean): Float64Array {
  const p = Float64Array.from(pca.components);
  if (!whiten) return p;
  const floor = 1e-6 * Math.max(pca.variances[0] ?? 0, 1e-30);
  for (let j = 0; j < pca.d; j++) {
    const s = 1 / Math.sqrt(Math.max(pca.variances[j]!, 0) + floor);
    for (let i = 0; i < pca.dim; i++) p[i * pca.d + j] = p[i * pca.d + j]! * s;
  }
  return p;
}

/** (x − mean) P for every row, in F32 through MLAS. */
async function project(x: Float32Array, n: number, dim: number, mean: Float64Array, p: Float64Array, d: number): Promise<Float32Array> {
  const centred = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) centred[i * dim + j] = x[i * dim + j]! - mean[j]!;
  return matmul(centred, Float32Array.from(p), n, dim, d);
}

/** Folds W = P R and b = −μ W (in F64, rounded once to F32). */
export function foldAffine(mean: Float64Array, p: Float64Array, r: Float64Array, dim: number, d: number): AffineMap {
  const w = new Float64Array(dim * d);
  for (let i = 0; i < dim; i++) {
    for (let k = 0; k < d; k++) {
      const pik = p[i * d + k]!;
      if (pik === 0) continue;
      for (let j = 0; j < d; j++) w[i * d + j] = w[i * d + j]! + pik * r[k * d + j]!;
    }
  }
  const b = new Float64Array(d);
  for (let i = 0; i < dim; i++) for (let j = 0; j < d; j++) b[j] = b[j]! - mean[i]! * w[i * d + j]!;
  return { weight: Float32Array.from(w), bias: Float32Array.from(b), dim, d };
}

/**
 * Fits the folded map of every model on paired samples: `samples[m]` is n × dims[m], row i the
 * same tile for every model.
 */
export async function fitClosedForm(samples: Float32Array[], n: number, dims: number[], opts: ClosedFormOptions): Promise<ClosedFormResult> {
  const { d, whiten, anchor } = opts;
  if (anchor < 0 || anchor >= samples.length) throw invalidInput('anchor', `anchor index ${anchor} is not one of the ${samples.length} models`);
  if (n < d + 1) throw invalidInput('pcaSampleTiles', `PCA to d = ${d} needs more than ${d} sample tiles, got ${n}`);
  const pcas: PcaResult[] = [];
  const projections: Float64Array[] = [];
  const codes: Float32Array[] = [];
  for (let m = 0; m < samples.length; m++) {
    const dim = dims[m]!;
    if (d > dim) throw invalidInput('d', `d = ${d} exceeds the feature dim of model ${m} (${dim}); choose d ≤ ${dim}`);
    const pca = await fitPca(samples[m]!, n, dim, d, { seed: `${String(opts.seed ?? 0)}/pca/${m}` });
    const p = pcaProjection(pca, whiten);
    pcas.push(pca);
    projections.push(p);
    codes.push(await project(samples[m]!, n, dim, pca.mean, p, d));
  }
  const rotations: Float64Array[] = [];
  const maps: AffineMap[] = [];
  for (let m = 0; m < samples.length; m++) {
    const r = m === anchor ? identity(d) : await procrustesRotation(codes[m]!, codes[anchor]!, n, d);
    rotations.push(r);
    maps.push(foldAffine(pcas[m]!.mean, projections[m]!, r, dims[m]!, d));
  }
  return { maps, pcas, rotations };
}

function identity(d: number): Float64Array {
  const r = new Float64Array(d * d);
  for (let i = 0; i < d; i++) r[i * d + i] = 1;
  return r;
}

/** LayerNorm of each row in place (F64 statistics; biased variance, eps inside the root, as ONNX). */
export function layerNormRowsInPlace(y: Float32Array, n: number, d: number, eps = LN_EPS): void {
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += y[o + j]!;
    mean /= d;
    let v = 0;
    for (let j = 0; j < d; j++) {
      const c = y[o + j]! - mean;
      v += c * c;
    }
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let j = 0; j < d; j++) y[o + j] = (y[o + j]! - mean) * inv;
  }
}

/** z = LN(x W + b) for n rows (F32, through MLAS). */
export async function compressRows(x: Float32Array, n: number, map: AffineMap): Promise<Float32Array> {
  const y = await matmul(x, map.weight, n, map.dim, map.d);
  for (let i = 0; i < n; i++) for (let j = 0; j < map.d; j++) y[i * map.d + j] = y[i * map.d + j]! + map.bias[j]!;
  layerNormRowsInPlace(y, n, map.d);
  return y;
}

