import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { hungarianMin } from './hungarian.js';

/**
 * Hidden-unit alignment of expert heads `Linear(f→h) – GELU – Linear(h→e)` before averaging
 * (the optional `align` of T2W fusions). Hidden units of separately trained heads are in
 * arbitrary order; permuting them — fc1 rows, fc1 bias entries and fc2 columns together — leaves
 * the function unchanged, so each expert is permuted to best match a reference expert and the
 * aligned experts are then averaged (as in weight-matching model merging, Ainsworth et al. 2023).
 *
 * Layout (PyTorch state-dict order): fc1.weight [h, f], fc1.bias [h], fc2.weight [e, h],
 * fc2.bias [e], all row-major F32. A hidden unit's signature is the concatenation
 * [fc1.weight row (f), fc1.bias (1), fc2.weight column (e)].
 */
export interface HeadDims {
  /** f: input features. */
  inFeatures: number;
  /** h: hidden units. */
  hidden: number;
  /** e: output features. */
  outFeatures: number;
}

export interface MlpHead {
  fc1Weight: Float32Array;
  fc1Bias: Float32Array;
  fc2Weight: Float32Array;
  fc2Bias: Float32Array;
}

/** How unlike two hidden units are: squared Euclidean distance of their signatures, or −Pearson correlation. */
export type UnitCost = 'squared-distance' | 'correlation';

export function checkHead(head: MlpHead, dims: HeadDims, field = 'head'): void {
  const { inFeatures: f, hidden: h, outFeatures: e } = dims;
  for (const [name, v] of [['inFeatures', f], ['hidden', h], ['outFeatures', e]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw invalidInput(`dims.${name}`, `dims.${name} must be a positive integer, got ${String(v)}`);
  }
  const expect: Array<[keyof MlpHead, string, number]> = [
    ['fc1Weight', 'fc1.weight', h * f],
    ['fc1Bias', 'fc1.bias', h],
    ['fc2Weight', 'fc2.weight', e * h],
    ['fc2Bias', 'fc2.bias', e],
  ];
  for (const [key, tensor, len] of expect) {
    const a = head[key];
    if (!(a instanceof Float32Array) || a.length !== len) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `${field} ${tensor} must hold ${len} F32 values, got ${a instanceof Float32Array ? a.length : typeof a}`, { field: `${field}.${tensor}` });
    }
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!)) {
        throw new WeightsmithError(ErrorCode.NonFinite, `${field} ${tensor}[${i}] is ${a[i]}`, { field: `${field}.${tensor}` });
      }
    }
  }
}

/** [h, f + 1 + e] row-major: one signature row per hidden unit. */
export function hiddenUnitSignatures(head: MlpHead, dims: HeadDims): Float64Array {
  const { inFeatures: f, hidden: h, outFeatures: e } = dims;
  const d = f + 1 + e;
  const out = new Float64Array(h * d);
  for (let u = 0; u < h; u++) {
    const row = u * d;
    for (let k = 0; k < f; k++) out[row + k] = head.fc1Weight[u * f + k]!;
    out[row + f] = head.fc1Bias[u]!;
    for (let o = 0; o < e; o++) out[row + f + 1 + o] = head.fc2Weight[o * h + u]!;
  }
  return out;
}

function centred(sig: Float64Array, rows: number, d: number): { c: Float64Array; norms: Float64Array } {
  const c = new Float64Array(sig.length);
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let k = 0; k < d; k++) mean += sig[r * d + k]!;
    mean /= d;
    let n2 = 0;
    for (let k = 0; k < d; k++) {
      const x = sig[r * d + k]! - mean;
      c[r * d + k] = x;
      n2 += x * x;
    }
    norms[r] = Math.sqrt(n2);
  }
  return { c, norms };
}

/** cost[i][j] of matching the reference's unit i with the other head's unit j, row-major h×h. */
export function unitCostMatrix(reference: MlpHead, other: MlpHead, dims: HeadDims, cost: UnitCost = 'squared-distance'): Float64Array {
  const h = dims.hidden;
  const d = dims.inFeatures + 1 + dims.outFeatures;
  const a = hiddenUnitSignatures(reference, dims);
  const b = hiddenUnitSignatures(other, dims);
  const out = new Float64Array(h * h);
  if (cost === 'squared-distance') {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < h; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) {
          const diff = a[i * d + k]! - b[j * d + k]!;
          s += diff * diff;
        }
        out[i * h + j] = s;
      }
    }
    return out;
  }
  if (cost !== 'correlation') throw invalidInput('cost', `cost must be 'squared-distance' or 'correlation', got ${String(cost)}`);
  const ca = centred(a, h, d);
  const cb = centred(b, h, d);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < h; j++) {
      const denom = ca.norms[i]! * cb.norms[j]!;
      let dot = 0;
      for (let k = 0; k < d; k++) dot += ca.c[i * d + k]! * cb.c[j * d + k]!;
      // A constant signature has no correlation with anything; count it as 0.
      out[i * h + j] = denom === 0 ? 0 : -dot / denom;
    }
  }
  return out;
}

/**
 * The permutation that aligns `other` to `reference`: perm[i] = the unit of `other` that becomes
 * unit i (apply it with `permuteHiddenUnits(other, dims, perm)`).
 */
export function matchHiddenUnits(reference: MlpHead, other: MlpHead, dims: HeadDims, cost: UnitCost = 'squared-distance'): Int32Array {
  checkHead(reference, dims, 'reference');
  checkHead(other, dims, 'other');
  return hungarianMin(unitCostMatrix(reference, other, dims, cost), dims.hidden).rowToCol;
}

/** A new head whose hidden unit i is `head`'s unit perm[i] (fc1 rows, fc1 bias, fc2 columns). */
export function permuteHiddenUnits(head: MlpHead, dims: HeadDims, perm: Int32Array): MlpHead {
  const { inFeatures: f, hidden: h, outFeatures: e } = dims;
  checkHead(head, dims);
  if (!(perm instanceof Int32Array) || perm.length !== h) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `perm must be an Int32Array of ${h} indices, got length ${perm?.length}`, { field: 'perm' });
  }
  const seen = new Uint8Array(h);
  for (const p of perm) {
    if (p < 0 || p >= h || seen[p]) throw invalidInput('perm', `perm must be a permutation of 0..${h - 1}`);
    seen[p] = 1;
  }
  const fc1Weight = new Float32Array(h * f);
  const fc1Bias = new Float32Array(h);
  const fc2Weight = new Float32Array(e * h);
  for (let i = 0; i < h; i++) {
    const src = perm[i]!;
    fc1Weight.set(head.fc1Weight.subarray(src * f, (src + 1) * f), i * f);
    fc1Bias[i] = head.fc1Bias[src]!;
    for (let o = 0; o < e; o++) fc2Weight[o * h + i] = head.fc2Weight[o * h + src]!;
  }
  return { fc1Weight, fc1Bias, fc2Weight, fc2Bias: head.fc2Bias.slice() };
}

/** Element-wise mean of heads (float64 accumulation in list order, rounded to F32). */
export function averageHeads(heads: readonly MlpHead[], dims: HeadDims): MlpHead {
  if (heads.length === 0) throw invalidInput('experts', 'at least one expert is needed to average');
  heads.forEach((hd, k) => checkHead(hd, dims, `experts.${k}`));
  const avg = (key: keyof MlpHead): Float32Array => {
    const n = heads[0]![key].length;
    const acc = new Float64Array(n);
    for (const hd of heads) {
      const a = hd[key];
      for (let i = 0; i < n; i++) acc[i] = acc[i]! + a[i]!;
    }
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = acc[i]! / heads.length;
    return out;
  };
  return { fc1Weight: avg('fc1Weight'), fc1Bias: avg('fc1Bias'), fc2Weight: avg('fc2Weight'), fc2Bias: avg('fc2Bias') };
}

export interface AlignOptions {
  /** Index of the expert the others are aligned to (default 0). */
  reference?: number;
  cost?: UnitCost;
}

export interface AlignedAverage {
  average: MlpHead;
  /** The experts after alignment, in input order (the reference unchanged). */
  aligned: MlpHead[];
  /** permutations[k] was applied to expert k (identity for the reference). */
  permutations: Int32Array[];
}

/** Aligns every expert's hidden units to the reference expert, then averages. */
export function alignAndAverage(experts: readonly MlpHead[], dims: HeadDims, options: AlignOptions = {}): AlignedAverage {
  if (experts.length === 0) throw invalidInput('experts', 'at least one expert is needed');
  const ref = options.reference ?? 0;
  if (!Number.isSafeInteger(ref) || ref < 0 || ref >= experts.length) {
    throw invalidInput('reference', `reference must be an expert index in 0..${experts.length - 1}, got ${String(ref)}`);
  }
  experts.forEach((hd, k) => checkHead(hd, dims, `experts.${k}`));
  const reference = experts[ref]!;
  const permutations: Int32Array[] = [];
  const aligned = experts.map((hd, k) => {
    if (k === ref) {
      permutations.push(Int32Array.from({ length: dims.hidden }, (_, i) => i));
      return hd;
    }
    const perm = hungarianMin(unitCostMatrix(reference, hd, dims, options.cost ?? 'squared-distance'), dims.hidden).rowToCol;
    permutations.push(perm);
    return permuteHiddenUnits(hd, dims, perm);
  });
  return { average: averageHeads(aligned, dims), aligned, permutations };
}
