/**
 * A plain float64 forward pass for one slide, written literally from the spec (steps 1–4) with
 * no algebraic shortcuts: the independent reference the tfjs graph and the ONNX export are
 * checked against, and the "plain TS" baseline of the benchmark. Loops over tiles; not fast.
 */
import { invalidInput } from '@weightsmith/core';
import type { AlignedSlide } from '../types.js';
import { LN_EPS } from './compress.js';
import { getParam, hasParam, paramNames as N, type ParamMap } from './params.js';
import type { FittedFusionModel } from './types.js';

export interface ReferenceOutputs {
  /** n × F (F = d, or M·d for concat). */
  fused: Float64Array;
  fusedWidth: number;
  /** n × M over every cohort model (fixed weights for the baselines). */
  alpha: Float64Array;
  /** n × M × d (per-channel gate only). */
  alphaChannels?: Float64Array;
  /** n × P */
  contextWeights: Float64Array;
  /** n (classification) */
  attention?: Float64Array;
  /** C (classification) */
  logits?: Float64Array;
  /** n × G (regression) */
  prediction?: Float64Array;
}

export type ForwardModel = Pick<FittedFusionModel, 'params' | 'usedModels' | 'models' | 'config' | 'task'>;

/** y = x W + b for one row (x length `in`, W in × out). */
function affine(x: ArrayLike<number>, xOff: number, w: Float32Array, b: Float32Array | undefined, inDim: number, outDim: number): Float64Array {
  const y = new Float64Array(outDim);
  for (let i = 0; i < inDim; i++) {
    const xi = x[xOff + i]!;
    if (xi === 0) continue;
    const o = i * outDim;
    for (let j = 0; j < outDim; j++) y[j] = y[j]! + xi * w[o + j]!;
  }
  if (b) for (let j = 0; j < outDim; j++) y[j] = y[j]! + b[j]!;
  return y;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[i]! * b[i]!;
  return s;
}

function softmaxInPlace(v: Float64Array, off = 0, n = v.length): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, v[off + i]!);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(v[off + i]! - max);
    v[off + i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) v[off + i] = v[off + i]! / sum;
}

function layerNorm(y: Float64Array): void {
  const d = y.length;
  let mean = 0;
  for (let j = 0; j < d; j++) mean += y[j]!;
  mean /= d;
  let v = 0;
  for (let j = 0; j < d; j++) v += (y[j]! - mean) ** 2;
  const inv = 1 / Math.sqrt(v / d + LN_EPS);
  for (let j = 0; j < d; j++) y[j] = (y[j]! - mean) * inv;
}

/** Rows of a [rows, cols] parameter as separate F64 vectors. */
function rowsOf(t: { data: Float32Array }, rows: number, cols: number): Float64Array[] {
  return Array.from({ length: rows }, (_, r) => Float64Array.from(t.data.subarray(r * cols, (r + 1) * cols)));
}

/** The effective phenotype prompts P × d. */
export function referencePrompts(params: ParamMap): { prompts: Float64Array[]; count: number; d: number } {
  const p = getParam(params, N.prompts);
  const [count, d] = p.shape as [number, number];
  return { prompts: rowsOf(p, count, d), count, d };
}

export function referenceForward(model: ForwardModel, slide: AlignedSlide): ReferenceOutputs {
  const { params, usedModels: used, models, config, task } = model;
  const M = models.length;
  const n = slide.n;
  if (slide.features.length !== M) throw invalidInput('features', `slide '${slide.id}' has ${slide.features.length} models, the model expects ${M}`);
  const d = config.d;
  const Mu = used.length;
  const learnedLn = hasParam(params, N.lnScale(used[0]!));

  // 1. compress & align: z = LN(x W + b) per used model.
  const z: Float64Array[][] = used.map((m) => {
    const dim = models[m]!.dim;
    const w = getParam(params, N.compressWeight(m), [dim, d]).data;
    const b = getParam(params, N.compressBias(m), [d]).data;
    const scale = learnedLn ? getParam(params, N.lnScale(m), [d]).data : undefined;
    const shift = learnedLn ? getParam(params, N.lnBias(m), [d]).data : undefined;
    const x = slide.features[m]!;
    if (x.length !== n * dim) throw invalidInput(`features.${m}`, `slide '${slide.id}' model ${models[m]!.name}: expected ${n}×${dim} values, got ${x.length}`);
    return Array.from({ length: n }, (_, t) => {
      const y = affine(x, t * dim, w, b, dim, d);
      layerNorm(y);
      if (scale && shift) for (let j = 0; j < d; j++) y[j] = y[j]! * scale[j]! + shift[j]!;
      return y;
    });
  });

  // 2. phenotype context c_t = Σ_k softmax_k(⟨q(z̄_t), p_k⟩ / τ) p_k.
  const { prompts, count: P } = referencePrompts(params);
  const qw = getParam(params, N.qWeight, [d, d]).data;
  const qb = getParam(params, N.qBias, [d]).data;
  const contextWeights = new Float64Array(n * P);
  const contexts: Float64Array[] = [];
  for (let t = 0; t < n; t++) {
    const zbar = new Float64Array(d);
    for (let i = 0; i < Mu; i++) for (let j = 0; j < d; j++) zbar[j] = zbar[j]! + z[i]![t]![j]! / Mu;
    const q = affine(zbar, 0, qw, qb, d, d);
    for (let k = 0; k < P; k++) contextWeights[t * P + k] = dot(q, prompts[k]!, d) / config.tau;
    softmaxInPlace(contextWeights, t * P, P);
    const c = new Float64Array(d);
    for (let k = 0; k < P; k++) for (let j = 0; j < d; j++) c[j] = c[j]! + contextWeights[t * P + k]! * prompts[k]![j]!;
    contexts.push(c);
  }

  // 3. gate and fusion.
  const F = config.mode === 'concat' ? Mu * d : d;
  const fused = new Float64Array(n * F);
  const alpha = new Float64Array(n * M);
  let alphaChannels: Float64Array | undefined;
  if (config.mode === 'adafusion') {
    const wq = getParam(params, N.gateWq, [d, d]).data;
    const wk = getParam(params, N.gateWk, [d, d]).data;
    const offset = getParam(params, N.gateKeyOffset, [Mu, d]).data;
    const keyInput = (i: number, t: number): Float64Array => Float64Array.from(z[i]![t]!, (v, j) => v + offset[i * d + j]!);
    if (config.gate === 'model') {
      const bias = getParam(params, N.gateBias, [Mu]).data;
      for (let t = 0; t < n; t++) {
        const query = affine(contexts[t]!, 0, wq, undefined, d, d);
        const s = new Float64Array(Mu);
        for (let i = 0; i < Mu; i++) s[i] = dot(query, affine(keyInput(i, t), 0, wk, undefined, d, d), d) / Math.sqrt(d) + bias[i]!;
        softmaxInPlace(s);
        for (let i = 0; i < Mu; i++) {
          alpha[t * M + used[i]!] = s[i]!;
          for (let j = 0; j < d; j++) fused[t * F + j] = fused[t * F + j]! + s[i]! * z[i]![t]![j]!;
        }
      }
    } else {
      // Per channel j of z: the j-th term of ⟨c Wq, z Wk⟩ = Σ_j z_j · (Wk (c Wq)ᵀ)_j, plus a bias per (model, channel).
      const bias = getParam(params, N.gateBias, [Mu, d]).data;
      alphaChannels = new Float64Array(n * M * d);
      for (let t = 0; t < n; t++) {
        const query = affine(contexts[t]!, 0, wq, undefined, d, d);
        const g = new Float64Array(d);
        for (let j = 0; j < d; j++) g[j] = dot(query, wk.subarray(j * d, (j + 1) * d), d);
        for (let j = 0; j < d; j++) {
          const s = new Float64Array(Mu);
          for (let i = 0; i < Mu; i++) s[i] = (z[i]![t]![j]! + offset[i * d + j]!) * g[j]! + bias[i * d + j]!;
          softmaxInPlace(s);
          for (let i = 0; i < Mu; i++) {
            alphaChannels[(t * M + used[i]!) * d + j] = s[i]!;
            alpha[t * M + used[i]!] = alpha[t * M + used[i]!]! + s[i]! / d;
            fused[t * F + j] = fused[t * F + j]! + s[i]! * z[i]![t]![j]!;
          }
        }
      }
    }
  } else {
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < Mu; i++) {
        alpha[t * M + used[i]!] = 1 / Mu;
        for (let j = 0; j < d; j++) {
          if (config.mode === 'concat') fused[t * F + i * d + j] = z[i]![t]![j]!;
          else fused[t * F + j] = fused[t * F + j]! + z[i]![t]![j]! / Mu;
        }
      }
    }
  }

  const out: ReferenceOutputs = { fused, fusedWidth: F, alpha, contextWeights };
  if (alphaChannels) out.alphaChannels = alphaChannels;

  // 4. heads.
  if (task === 'classification') {
    const H = getParam(params, N.attnW).shape[0]!;
    const v = getParam(params, N.attnV, [F, H]).data;
    const vb = getParam(params, N.attnVBias, [H]).data;
    const u = getParam(params, N.attnU, [F, H]).data;
    const ub = getParam(params, N.attnUBias, [H]).data;
    const w = getParam(params, N.attnW, [H]).data;
    const attention = new Float64Array(n);
    for (let t = 0; t < n; t++) {
      const hv = affine(fused, t * F, v, vb, F, H);
      const hu = affine(fused, t * F, u, ub, F, H);
      let s = 0;
      for (let h = 0; h < H; h++) s += w[h]! * Math.tanh(hv[h]!) * (1 / (1 + Math.exp(-hu[h]!)));
      attention[t] = s;
    }
    softmaxInPlace(attention);
    const pooled = new Float64Array(F);
    for (let t = 0; t < n; t++) for (let j = 0; j < F; j++) pooled[j] = pooled[j]! + attention[t]! * fused[t * F + j]!;
    const C = getParam(params, N.classifierBias).shape[0]!;
    out.attention = attention;
    out.logits = affine(pooled, 0, getParam(params, N.classifierWeight, [F, C]).data, getParam(params, N.classifierBias, [C]).data, F, C);
  } else {
    const G = getParam(params, N.regressorBias).shape[0]!;
    const w = getParam(params, N.regressorWeight, [F, G]).data;
    const b = getParam(params, N.regressorBias, [G]).data;
    const prediction = new Float64Array(n * G);
    for (let t = 0; t < n; t++) prediction.set(affine(fused, t * F, w, b, F, G), t * G);
    out.prediction = prediction;
  }
  return out;
}
