import type { TinyClipLayerWeights, TinyClipWeights } from '../../src/index.js';

/**
 * Independent forward pass of a CLIP text tower (Hugging Face CLIPTextTransformer +
 * text_projection), written from the architecture's definition in float64 on plain arrays,
 * one text at a time, with no padding, masks-as-tensors or argmax trick: attention simply loops
 * over earlier positions, and pooling takes the first position holding `eosId`. If the ONNX
 * graph agrees with this, it is the architecture it claims to be.
 */
export function referenceTextEmbedding(w: TinyClipWeights, ids: readonly number[], eosId: number): Float64Array {
  const c = w.config;
  const H = c.hiddenSize;
  const T = ids.length;
  const nh = c.numHeads;
  const hd = H / nh;

  let x: Float64Array[] = ids.map((id, t) => {
    const row = new Float64Array(H);
    for (let i = 0; i < H; i++) row[i] = w.tokenEmbedding[id * H + i]! + w.positionEmbedding[t * H + i]!;
    return row;
  });

  for (const layer of w.layers) x = encoderLayer(layer, x, T, H, nh, hd, c.intermediateSize, c.layerNormEps);

  const last = x.map((row) => layerNorm(row, w.finalLnScale, w.finalLnBias, c.layerNormEps));
  const eosPos = ids.indexOf(eosId);
  if (eosPos < 0) throw new Error('sequence has no end-of-text token');
  return linear(last[eosPos]!, w.projection, undefined, c.projectionDim, H);
}

function encoderLayer(
  l: TinyClipLayerWeights,
  x: Float64Array[],
  T: number,
  H: number,
  nh: number,
  hd: number,
  I: number,
  eps: number,
): Float64Array[] {
  const h = x.map((row) => layerNorm(row, l.ln1Scale, l.ln1Bias, eps));
  const scale = 1 / Math.sqrt(hd);
  const q = h.map((row) => linear(row, l.qWeight, l.qBias, H, H).map((v) => v * scale));
  const k = h.map((row) => linear(row, l.kWeight, l.kBias, H, H));
  const v = h.map((row) => linear(row, l.vWeight, l.vBias, H, H));

  const attended = x.map(() => new Float64Array(H));
  for (let head = 0; head < nh; head++) {
    const off = head * hd;
    for (let t = 0; t < T; t++) {
      // causal: position t sees positions 0..t only
      const scores: number[] = [];
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let d = 0; d < hd; d++) dot += q[t]![off + d]! * k[s]![off + d]!;
        scores.push(dot);
      }
      const max = Math.max(...scores);
      const exps = scores.map((z) => Math.exp(z - max));
      const sum = exps.reduce((a, b) => a + b, 0);
      for (let s = 0; s <= t; s++) {
        const p = exps[s]! / sum;
        for (let d = 0; d < hd; d++) attended[t]![off + d]! += p * v[s]![off + d]!;
      }
    }
  }
  const afterAttn = x.map((row, t) => add(row, linear(attended[t]!, l.outWeight, l.outBias, H, H)));

  return afterAttn.map((row) => {
    const n = layerNorm(row, l.ln2Scale, l.ln2Bias, eps);
    const up = linear(n, l.fc1Weight, l.fc1Bias, I, H).map((z) => z / (1 + Math.exp(-1.702 * z)));
    return add(row, linear(up, l.fc2Weight, l.fc2Bias, H, I));
  });
}

/** y = W·x + b with W stored [out, in] row-major. */
function linear(x: Float64Array, W: Float32Array, b: Float32Array | undefined, out: number, inp: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b === undefined ? 0 : b[o]!;
    for (let i = 0; i < inp; i++) s += W[o * inp + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Float64Array, gamma: Float32Array, beta: Float32Array, eps: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= n;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= n;
  const inv = 1 / Math.sqrt(variance + eps);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = (x[i]! - mean) * inv * gamma[i]! + beta[i]!;
  return y;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i]! + b[i]!;
  return y;
}
