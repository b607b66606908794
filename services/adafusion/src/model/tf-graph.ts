/**
 * The trainable forward pass in tfjs (spec steps 1–4), shared by fitting and by the parity tests.
 *
 * Gradients come from tfjs's autodiff. One primitive gets a custom gradient: `mm`, a 2-D matMul
 * whose backward pass transposes explicitly. The tfjs-wasm kernel for products with a transposed
 * operand (which the built-in matMul gradient uses) measured ~10× slower here than transpose +
 * plain product (571 ms vs 25 ms for 4096×256·256×256); the math is the built-in gradient's
 * (dA = dY Bᵀ, dB = Aᵀ dY), and a test compares the two.
 *
 * Cost: the context and the gate only ever touch the P prompts, never d × d per tile:
 *   c = w P  ⇒  ⟨c Wq, z Wk⟩ = z · (w (P Wq Wkᵀ))   and   q(z̄)·p_k = z̄ (W_q Pᵀ) + b_q Pᵀ,
 * so the per-tile work is T × d × P plus the per-model dot products (mathematically the spec's
 * formulas; the float64 reference in forward.ts evaluates them literally).
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { tf } from './tf-backend.js';
import { LN_EPS } from './compress.js';
import { paramNames as N } from './params.js';
import type { FusionMode } from './config.js';
import type { TaskKind } from '../types.js';

type Tensor = tfTypes.Tensor;

export interface GraphSpec {
  mode: FusionMode;
  gate: 'model' | 'channel';
  task: TaskKind;
  /** Models the mode uses, in order; Z's second axis. */
  used: number[];
  d: number;
  tau: number;
  /** Text prompts are computed from embeddings and a projection. */
  textPrompts: boolean;
  learnedCompression: boolean;
}

/** 2-D A·B with an explicit-transpose backward (see the file comment). */
export const mm = tf.customGrad((...args: (Tensor | tfTypes.GradSaveFunc)[]) => {
  const [a, b, save] = args as [Tensor, Tensor, tfTypes.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tfTypes.Tensor2D, b as tfTypes.Tensor2D),
    gradFunc: (dy: tfTypes.Tensor2D, saved: Tensor[]) => {
      const [sa, sb] = saved as [tfTypes.Tensor2D, tfTypes.Tensor2D];
      return [tf.matMul(dy as tfTypes.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tfTypes.Tensor2D)];
    },
  };
}) as (a: Tensor, b: Tensor) => tfTypes.Tensor2D;

/** A·B where A needs no gradient (raw features): the backward pass skips dA. */
export const mmConstA = tf.customGrad((...args: (Tensor | tfTypes.GradSaveFunc)[]) => {
  const [a, b, save] = args as [Tensor, Tensor, tfTypes.GradSaveFunc];
  save([a]);
  return {
    value: tf.matMul(a as tfTypes.Tensor2D, b as tfTypes.Tensor2D),
    gradFunc: (dy: tfTypes.Tensor2D, saved: Tensor[]) => [tf.zerosLike(saved[0]!), tf.matMul(tf.transpose(saved[0]! as tfTypes.Tensor2D), dy as tfTypes.Tensor2D)],
  };
}) as (a: Tensor, b: Tensor) => tfTypes.Tensor2D;

export type TensorLookup = (name: string) => Tensor;

export function layerNorm(y: Tensor): Tensor {
  const { mean, variance } = tf.moments(y, -1, true);
  return tf.div(tf.sub(y, mean), tf.sqrt(tf.add(variance, LN_EPS)));
}

/** Z [T, Mu, d] from raw features (one [T, dₘ] tensor per used model). */
export function compressTf(spec: GraphSpec, p: TensorLookup, xs: Tensor[]): { z: Tensor; codes: Tensor[] } {
  const codes = spec.used.map((m, i) => {
    let y = tf.add(mmConstA(xs[i]!, p(N.compressWeight(m))), p(N.compressBias(m)));
    y = layerNorm(y);
    if (spec.learnedCompression) y = tf.add(tf.mul(y, p(N.lnScale(m))), p(N.lnBias(m)));
    return y;
  });
  return { z: tf.stack(codes, 1), codes };
}

export function promptsTf(spec: GraphSpec, p: TensorLookup): Tensor {
  if (!spec.textPrompts) return p(N.prompts);
  return tf.add(mm(p(N.textEmbeddings), p(N.promptProjWeight)), p(N.promptProjBias));
}

export interface ForwardTf {
  fused: Tensor;
  /** [T, M_used] */
  alpha: Tensor;
  /** [T, M_used, d] (per-channel gate only) */
  alphaChannels?: Tensor;
  /** [T, P] */
  contextWeights: Tensor;
  /** Classification: [T] attention logits before the per-bag softmax. */
  attentionScores?: Tensor;
  /** Classification: [B, T] per-bag attention; [B, C] logits. */
  attention?: Tensor;
  logits?: Tensor;
  /** Regression: [T, G]. */
  prediction?: Tensor;
}

/**
 * Fusion and heads on Z [T, Mu, d]. `bagBias` [B, T] is 0 where tile t belongs to bag b and a
 * large negative number elsewhere (classification); one bag of all tiles when omitted.
 */
export function forwardTf(spec: GraphSpec, p: TensorLookup, z: Tensor, bagBias?: Tensor): ForwardTf {
  const [T, Mu, d] = z.shape as [number, number, number];
  const zbar = Mu === 1 ? tf.reshape(z, [T, d]) : tf.mean(z, 1);
  const prompts = promptsTf(spec, p);
  const promptsT = tf.transpose(prompts);
  const ctxLogits = tf.div(tf.add(mm(zbar, mm(p(N.qWeight), promptsT)), mm(tf.reshape(p(N.qBias), [1, d]), promptsT)), spec.tau);
  const contextWeights = tf.softmax(ctxLogits);

  let fused: Tensor;
  let alpha: Tensor;
  let alphaChannels: Tensor | undefined;
  if (spec.mode === 'adafusion') {
    // g = c Wq Wkᵀ with c = w P, computed as w (P Wq Wkᵀ).
    const pq = mm(mm(prompts, p(N.gateWq)), tf.transpose(p(N.gateWk)));
    const g = mm(contextWeights, pq);
    const offset = p(N.gateKeyOffset); // [Mu, d]
    if (spec.gate === 'model') {
      const dots = tf.add(tf.reshape(tf.matMul(z, tf.reshape(g, [T, d, 1])), [T, Mu]), mm(g, tf.transpose(offset)));
      alpha = tf.softmax(tf.add(tf.div(dots, Math.sqrt(d)), p(N.gateBias)));
      fused = tf.reshape(tf.matMul(tf.reshape(alpha, [T, 1, Mu]), z), [T, d]);
    } else {
      const s = tf.add(tf.mul(tf.add(z, tf.reshape(offset, [1, Mu, d])), tf.reshape(g, [T, 1, d])), p(N.gateBias));
      alphaChannels = tf.exp(tf.sub(s, tf.logSumExp(s, 1, true)));
      fused = tf.sum(tf.mul(alphaChannels, z), 1);
      alpha = tf.mean(alphaChannels, 2);
    }
  } else if (spec.mode === 'concat') {
    fused = tf.reshape(z, [T, Mu * d]);
    alpha = tf.fill([T, Mu], 1 / Mu);
  } else {
    fused = zbar;
    alpha = tf.fill([T, Mu], 1 / Mu);
  }

  const out: ForwardTf = { fused, alpha, contextWeights };
  if (alphaChannels !== undefined) out.alphaChannels = alphaChannels;
  if (spec.task === 'classification') {
    const H = p(N.attnW).shape[0]!;
    const vu = mm(fused, tf.concat([p(N.attnV), p(N.attnU)], 1));
    const hvu = tf.add(vu, tf.concat([p(N.attnVBias), p(N.attnUBias)], 0));
    const gated = tf.mul(tf.tanh(tf.slice(hvu, [0, 0], [T, H])), tf.sigmoid(tf.slice(hvu, [0, H], [T, H])));
    const scores = tf.reshape(mm(gated, tf.reshape(p(N.attnW), [H, 1])), [1, T]);
    const attention = tf.softmax(bagBias === undefined ? scores : tf.add(scores, bagBias));
    out.attentionScores = tf.reshape(scores, [T]);
    out.attention = attention;
    out.logits = tf.add(mm(mm(attention, fused), p(N.classifierWeight)), p(N.classifierBias));
  } else {
    out.prediction = tf.add(mm(fused, p(N.regressorWeight)), p(N.regressorBias));
  }
  return out;
}
