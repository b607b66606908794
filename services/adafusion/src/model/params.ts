/**
 * The parameters of a fitted fusion model: named F32 tensors, row-major. Linear maps are stored
 * as [in, out] (applied as `x @ weight + bias`); the compression map of model m is therefore
 * Aₘᵀ in the spec's notation (`compress.<m>.weight` [dₘ, d], `compress.<m>.bias` cₘ [d]).
 *
 * Names (m = model index in the cohort's order, only for the models the mode uses):
 *   compress.<m>.weight / .bias                   folded PCA → Procrustes map (or learned)
 *   compress.<m>.ln_scale / .ln_bias              LayerNorm affine (learned compression only)
 *   context.prompts [P, d]                        effective phenotype prompts
 *   context.text_embeddings [P, E]                text mode: the encoder's unit-normalised embeddings
 *   context.prompt_proj.weight [E, d] / .bias [d] text mode: the trained projection
 *   context.q.weight [d, d] / context.q.bias [d]  q(z̄)
 *   gate.wq [d, d] / gate.wk [d, d]               adafusion only: s = ⟨c Wq, (z + βₘ) Wk⟩ / √d + bₘ
 *   gate.key_offset [M, d]                        βₘ: a learned per-model offset of the key input (see fit.ts)
 *   gate.bias [M] (per model) or [M, d] (per channel)
 *   head.attn.v.weight [F, H] / .bias [H], head.attn.u.weight [F, H] / .bias [H], head.attn.w [H]
 *   head.classifier.weight [F, C] / .bias [C]     classification
 *   head.regressor.weight [F, G] / .bias [G]      regression (already in target units)
 * F is the fused width: d, or M·d for concat.
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';

export interface ParamTensor {
  shape: number[];
  data: Float32Array;
}

export type ParamMap = Record<string, ParamTensor>;

export const paramNames = {
  compressWeight: (m: number) => `compress.${m}.weight`,
  compressBias: (m: number) => `compress.${m}.bias`,
  lnScale: (m: number) => `compress.${m}.ln_scale`,
  lnBias: (m: number) => `compress.${m}.ln_bias`,
  prompts: 'context.prompts',
  textEmbeddings: 'context.text_embeddings',
  promptProjWeight: 'context.prompt_proj.weight',
  promptProjBias: 'context.prompt_proj.bias',
  qWeight: 'context.q.weight',
  qBias: 'context.q.bias',
  gateWq: 'gate.wq',
  gateWk: 'gate.wk',
  gateBias: 'gate.bias',
  gateKeyOffset: 'gate.key_offset',
  attnV: 'head.attn.v.weight',
  attnVBias: 'head.attn.v.bias',
  attnU: 'head.attn.u.weight',
  attnUBias: 'head.attn.u.bias',
  attnW: 'head.attn.w',
  classifierWeight: 'head.classifier.weight',
  classifierBias: 'head.classifier.bias',
  regressorWeight: 'head.regressor.weight',
  regressorBias: 'head.regressor.bias',
} as const;

/** The named tensor; `invalid_format` naming it when it is missing or has another shape. */
export function getParam(params: ParamMap, name: string, shape?: readonly number[]): ParamTensor {
  const p = params[name];
  if (p === undefined) throw new WeightsmithError(ErrorCode.InvalidFormat, `the model has no parameter '${name}'`, { field: name });
  const expected = p.shape.reduce((a, b) => a * b, 1);
  if (p.data.length !== expected) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `parameter '${name}' has ${p.data.length} values but shape [${p.shape.join(', ')}]`, { field: name });
  }
  if (shape !== undefined && (shape.length !== p.shape.length || shape.some((s, i) => s !== p.shape[i]))) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `parameter '${name}' has shape [${p.shape.join(', ')}], expected [${shape.join(', ')}]`,
      { field: name },
    );
  }
  return p;
}

export function hasParam(params: ParamMap, name: string): boolean {
  return Object.hasOwn(params, name);
}

export function param(shape: number[], data: Float32Array): ParamTensor {
  return { shape, data };
}
