/**
 * Dimensions and weights of the T2W denoiser (the architecture is documented in
 * denoiser-graph.ts). Linear weights are stored `[in, out]` row-major, y = x·W + b — the
 * transpose of PyTorch's `nn.Linear.weight` — so they go into MatMul as they are.
 */
import { invalidInput } from '@weightsmith/core';
import type { PreLnLayerWeights } from '@weightsmith/onnx';
import { Rng } from '@weightsmith/tensor';
import { layoutSize, type TensorLayoutEntry } from './bundle-schema.js';
import { planBlocks, type BlockSpan } from './blocks.js';

export interface DenoiserConfig {
  /** The target network's tensors in state-dict order. */
  layout: TensorLayoutEntry[];
  blockSize: number;
  width: number;
  layers: number;
  heads: number;
  /** E, the length of the condition vector (the text embedding dim). */
  condDim: number;
  /** Number of Fourier features of the timestep (even). Default: width (rounded up to even). */
  fourierDim?: number;
  /** Dtype of the `t` input. Default float32. */
  timestepDtype?: 'float32' | 'int64';
  /** Name of the output. Default 'x0'. */
  outputName?: string;
  /** LayerNorm epsilon. Default 1e-5 (PyTorch's). */
  layerNormEps?: number;
}

export interface ResolvedDenoiserConfig extends Required<DenoiserConfig> {
  blocks: BlockSpan[];
  /** P, the number of target parameters. */
  paramCount: number;
}

/** Largest period of the Fourier features (as guided-diffusion's timestep_embedding). */
export const FOURIER_MAX_PERIOD = 10000;

/** One encoder layer (libs/onnx's pre-LN layer; fc1 is [W, 4W], fc2 [4W, W]). */
export type DenoiserLayerWeights = PreLnLayerWeights;

export interface DenoiserWeights {
  config: ResolvedDenoiserConfig;
  /** Per block i: [len_i, W] and [W]. */
  blockEmbedWeight: Float32Array[];
  blockEmbedBias: Float32Array[];
  /** [2 + N, W]: rows 0 and 1 for the timestep and condition tokens, then one per block. */
  positionEmbedding: Float32Array;
  /** [F, W] and [W]. */
  timeWeight: Float32Array;
  timeBias: Float32Array;
  /** [E, W] and [W]. */
  condWeight: Float32Array;
  condBias: Float32Array;
  layers: DenoiserLayerWeights[];
  finalLnScale: Float32Array;
  finalLnBias: Float32Array;
  /** Per block i: [W, len_i] and [len_i]. */
  blockUnembedWeight: Float32Array[];
  blockUnembedBias: Float32Array[];
}

export function resolveDenoiserConfig(config: DenoiserConfig): ResolvedDenoiserConfig {
  const pos = (v: number, field: string): number => {
    if (!Number.isSafeInteger(v) || v < 1) throw invalidInput(field, `${field} must be a positive integer, got ${v}`);
    return v;
  };
  const width = pos(config.width, 'width');
  const heads = pos(config.heads, 'heads');
  if (width % heads !== 0) throw invalidInput('heads', `width (${width}) must be divisible by heads (${heads})`);
  const fourierDim = pos(config.fourierDim ?? width + (width % 2), 'fourierDim');
  if (fourierDim % 2 !== 0) throw invalidInput('fourierDim', `fourierDim must be even (cos and sin halves), got ${fourierDim}`);
  const layerNormEps = config.layerNormEps ?? 1e-5;
  if (!(layerNormEps > 0)) throw invalidInput('layerNormEps', `layerNormEps must be positive, got ${layerNormEps}`);
  if (config.layout.length === 0) throw invalidInput('layout', 'layout must list at least one tensor');
  return {
    layout: config.layout.map((t) => ({ name: t.name, shape: [...t.shape] })),
    blockSize: pos(config.blockSize, 'blockSize'),
    width,
    layers: pos(config.layers, 'layers'),
    heads,
    condDim: pos(config.condDim, 'condDim'),
    fourierDim,
    timestepDtype: config.timestepDtype ?? 'float32',
    outputName: config.outputName ?? 'x0',
    layerNormEps,
    blocks: planBlocks(config.layout, config.blockSize),
    paramCount: layoutSize(config.layout),
  };
}

/**
 * Seeded random weights. Linear layers are uniform with variance 1/fan_in (so activations stay
 * O(1) through the LayerNorms and the output is O(1)); q and k get twice that scale so attention
 * is peaked rather than uniform, which lets the parity test see a wrong head split or transpose.
 * Uniform draws only: `normal()` uses Math.log/cos, whose last bits JS does not pin down.
 */
export function randomDenoiserWeights(config: DenoiserConfig, seed: number): DenoiserWeights {
  const c = resolveDenoiserConfig(config);
  const rng = new Rng(seed);
  const uniform = (n: number, halfWidth: number, center = 0): Float32Array => rng.uniformF32Array(n, center - halfWidth, center + halfWidth);
  const linear = (inp: number, out: number, gain = 1): Float32Array => uniform(inp * out, gain * Math.sqrt(3 / inp));
  const bias = (n: number): Float32Array => uniform(n, 0.1);
  const lnScale = (n: number): Float32Array => uniform(n, 0.2, 1);
  const W = c.width;
  const N = c.blocks.length;

  const blockEmbedWeight = c.blocks.map((b) => linear(b.length, W));
  const blockEmbedBias = c.blocks.map(() => bias(W));
  const positionEmbedding = uniform((N + 2) * W, 0.5);
  const timeWeight = linear(c.fourierDim, W);
  const timeBias = bias(W);
  const condWeight = linear(c.condDim, W);
  const condBias = bias(W);
  const layers: DenoiserLayerWeights[] = [];
  for (let l = 0; l < c.layers; l++) {
    layers.push({
      ln1Scale: lnScale(W),
      ln1Bias: bias(W),
      qWeight: linear(W, W, 2),
      qBias: bias(W),
      kWeight: linear(W, W, 2),
      kBias: bias(W),
      vWeight: linear(W, W),
      vBias: bias(W),
      outWeight: linear(W, W),
      outBias: bias(W),
      ln2Scale: lnScale(W),
      ln2Bias: bias(W),
      fc1Weight: linear(W, 4 * W),
      fc1Bias: bias(4 * W),
      fc2Weight: linear(4 * W, W),
      fc2Bias: bias(W),
    });
  }
  const finalLnScale = lnScale(W);
  const finalLnBias = bias(W);
  const blockUnembedWeight = c.blocks.map((b) => linear(W, b.length));
  const blockUnembedBias = c.blocks.map((b) => bias(b.length));
  return {
    config: c,
    blockEmbedWeight,
    blockEmbedBias,
    positionEmbedding,
    timeWeight,
    timeBias,
    condWeight,
    condBias,
    layers,
    finalLnScale,
    finalLnBias,
    blockUnembedWeight,
    blockUnembedBias,
  };
}

/** The Fourier frequencies f_k = exp(−ln(maxPeriod)·k/half), k = 0..half−1. */
export function fourierFrequencies(fourierDim: number): Float64Array {
  const half = fourierDim / 2;
  const freqs = new Float64Array(half);
  for (let k = 0; k < half; k++) freqs[k] = Math.exp((-Math.log(FOURIER_MAX_PERIOD) * k) / half);
  return freqs;
}
