import type { PreLnLayerWeights } from '@weightsmith/onnx';
import { Rng } from '@weightsmith/tensor';

/** Dimensions of a CLIP text tower (names follow Hugging Face's CLIPTextConfig). */
export interface TinyClipConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  maxPositions: number;
  projectionDim: number;
  layerNormEps: number;
}

/**
 * One layer: the fields of libs/onnx's pre-LN layer, but linear weights are stored the PyTorch
 * way, `[out, in]` row-major (y = W·x + b), as they sit in a Hugging Face checkpoint; the ONNX
 * builder transposes them for MatMul. fc1 is [intermediate, hidden], fc2 [hidden, intermediate].
 */
export type TinyClipLayerWeights = PreLnLayerWeights;

export interface TinyClipWeights {
  config: TinyClipConfig;
  /** [vocab, hidden] */
  tokenEmbedding: Float32Array;
  /** [maxPositions, hidden] */
  positionEmbedding: Float32Array;
  layers: TinyClipLayerWeights[];
  finalLnScale: Float32Array;
  finalLnBias: Float32Array;
  /** text_projection, no bias: [projectionDim, hidden] */
  projection: Float32Array;
}

/**
 * Seeded random weights. Scales are larger than CLIP's initialisation on purpose: a fixture with
 * near-uniform attention and tiny residual updates would not show a wrong mask, a swapped
 * transpose or a misplaced LayerNorm in the comparison tests.
 */
export function randomTinyClipWeights(config: TinyClipConfig, seed: number): TinyClipWeights {
  const rng = new Rng(seed);
  // Uniform draws only: normal() goes through Math.log/cos, whose last bits the language does not pin down.
  const uniform = (n: number, halfWidth: number, center = 0): Float32Array =>
    rng.uniformF32Array(n, center - halfWidth, center + halfWidth);
  const { vocabSize: V, hiddenSize: H, intermediateSize: I, maxPositions: P, projectionDim: D } = config;
  const linear = (out: number, inp: number): Float32Array => uniform(out * inp, Math.sqrt(3 / inp));
  const bias = (n: number): Float32Array => uniform(n, 0.1);
  const lnScale = (n: number): Float32Array => uniform(n, 0.2, 1);
  const layers: TinyClipLayerWeights[] = [];
  const tokenEmbedding = uniform(V * H, 1);
  const positionEmbedding = uniform(P * H, 0.5);
  for (let l = 0; l < config.numLayers; l++) {
    layers.push({
      ln1Scale: lnScale(H),
      ln1Bias: bias(H),
      // q and k twice the usual scale so attention is peaked, not uniform.
      qWeight: uniform(H * H, 2 * Math.sqrt(3 / H)),
      qBias: bias(H),
      kWeight: uniform(H * H, 2 * Math.sqrt(3 / H)),
      kBias: bias(H),
      vWeight: linear(H, H),
      vBias: bias(H),
      outWeight: linear(H, H),
      outBias: bias(H),
      ln2Scale: lnScale(H),
      ln2Bias: bias(H),
      fc1Weight: linear(I, H),
      fc1Bias: bias(I),
      fc2Weight: linear(H, I),
      fc2Bias: bias(H),
    });
  }
  return {
    config,
    tokenEmbedding,
    positionEmbedding,
    layers,
    finalLnScale: lnScale(H),
    finalLnBias: bias(H),
    projection: linear(D, H),
  };
}
