/**
 * The T2W denoiser as an ONNX graph — the contract a trainer (PyTorch, `torch.onnx.export`,
 * opset 17) must reproduce so its bundles load here. Notation: B batch, P target parameters,
 * N blocks (planBlocks(layout, blockSize)), len_i the length of block i, W width, H heads,
 * D = W/H, E condDim, F fourierDim. Linear = x·W + b with W stored [in, out].
 *
 * Inputs:  x [B, P] f32 (normalised flat parameters), t [B] f32 or i64 (timestep index 0..T−1,
 *          as a float), cond [B, E] f32.
 * Output:  [B, P] f32, named by the prediction type ('x0' by default).
 *
 * 1. Block tokens: block i = x[:, start_i : start_i+len_i]; token_i = Linear_i(len_i → W)
 *    (a separate Linear per block). In the graph the blocks are gathered into a zero-padded
 *    [B, N, blockSize] tensor (padding slots multiplied by 0) and embedded by one batched
 *    MatMul with weights [N, blockSize, W] whose padded rows are zero — the same numbers as
 *    N separate Linears.
 * 2. Timestep token: freqs f_k = exp(−ln(10000)·k/(F/2)), k = 0..F/2−1;
 *    features = [cos(t·f), sin(t·f)] (cos half first, as guided-diffusion's timestep_embedding);
 *    token = Linear(F → W).
 * 3. Condition token: Linear(E → W) of cond.
 * 4. Sequence h = [t_token, cond_token, block_1 … block_N] ([B, N+2, W]) + a learned position
 *    embedding [N+2, W] (one row per token, the two special tokens included).
 * 5. L pre-LN encoder layers, no mask:
 *      a = LN1(h); q,k,v = Linear(a) split into H heads of D;
 *      h = h + Linear_out(concat_heads(softmax(q·kᵀ/√D)·v))
 *      h = h + Linear(4W → W)(GELU_erf(Linear(W → 4W)(LN2(h))))
 *    (nn.TransformerEncoderLayer(norm_first=True, activation='gelu', dropout=0) computes this.)
 * 6. Final LayerNorm; block token i → Linear_i(W → len_i) (a separate un-embedding per block),
 *    concatenated in block order back to [B, P]. LayerNorm epsilon 1e-5 everywhere.
 */
import { GraphBuilder } from '@weightsmith/onnx';
import type { DenoiserWeights } from './denoiser-weights.js';
import { fourierFrequencies } from './denoiser-weights.js';

export const DENOISER_OPSET = 17;

export interface DenoiserGraphOptions {
  /** Input names (defaults x, t, cond). */
  inputNames?: { x?: string; t?: string; cond?: string };
  /** Model doc string / metadata. */
  docString?: string;
}

export function buildDenoiserGraph(weights: DenoiserWeights, opts: DenoiserGraphOptions = {}): Uint8Array {
  const c = weights.config;
  const W = c.width;
  const H = c.heads;
  const D = W / H;
  const S = c.blockSize;
  const N = c.blocks.length;
  const P = c.paramCount;
  const g = new GraphBuilder({ name: 't2w-denoiser', opset: DENOISER_OPSET, docString: opts.docString ?? 'T2W denoiser (Weightsmith)' });
  g.setMetadata('weightsmith.blockSize', String(S));
  g.setMetadata('weightsmith.width', String(W));
  g.setMetadata('weightsmith.layers', String(c.layers));
  g.setMetadata('weightsmith.heads', String(H));

  const x = g.input(opts.inputNames?.x ?? 'x', 'float32', ['batch', P]);
  const t = g.input(opts.inputNames?.t ?? 't', c.timestepDtype, ['batch']);
  const cond = g.input(opts.inputNames?.cond ?? 'cond', 'float32', ['batch', c.condDim]);

  // Padded block layout: slot (i, j) reads x[start_i + j] when j < len_i; the others read
  // index 0 and are zeroed by the mask.
  const gatherIdx = new BigInt64Array(N * S);
  const mask = new Float32Array(N * S);
  const scatterIdx = new BigInt64Array(P);
  const embedW = new Float32Array(N * S * W);
  const embedB = new Float32Array(N * W);
  const unembedW = new Float32Array(N * W * S);
  const unembedB = new Float32Array(N * S);
  c.blocks.forEach((b, i) => {
    for (let j = 0; j < b.length; j++) {
      gatherIdx[i * S + j] = BigInt(b.start + j);
      mask[i * S + j] = 1;
      scatterIdx[b.start + j] = BigInt(i * S + j);
      unembedB[i * S + j] = weights.blockUnembedBias[i]![j]!;
    }
    embedW.set(weights.blockEmbedWeight[i]!, i * S * W); // [len_i, W] rows, padded rows stay 0
    embedB.set(weights.blockEmbedBias[i]!, i * W);
    const u = weights.blockUnembedWeight[i]!; // [W, len_i] → [W, S]
    for (let r = 0; r < W; r++) {
      for (let j = 0; j < b.length; j++) unembedW[i * W * S + r * S + j] = u[r * b.length + j]!;
    }
  });

  // 1. block tokens [B, N, W]
  const xg = g.gather(x, g.initializer('block_gather_index', gatherIdx, [N * S]), 1);
  const xm = g.mul(xg, g.initializer('block_mask', mask, [N * S]));
  const xb = g.transpose(g.reshape(xm, [0, N, S]), [1, 0, 2]); // [N, B, S]
  const emb = g.transpose(g.matMul(xb, g.initializer('block_embed.weight', embedW, [N, S, W])), [1, 0, 2]);
  const blockTokens = g.add(emb, g.initializer('block_embed.bias', embedB, [N, W]));

  // 2. timestep token [B, 1, W]
  const tf = c.timestepDtype === 'int64' ? g.cast(t, 'float32') : t;
  const freqs = Float32Array.from(fourierFrequencies(c.fourierDim));
  const args = g.mul(g.unsqueeze(tf, [1]), g.initializer('time_freqs', freqs, [1, c.fourierDim / 2]));
  const [cos] = g.node('Cos', [args]);
  const [sin] = g.node('Sin', [args]);
  const fourier = g.concat([cos!, sin!], 1);
  const tTok = g.unsqueeze(linear(g, fourier, 'time_embed', weights.timeWeight, weights.timeBias, c.fourierDim, W), [1]);

  // 3. condition token [B, 1, W]
  const cTok = g.unsqueeze(linear(g, cond, 'cond_embed', weights.condWeight, weights.condBias, c.condDim, W), [1]);

  // 4. sequence [B, N+2, W]
  let h = g.add(g.concat([tTok, cTok, blockTokens], 1), g.initializer('pos_embed', weights.positionEmbedding, [N + 2, W]));

  // 5. encoder layers
  const scale = g.scalar(1 / Math.sqrt(D));
  weights.layers.forEach((lw, l) => {
    const p = `layers.${l}`;
    const a = g.layerNorm(h, g.initializer(`${p}.ln1.weight`, lw.ln1Scale, [W]), g.initializer(`${p}.ln1.bias`, lw.ln1Bias, [W]), { epsilon: c.layerNormEps });
    const heads = (name: string, w: Float32Array, b: Float32Array): string =>
      g.transpose(g.reshape(linear(g, a, `${p}.attn.${name}`, w, b, W, W), [0, 0, H, D]), [0, 2, 1, 3]); // [B, H, T, D]
    const q = heads('q', lw.qWeight, lw.qBias);
    const k = heads('k', lw.kWeight, lw.kBias);
    const v = heads('v', lw.vWeight, lw.vBias);
    const scores = g.mul(g.matMul(q, g.transpose(k, [0, 1, 3, 2])), scale);
    const ctx = g.reshape(g.transpose(g.matMul(g.softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, W]);
    h = g.add(h, linear(g, ctx, `${p}.attn.out`, lw.outWeight, lw.outBias, W, W));
    const m = g.layerNorm(h, g.initializer(`${p}.ln2.weight`, lw.ln2Scale, [W]), g.initializer(`${p}.ln2.bias`, lw.ln2Bias, [W]), { epsilon: c.layerNormEps });
    const hidden = g.gelu(linear(g, m, `${p}.mlp.fc1`, lw.fc1Weight, lw.fc1Bias, W, 4 * W));
    h = g.add(h, linear(g, hidden, `${p}.mlp.fc2`, lw.fc2Weight, lw.fc2Bias, 4 * W, W));
  });

  // 6. final norm, per-block un-embedding, back to [B, P]
  h = g.layerNorm(h, g.initializer('final_ln.weight', weights.finalLnScale, [W]), g.initializer('final_ln.bias', weights.finalLnBias, [W]), { epsilon: c.layerNormEps });
  const tokens = g.transpose(g.slice(h, [2], [N + 2], [1]), [1, 0, 2]); // [N, B, W]
  const un = g.transpose(g.matMul(tokens, g.initializer('block_unembed.weight', unembedW, [N, W, S])), [1, 0, 2]); // [B, N, S]
  const padded = g.reshape(g.add(un, g.initializer('block_unembed.bias', unembedB, [N, S])), [0, N * S]);
  const out = g.gather(padded, g.initializer('block_scatter_index', scatterIdx, [P]), 1);
  g.output(c.outputName, 'float32', ['batch', P], { from: out });
  return g.toModelBytes();
}

function linear(g: GraphBuilder, x: string, name: string, w: Float32Array, b: Float32Array, inp: number, out: number): string {
  return g.add(g.matMul(x, g.initializer(`${name}.weight`, w, [inp, out])), g.initializer(`${name}.bias`, b, [out]));
}
