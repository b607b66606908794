/**
 * Exports a fitted fusion model to ONNX for onnxruntime inference.
 *
 * Inputs  x0 … x{M-1}: [N, dₘ] float32, one per cohort model (names in metadata_props).
 * Outputs fused [N, F] (F = d, or M·d for concat), alpha [N, M], alpha_channels [N, M, d]
 *         (per-channel gate), context_weights [N, P]; classification: attention [N], logits [C];
 *         regression: prediction [N, G].
 *
 * Made for throughput: one MatMul per model with the folded compression map, and everything
 * that only depends on the P prompts folded into constants at export time (in float64):
 *   context logits = z̄ (W_q Pᵀ / τ) + b_q Pᵀ / τ,   gate query g = w (P W_q W_kᵀ) [/ √d],
 * so no per-tile d × d product remains outside the compression and the ABMIL head.
 */
import { GraphBuilder } from '@weightsmith/onnx';
import { getParam, hasParam, paramNames as N } from './params.js';
import { LN_EPS } from './compress.js';
import type { FittedFusionModel } from './types.js';

export const ONNX_METADATA_KEY = 'weightsmith.adafusion';

/** Row-major product of F32/F64 matrices in F64: a (r × k) · b (k × c). */
function mm64(a: ArrayLike<number>, b: ArrayLike<number>, r: number, k: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) {
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p]!;
      if (aip === 0) continue;
      for (let j = 0; j < c; j++) out[i * c + j] = out[i * c + j]! + aip * b[p * c + j]!;
    }
  }
  return out;
}

function t64(a: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j]!;
  return out;
}

function scaled(a: Float64Array, s: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * s;
  return out;
}

export function fusedWidth(model: Pick<FittedFusionModel, 'config' | 'usedModels'>): number {
  return model.config.mode === 'concat' ? model.usedModels.length * model.config.d : model.config.d;
}

/** The metadata every export carries (also read back by the predictor). */
export interface FusionOnnxMetadata {
  models: { name: string; dim: number }[];
  mode: string;
  gate: string;
  task: string;
  d: number;
  classes?: string[];
  genes?: string[];
}

export function exportFusionOnnx(model: FittedFusionModel): Uint8Array {
  const { params, config, models, usedModels: used, task } = model;
  const d = config.d;
  const M = models.length;
  const Mu = used.length;
  const F = fusedWidth(model);
  const g = new GraphBuilder({ name: `adafusion_${config.mode}`, opset: 17, docString: 'AdaFusion: prompt-guided adaptive fusion of foundation-model tile features' });

  const inputs = models.map((m, i) => g.input(`x${i}`, 'float32', ['N', m.dim]));
  const ones = g.initializer('ln_ones', new Float32Array(d).fill(1), [d]);
  const zeros = g.initializer('ln_zeros', new Float32Array(d), [d]);
  const learnedLn = hasParam(params, N.lnScale(used[0]!));

  // 1. compress & align.
  const codes = used.map((m) => {
    const w = g.initializer(`compress_${m}_weight`, getParam(params, N.compressWeight(m), [models[m]!.dim, d]).data, [models[m]!.dim, d]);
    const b = g.initializer(`compress_${m}_bias`, getParam(params, N.compressBias(m), [d]).data, [d]);
    const scale = learnedLn ? g.initializer(`compress_${m}_ln_scale`, getParam(params, N.lnScale(m), [d]).data, [d]) : ones;
    const shift = learnedLn ? g.initializer(`compress_${m}_ln_bias`, getParam(params, N.lnBias(m), [d]).data, [d]) : zeros;
    return g.layerNorm(g.add(g.matMul(inputs[m]!, w), b), scale, shift, { axis: -1, epsilon: LN_EPS });
  });

  // 2. phenotype context.
  const promptsT = getParam(params, N.prompts);
  const P = promptsT.shape[0]!;
  const prompts = promptsT.data;
  const zbar = Mu === 1 ? codes[0]! : g.mul(g.node('Sum', codes)[0]!, g.scalar(1 / Mu));
  const pT = t64(prompts, P, d);
  const kc = scaled(mm64(getParam(params, N.qWeight, [d, d]).data, pT, d, d, P), 1 / config.tau);
  const kb = scaled(mm64(getParam(params, N.qBias, [d]).data, pT, 1, d, P), 1 / config.tau);
  const ctxLogits = g.add(g.matMul(zbar, g.initializer('context_kernel', kc, [d, P])), g.initializer('context_bias', kb, [P]));
  const contextWeights = g.softmax(ctxLogits, -1);
  g.output('context_weights', 'float32', ['N', P], { from: contextWeights });

  // 3. gate and fusion.
  let fused: string;
  let alpha: string;
  if (config.mode === 'adafusion') {
    const wq = getParam(params, N.gateWq, [d, d]).data;
    const wk = getParam(params, N.gateWk, [d, d]).data;
    const pqk = mm64(mm64(prompts, wq, P, d, d), t64(wk, d, d), P, d, d);
    const offset = getParam(params, N.gateKeyOffset, [Mu, d]).data;
    if (config.gate === 'model') {
      const query = g.matMul(contextWeights, g.initializer('gate_query', scaled(pqk, 1 / Math.sqrt(d)), [P, d]));
      const bias = g.initializer('gate_bias', getParam(params, N.gateBias, [Mu]).data, [Mu]);
      const keys = codes.map((z, i) => g.add(z, g.initializer(`gate_key_offset_${i}`, offset.slice(i * d, (i + 1) * d), [d])));
      const scores = g.add(g.concat(keys.map((k) => g.reduceSum(g.mul(k, query), [1], true)), 1), bias);
      const a = g.softmax(scores, 1);
      const parts = codes.map((z, i) => g.mul(z, Mu === 1 ? a : g.slice(a, [i], [i + 1], [1])));
      fused = Mu === 1 ? parts[0]! : g.node('Sum', parts)[0]!;
      alpha = a;
    } else {
      const query = g.unsqueeze(g.matMul(contextWeights, g.initializer('gate_query', Float32Array.from(pqk), [P, d])), [1]);
      const bias = g.initializer('gate_bias', getParam(params, N.gateBias, [Mu, d]).data, [Mu, d]);
      const stacked = g.concat(codes.map((z) => g.unsqueeze(z, [1])), 1);
      const keys = g.add(stacked, g.initializer('gate_key_offset', offset, [Mu, d]));
      const a = g.softmax(g.add(g.mul(keys, query), bias), 1);
      fused = g.reduceSum(g.mul(stacked, a), [1], false);
      g.output('alpha_channels', 'float32', ['N', M, d], { from: expandToAllModels(g, a, used, M) });
      alpha = g.reduceMean(a, [2], false);
    }
  } else {
    fused = config.mode === 'concat' ? g.concat(codes, 1) : zbar;
    // The fixed weights, broadcast to one row per tile.
    const fixed = g.initializer('fixed_alpha', new Float32Array(Mu).fill(1 / Mu), [1, Mu]);
    const rows = g.slice(g.shape(inputs[used[0]!]!), [0], [1]);
    alpha = g.node('Expand', [fixed, g.concat([rows, g.int64s([Mu], 'alpha_cols')], 0)])[0]!;
  }
  g.output('fused', 'float32', ['N', F], { from: fused });
  g.output('alpha', 'float32', ['N', M], { from: expandToAllModels(g, alpha, used, M) });

  // 4. heads.
  if (task === 'classification') {
    const H = getParam(params, N.attnW).shape[0]!;
    const vu = new Float32Array(F * 2 * H);
    const v = getParam(params, N.attnV, [F, H]).data;
    const u = getParam(params, N.attnU, [F, H]).data;
    for (let i = 0; i < F; i++) {
      vu.set(v.subarray(i * H, (i + 1) * H), i * 2 * H);
      vu.set(u.subarray(i * H, (i + 1) * H), i * 2 * H + H);
    }
    const vub = new Float32Array(2 * H);
    vub.set(getParam(params, N.attnVBias, [H]).data, 0);
    vub.set(getParam(params, N.attnUBias, [H]).data, H);
    const hvu = g.add(g.matMul(fused, g.initializer('attn_vu_weight', vu, [F, 2 * H])), g.initializer('attn_vu_bias', vub, [2 * H]));
    const gated = g.mul(g.tanh(g.slice(hvu, [0], [H], [1])), g.sigmoid(g.slice(hvu, [H], [2 * H], [1])));
    const scores = g.reshape(g.matMul(gated, g.initializer('attn_w', getParam(params, N.attnW, [H]).data, [H, 1])), [-1]);
    const attention = g.softmax(scores, 0);
    g.output('attention', 'float32', ['N'], { from: attention });
    const pooled = g.matMul(g.unsqueeze(attention, [0]), fused);
    const C = getParam(params, N.classifierBias).shape[0]!;
    const logits = g.add(
      g.matMul(pooled, g.initializer('classifier_weight', getParam(params, N.classifierWeight, [F, C]).data, [F, C])),
      g.initializer('classifier_bias', getParam(params, N.classifierBias, [C]).data, [C]),
    );
    g.output('logits', 'float32', [C], { from: g.reshape(logits, [-1]) });
  } else {
    const G = getParam(params, N.regressorBias).shape[0]!;
    const pred = g.add(
      g.matMul(fused, g.initializer('regressor_weight', getParam(params, N.regressorWeight, [F, G]).data, [F, G])),
      g.initializer('regressor_bias', getParam(params, N.regressorBias, [G]).data, [G]),
    );
    g.output('prediction', 'float32', ['N', G], { from: pred });
  }

  const meta: FusionOnnxMetadata = {
    models: models.map((m) => ({ name: m.name, dim: m.dim })),
    mode: config.mode,
    gate: config.gate,
    task,
    d,
    ...(model.classes ? { classes: model.classes } : {}),
    ...(model.genes ? { genes: model.genes } : {}),
  };
  g.setMetadata(ONNX_METADATA_KEY, JSON.stringify(meta));
  models.forEach((m, i) => g.setMetadata(`input.x${i}`, m.name));
  return g.toModelBytes();
}

/**
 * Places the used models' weights ([N, Mu] or [N, Mu, d]) at their cohort positions in
 * [N, M(, d)], zeros for unused models (only `single` leaves some out).
 */
function expandToAllModels(g: GraphBuilder, a: string, used: number[], M: number): string {
  if (used.length === M && used.every((m, i) => m === i)) return a;
  // Unused models get zero weight: multiply a slice of the used weights by 0 for them.
  const parts: string[] = [];
  for (let m = 0; m < M; m++) {
    const i = used.indexOf(m);
    const col = g.slice(a, [Math.max(i, 0)], [Math.max(i, 0) + 1], [1]);
    parts.push(i >= 0 ? col : g.mul(col, g.scalar(0)));
  }
  return g.concat(parts, 1);
}
