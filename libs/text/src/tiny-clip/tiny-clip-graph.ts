import { GraphBuilder, preLnEncoderLayer } from '@weightsmith/onnx';
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
 *                        (libs/onnx's preLnEncoderLayer, onnxruntime's fused Attention kernel)
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

  const eps = { epsilon: c.layerNormEps };
  const linear = (input: string, name: string, weight: Float32Array, bias: Float32Array | undefined, out: number, inp: number): string => {
    const y = g.matMul(input, g.initializer(`${name}.weight_t`, transposeOutIn(weight, out, inp), [inp, out]));
    return bias === undefined ? y : g.add(y, g.initializer(`${name}.bias`, bias, [out]));
  };
  const ln = (input: string, name: string, scale: Float32Array, bias: Float32Array): string =>
    g.layerNorm(input, g.initializer(`${name}.weight`, scale, [H]), g.initializer(`${name}.bias`, bias, [H]), eps);

  w.layers.forEach((layer, l) => {
    const I = c.intermediateSize;
    x = preLnEncoderLayer(
      g,
      x,
      {
        ...layer,
        qWeight: transposeOutIn(layer.qWeight, H, H),
        kWeight: transposeOutIn(layer.kWeight, H, H),
        vWeight: transposeOutIn(layer.vWeight, H, H),
        outWeight: transposeOutIn(layer.outWeight, H, H),
        fc1Weight: transposeOutIn(layer.fc1Weight, I, H),
        fc2Weight: transposeOutIn(layer.fc2Weight, H, I),
      },
      { heads: c.numHeads, activation: 'quick_gelu', causal: true, epsilon: c.layerNormEps, prefix: `text_model.encoder.layers.${l}` },
    );
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
