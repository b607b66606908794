/**
 * The T2W denoiser as an ONNX graph. The bundle contract is only the interface below; any trainer
 * (PyTorch's `torch.onnx.export`, opset 17, or this builder fed with trained weights) may produce
 * it. Notation: B batch, P target parameters, N blocks (planBlocks(layout, blockSize)), len_i the
 * length of block i, W width, H heads, D = W/H, E condDim, F fourierDim. Linear = x·W + b with W
 * stored [in, out].
 *
 * Inputs:  x [B, P] f32 (normalised flat parameters), t [B] f32 or i64 (timestep index 0..T−1,
 *          as a float), cond [B, E] f32.
 * Output:  [B, P] f32, named by the prediction type ('x0' by default).
 *
 * 1. Block tokens: block i = x[:, start_i : start_i+len_i]; token_i = Linear_i(len_i → W)
 *    (a separate Linear per block). In the graph the blocks are gathered into a zero-padded
 *    [N, B, blockSize] tensor (padding slots multiplied by 0) and embedded by one batched
 *    MatMul with weights [N, blockSize, W] whose padded rows are zero — the same numbers as
 *    N separate Linears.
 * 2. Timestep token: freqs f_k = exp(−ln(10000)·k/(F/2)), k = 0..F/2−1;
 *    features = [cos(t·f), sin(t·f)] (cos half first, as guided-diffusion's timestep_embedding);
 *    token = Linear(F → W).
 * 3. Condition token: Linear(E → W) of cond.
 * 4. Sequence h = [t_token, cond_token, block_1 … block_N] ([B, N+2, W]) + a learned position
 *    embedding [N+2, W] (one row per token, the two special tokens included).
 * 5. L pre-LN encoder layers, no mask (libs/onnx's preLnEncoderLayer, exact-erf GELU):
 *      h = h + Linear_out(multi_head_attention(LN1(h)))
 *      h = h + Linear(4W → W)(GELU(Linear(W → 4W)(LN2(h))))
 *    (nn.TransformerEncoderLayer(norm_first=True, activation='gelu', dropout=0) computes this.)
 * 6. Final LayerNorm; block token i → Linear_i(W → len_i) (a separate un-embedding per block),
 *    concatenated in block order back to [B, P]. LayerNorm epsilon 1e-5 everywhere.
 *
 * Batch invariance: a row's output bits do not depend on the batch it runs in, B = 1 included,
 * so dynamic batching never changes a request's bytes and a lone request runs unpadded.
 * onnxruntime's batched MatMul ([N, M, K]·[N, K, W], the per-block embeddings) rounds
 * differently (~1e-6) when M = 1 than for any larger M, so the block (un)embeddings multiply
 * [N, B+1, ·] — a zero row appended, its result dropped again. Plain 2-D products ([B, K]·[K, W])
 * give the same bits for every B. The runtime checks the batch invariance of every bundle it
 * loads (generation/batch-invariance.ts).
 */
import { GraphBuilder, preLnEncoderLayer } from '@weightsmith/onnx';
import type { DenoiserWeights } from './denoiser-weights.js';
import { fourierFrequencies } from './denoiser-weights.js';

export const DENOISER_OPSET = 17;

export interface DenoiserGraphOptions {
  /** Input names (defaults x, t, cond). */
  inputNames?: { x?: string; t?: string; cond?: string };
  /** Model doc string / metadata. */
  docString?: string;
  /** 'fused' (default): onnxruntime's Attention kernel; 'portable': standard ONNX ops only (see preLnEncoderLayer). */
  attention?: 'fused' | 'portable';
}

export function buildDenoiserGraph(weights: DenoiserWeights, opts: DenoiserGraphOptions = {}): Uint8Array {
  const c = weights.config;
  const W = c.width;
  const H = c.heads;
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
  const emb = withSpareRow(g, xb, (rows) => g.matMul(rows, g.initializer('block_embed.weight', embedW, [N, S, W])));
  const blockTokens = g.add(g.transpose(emb, [1, 0, 2]), g.initializer('block_embed.bias', embedB, [N, W]));

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
  weights.layers.forEach((lw, l) => {
    h = preLnEncoderLayer(g, h, lw, { heads: H, activation: 'gelu', epsilon: c.layerNormEps, prefix: `layers.${l}`, attention: opts.attention ?? 'fused' });
  });

  // 6. final norm, per-block un-embedding, back to [B, P]
  h = g.layerNorm(h, g.initializer('final_ln.weight', weights.finalLnScale, [W]), g.initializer('final_ln.bias', weights.finalLnBias, [W]), { epsilon: c.layerNormEps });
  const tokens = g.transpose(g.slice(h, [2], [N + 2], [1]), [1, 0, 2]); // [N, B, W]
  const un = withSpareRow(g, tokens, (rows) => g.matMul(rows, g.initializer('block_unembed.weight', unembedW, [N, W, S])));
  const padded = g.reshape(g.add(g.transpose(un, [1, 0, 2]), g.initializer('block_unembed.bias', unembedB, [N, S])), [0, N * S]);
  const out = g.gather(padded, g.initializer('block_scatter_index', scatterIdx, [P]), 1);
  g.output(c.outputName, 'float32', ['batch', P], { from: out });
  return g.toModelBytes();
}

/** f applied to [N, B+1, ·] (a zero row appended on axis 1), that row dropped again: f's products never have a single row. */
function withSpareRow(g: GraphBuilder, rows: string, f: (rows: string) => string): string {
  return g.slice(f(g.pad(rows, [0, 0, 0, 0, 1, 0])), [0], [-1], [1]);
}

function linear(g: GraphBuilder, x: string, name: string, w: Float32Array, b: Float32Array, inp: number, out: number): string {
  return g.add(g.matMul(x, g.initializer(`${name}.weight`, w, [inp, out])), g.initializer(`${name}.bias`, b, [out]));
}
