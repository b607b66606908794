import { GraphBuilder } from '@weightsmith/onnx';
import type { TinyClipWeights } from './tiny-clip-weights.js';

/**
 * The ONNX graph of CLIPTextModelWithProjection, with the interface of the Hugging Face / optimum
 * export that transformers.js runs (`onnx/text_model.onnx`):
 *
 *   input   input_ids          int64   [batch_size, sequence_length]
 *   output  text_embeds        float32 [batch_size, projection_dim]
 *   output  last_hidden_state  float32 [batch_size, sequence_length, hidden]
 *
 * Architecture (Hugging Face CLIPTextTransformer):
 *   x = token_embedding[input_ids] + position_embedding[0..T)
 *   per layer (pre-LN):  x += out_proj(causal_self_attention(LN1(x)))
 *                        x += fc2(quick_gelu(fc1(LN2(x))))
 *   last_hidden_state = final_LN(x)
 *   pooled = last_hidden_state[b, argmax(input_ids[b])]   (the first <|endoftext|>: it has the
 *            highest id; input_ids are cast to int32 first, as the Hugging Face export does,
 *            because ArgMax has no int64 kernel in older runtimes)
 *   text_embeds = pooled · text_projectionᵀ   (no bias)
 *
 * No attention_mask input: with causal attention and right padding, padding tokens come after
 * every position a real token attends to and after the pooled end-of-text position, so they
 * cannot change the result (the reason CLIP's ONNX export leaves the mask out).
 */
export function buildTinyClipTextGraph(w: TinyClipWeights): Uint8Array {
  const c = w.config;
  const H = c.hiddenSize;
  const headDim = H / c.numHeads;
  if (!Number.isInteger(headDim)) throw new RangeError(`hiddenSize ${H} is not divisible by numHeads ${c.numHeads}`);
  const g = new GraphBuilder({ name: 'clip_text_model_with_projection', opset: 17 });
  g.setMetadata('weightsmith.fixture', 'tiny-clip-text');

  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const tokenTable = g.initializer('text_model.embeddings.token_embedding.weight', w.tokenEmbedding, [c.vocabSize, H]);
  const positionTable = g.initializer(
    'text_model.embeddings.position_embedding.weight',
    w.positionEmbedding,
    [c.maxPositions, H],
  );

  // T = input_ids.shape[1], as a 1-element int64 vector usable as a Slice bound.
  const seqLen = g.slice(g.shape(ids), [1], [2], [0]);
  const zero = g.int64s([0], 'zero');
  const positions = g.node('Slice', [positionTable, zero, seqLen, zero])[0]!; // [T, H]
  let x = g.add(g.gather(tokenTable, ids, 0), positions); // [B, T, H]

  // Additive causal mask: 0 where key j ≤ query i, a large negative number where j > i.
  const P = c.maxPositions;
  const fullMask = new Float32Array(P * P);
  for (let i = 0; i < P; i++) for (let j = i + 1; j < P; j++) fullMask[i * P + j] = -1e9;
  const maskTable = g.initializer('causal_mask', fullMask, [P, P]);
  const mask = g.node('Slice', [maskTable, g.int64s([0, 0], 'mask_starts'), g.concat([seqLen, seqLen], 0), g.int64s([0, 1], 'mask_axes')])[0]!;

  const eps = { epsilon: c.layerNormEps };
  const linear = (input: string, name: string, weight: Float32Array, bias: Float32Array | undefined, out: number, inp: number): string => {
    const y = g.matMul(input, g.initializer(`${name}.weight_t`, transposeOutIn(weight, out, inp), [inp, out]));
    return bias === undefined ? y : g.add(y, g.initializer(`${name}.bias`, bias, [out]));
  };
  const ln = (input: string, name: string, scale: Float32Array, bias: Float32Array): string =>
    g.layerNorm(input, g.initializer(`${name}.weight`, scale, [H]), g.initializer(`${name}.bias`, bias, [H]), eps);

  w.layers.forEach((layer, l) => {
    const p = `text_model.encoder.layers.${l}`;
    const h = ln(x, `${p}.layer_norm1`, layer.ln1Scale, layer.ln1Bias);
    const q = g.mul(linear(h, `${p}.self_attn.q_proj`, layer.qWeight, layer.qBias, H, H), g.scalar(1 / Math.sqrt(headDim)));
    const k = linear(h, `${p}.self_attn.k_proj`, layer.kWeight, layer.kBias, H, H);
    const v = linear(h, `${p}.self_attn.v_proj`, layer.vWeight, layer.vBias, H, H);
    const heads = [0, 0, c.numHeads, headDim];
    const qh = g.transpose(g.reshape(q, heads), [0, 2, 1, 3]); // [B, nh, T, hd]
    const kh = g.transpose(g.reshape(k, heads), [0, 2, 3, 1]); // [B, nh, hd, T]
    const vh = g.transpose(g.reshape(v, heads), [0, 2, 1, 3]); // [B, nh, T, hd]
    const probs = g.softmax(g.add(g.matMul(qh, kh), mask), -1); // [B, nh, T, T]
    const context = g.reshape(g.transpose(g.matMul(probs, vh), [0, 2, 1, 3]), [0, 0, H]);
    x = g.add(x, linear(context, `${p}.self_attn.out_proj`, layer.outWeight, layer.outBias, H, H));

    const h2 = ln(x, `${p}.layer_norm2`, layer.ln2Scale, layer.ln2Bias);
    const up = g.quickGelu(linear(h2, `${p}.mlp.fc1`, layer.fc1Weight, layer.fc1Bias, c.intermediateSize, H));
    x = g.add(x, linear(up, `${p}.mlp.fc2`, layer.fc2Weight, layer.fc2Bias, H, c.intermediateSize));
  });

  const last = ln(x, 'text_model.final_layer_norm', w.finalLnScale, w.finalLnBias);
  const eosIndex = g.argMax(g.cast(ids, 'int32'), -1, false); // [B]
  const pooled = g.gatherND(last, g.unsqueeze(eosIndex, [1]), 1); // [B, H]
  const embeds = linear(pooled, 'text_projection', w.projection, undefined, c.projectionDim, H);

  g.output('text_embeds', 'float32', ['batch_size', c.projectionDim], { from: embeds });
  g.output('last_hidden_state', 'float32', ['batch_size', 'sequence_length', H], { from: last });
  return g.toModelBytes();
}

/** [out, in] row-major → [in, out] row-major. */
function transposeOutIn(w: Float32Array, out: number, inp: number): Float32Array {
  const t = new Float32Array(out * inp);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) t[i * out + o] = w[o * inp + i]!;
  return t;
}
