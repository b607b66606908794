/**
 * An independent float64 forward pass of the denoiser, written from the architecture comment in
 * denoiser-graph.ts with plain loops (one row, one block, one head at a time), so a mistake in
 * the graph's padding, gathers, transposes or head split shows up as a mismatch.
 */
import type { DenoiserWeights } from '../src/bundle/denoiser-weights.js';

type Vec = Float64Array;

function linear(x: Vec, w: Float32Array, b: Float32Array, inp: number, out: number): Vec {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b[o]!;
    for (let i = 0; i < inp; i++) s += x[i]! * w[i * out + o]!;
    y[o] = s;
  }
  return y;
}

function layerNorm(x: Vec, scale: Float32Array, bias: Float32Array, eps: number): Vec {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let variance = 0;
  for (const v of x) variance += (v - mean) ** 2;
  variance /= x.length;
  const inv = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * inv * scale[i]! + bias[i]!);
}

/** erf by Abramowitz–Stegun 7.1.26 is too coarse for 1e-4; use a series/continued fraction. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    // Maclaurin series: erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 80; n++) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
  }
  // erfc continued fraction (Lentz) for large |x|.
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + k / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));

/** One row: x [P], t scalar, cond [E] → [P]. */
export function referenceDenoiserRow(w: DenoiserWeights, x: ArrayLike<number>, t: number, cond: ArrayLike<number>): Float64Array {
  const c = w.config;
  const W = c.width;
  const H = c.heads;
  const D = W / H;
  const eps = c.layerNormEps;
  const half = c.fourierDim / 2;
  const fourier = new Float64Array(c.fourierDim);
  for (let k = 0; k < half; k++) {
    const f = Math.exp((-Math.log(10000) * k) / half);
    fourier[k] = Math.cos(t * f);
    fourier[half + k] = Math.sin(t * f);
  }
  const tokens: Vec[] = [];
  tokens.push(linear(fourier, w.timeWeight, w.timeBias, c.fourierDim, W));
  tokens.push(linear(Float64Array.from(cond), w.condWeight, w.condBias, c.condDim, W));
  c.blocks.forEach((b, i) => {
    const slice = new Float64Array(b.length);
    for (let j = 0; j < b.length; j++) slice[j] = x[b.start + j]!;
    tokens.push(linear(slice, w.blockEmbedWeight[i]!, w.blockEmbedBias[i]!, b.length, W));
  });
  let h = tokens.map((tok, s) => tok.map((v, d) => v + w.positionEmbedding[s * W + d]!));
  const T = h.length;

  for (const lw of w.layers) {
    const a = h.map((row) => layerNorm(row, lw.ln1Scale, lw.ln1Bias, eps));
    const q = a.map((row) => linear(row, lw.qWeight, lw.qBias, W, W));
    const k = a.map((row) => linear(row, lw.kWeight, lw.kBias, W, W));
    const v = a.map((row) => linear(row, lw.vWeight, lw.vBias, W, W));
    const ctx = h.map(() => new Float64Array(W));
    for (let head = 0; head < H; head++) {
      for (let i = 0; i < T; i++) {
        const scores = new Float64Array(T);
        for (let j = 0; j < T; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[i]![head * D + d]! * k[j]![head * D + d]!;
          scores[j] = s / Math.sqrt(D);
        }
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((p, q2) => p + q2, 0);
        for (let j = 0; j < T; j++) {
          for (let d = 0; d < D; d++) ctx[i]![head * D + d]! += (e[j]! / z) * v[j]![head * D + d]!;
        }
      }
    }
    h = h.map((row, i) => {
      const o = linear(ctx[i]!, lw.outWeight, lw.outBias, W, W);
      return row.map((val, d) => val + o[d]!);
    });
    h = h.map((row) => {
      const m = layerNorm(row, lw.ln2Scale, lw.ln2Bias, eps);
      const hid = linear(m, lw.fc1Weight, lw.fc1Bias, W, 4 * W).map(gelu);
      const o = linear(hid, lw.fc2Weight, lw.fc2Bias, 4 * W, W);
      return row.map((val, d) => val + o[d]!);
    });
  }
  const out = new Float64Array(c.paramCount);
  c.blocks.forEach((b, i) => {
    const n = layerNorm(h[2 + i]!, w.finalLnScale, w.finalLnBias, eps);
    const y = linear(n, w.blockUnembedWeight[i]!, w.blockUnembedBias[i]!, W, b.length);
    out.set(y, b.start);
  });
  return out;
}
