/**
 * The pre-LN transformer encoder layer, as one graph fragment shared by every model the project
 * exports (the CLIP-style text tower fixtures and the T2W denoiser):
 *
 *   x = x + out(attention(LN1(x)))            attention: multi-head, softmax(q·kᵀ/√d)·v
 *   x = x + fc2(act(fc1(LN2(x))))             act: exact GELU or CLIP's quick_gelu
 *
 * (PyTorch's nn.TransformerEncoderLayer(norm_first=True, dropout=0) and Hugging Face's
 * CLIPEncoderLayer compute this.) Every Linear is MatMul + Add on [B, T, ·], the form onnxruntime
 * fuses into SkipLayerNormalization and BiasGelu.
 *
 * Attention is onnxruntime's fused Attention kernel with a packed Q|K|V weight by default; with
 * `attention: 'portable'` it is written in standard ONNX ops (MatMul, Reshape, Transpose, Softmax;
 * Trilu for the causal mask), for runtimes without onnxruntime's contrib operators. Both compute
 * the same function; the fused form has no Transpose nodes and is faster (bench/t2w.ts measures both).
 */
import { invalidInput } from '@weightsmith/core';
import type { GraphBuilder } from './graph-builder.js';

/** One layer's weights. Linear weights are `[in, out]` row-major (y = x·W + b), the transpose of PyTorch's `nn.Linear.weight`. */
export interface PreLnLayerWeights {
  ln1Scale: Float32Array;
  ln1Bias: Float32Array;
  /** [W, W] each */
  qWeight: Float32Array;
  qBias: Float32Array;
  kWeight: Float32Array;
  kBias: Float32Array;
  vWeight: Float32Array;
  vBias: Float32Array;
  outWeight: Float32Array;
  outBias: Float32Array;
  ln2Scale: Float32Array;
  ln2Bias: Float32Array;
  /** [W, hidden] */
  fc1Weight: Float32Array;
  fc1Bias: Float32Array;
  /** [hidden, W] */
  fc2Weight: Float32Array;
  fc2Bias: Float32Array;
}

export interface PreLnLayerOptions {
  heads: number;
  activation: 'gelu' | 'quick_gelu';
  /** Causal self-attention (text towers); default false. */
  causal?: boolean;
  /** LayerNorm epsilon. */
  epsilon: number;
  /** Initializer name prefix, e.g. `layers.0`. */
  prefix: string;
  /** 'fused' (default): onnxruntime's Attention contrib kernel; 'portable': standard ONNX ops only. */
  attention?: 'fused' | 'portable';
}

/** Appends one layer reading x [B, T, W]; returns the layer's output [B, T, W]. */
export function preLnEncoderLayer(g: GraphBuilder, x: string, w: PreLnLayerWeights, o: PreLnLayerOptions): string {
  const W = w.ln1Scale.length;
  const hidden = w.fc1Bias.length;
  checkLayerShapes(w, W, hidden, o.heads, o.prefix);
  const p = o.prefix;
  const init = (name: string, data: Float32Array, dims: number[]): string => g.initializer(`${p}.${name}`, data, dims);
  const linear = (input: string, name: string, weight: Float32Array, bias: Float32Array, inp: number, out: number): string =>
    g.add(g.matMul(input, init(`${name}.weight`, weight, [inp, out])), init(`${name}.bias`, bias, [out]));

  const a = g.layerNorm(x, init('ln1.weight', w.ln1Scale, [W]), init('ln1.bias', w.ln1Bias, [W]), { epsilon: o.epsilon });
  let ctx: string;
  if ((o.attention ?? 'fused') === 'fused') {
    const qkvWeight = init('attn.qkv.weight', packColumns(W, [w.qWeight, w.kWeight, w.vWeight]), [W, 3 * W]);
    const qkvBias = init('attn.qkv.bias', packColumns(1, [w.qBias, w.kBias, w.vBias]), [3 * W]);
    ctx = g.attention(a, qkvWeight, qkvBias, { heads: o.heads, ...(o.causal ? { causal: true } : {}) });
  } else {
    const D = W / o.heads;
    const heads = (t: string, perm: number[]): string => g.transpose(g.reshape(t, [0, 0, o.heads, D]), perm);
    const q = heads(linear(a, 'attn.q', w.qWeight, w.qBias, W, W), [0, 2, 1, 3]); // [B, H, T, D]
    const kT = heads(linear(a, 'attn.k', w.kWeight, w.kBias, W, W), [0, 2, 3, 1]); // [B, H, D, T]
    const v = heads(linear(a, 'attn.v', w.vWeight, w.vBias, W, W), [0, 2, 1, 3]);
    let scores = g.mul(g.matMul(q, kT), g.scalar(1 / Math.sqrt(D)));
    if (o.causal) scores = g.add(scores, causalMask(g, x));
    ctx = g.reshape(g.transpose(g.matMul(g.softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, W]);
  }
  const h = g.add(x, linear(ctx, 'attn.out', w.outWeight, w.outBias, W, W));

  const m = g.layerNorm(h, init('ln2.weight', w.ln2Scale, [W]), init('ln2.bias', w.ln2Bias, [W]), { epsilon: o.epsilon });
  const up = linear(m, 'mlp.fc1', w.fc1Weight, w.fc1Bias, W, hidden);
  const act = o.activation === 'gelu' ? g.gelu(up) : g.quickGelu(up);
  return g.add(h, linear(act, 'mlp.fc2', w.fc2Weight, w.fc2Bias, hidden, W));
}

/** [T, T] additive mask of x [B, T, ·]'s length: 0 where key ≤ query, −1e9 above the diagonal. */
function causalMask(g: GraphBuilder, x: string): string {
  const T = g.slice(g.shape(x), [1], [2], [0]);
  const [full] = g.node('ConstantOfShape', [g.concat([T, T], 0)], { attrs: { value: { tensor: { data: Float32Array.of(-1e9), dims: [1] } } } });
  const [upper] = g.node('Trilu', [full!, g.int64s([1], 'diagonal')], { attrs: { upper: { int: 1 } } });
  return upper!;
}

function checkLayerShapes(w: PreLnLayerWeights, W: number, hidden: number, heads: number, prefix: string): void {
  if (!Number.isSafeInteger(heads) || heads < 1 || W % heads !== 0) {
    throw invalidInput(`${prefix}.heads`, `width ${W} must be divisible by heads ${heads}`);
  }
  const expected: [keyof PreLnLayerWeights, number][] = [
    ['ln1Bias', W], ['qWeight', W * W], ['qBias', W], ['kWeight', W * W], ['kBias', W], ['vWeight', W * W], ['vBias', W],
    ['outWeight', W * W], ['outBias', W], ['ln2Scale', W], ['ln2Bias', W], ['fc1Weight', W * hidden], ['fc2Weight', hidden * W], ['fc2Bias', W],
  ];
  for (const [name, n] of expected) {
    if (w[name].length !== n) throw invalidInput(`${prefix}.${name}`, `${prefix}.${name} has ${w[name].length} values, expected ${n} (width ${W}, hidden ${hidden})`);
  }
}

/** [rows, c_i] row-major matrices side by side → [rows, Σ c_i] (rows = 1: vectors joined end to end). */
function packColumns(rows: number, mats: Float32Array[]): Float32Array {
  const widths = mats.map((m) => m.length / rows);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Float32Array(rows * total);
  for (let r = 0; r < rows; r++) {
    let col = 0;
    mats.forEach((m, i) => {
      out.set(m.subarray(r * widths[i]!, (r + 1) * widths[i]!), r * total + col);
      col += widths[i]!;
    });
  }
  return out;
}
