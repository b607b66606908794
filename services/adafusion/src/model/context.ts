/**
 * The phenotype prompts of spec step 2, before training:
 *  - centroids: k-means (libs/tensor, seeded) of z̄ over a sample of training tiles, then fixed;
 *  - learned:   P trainable vectors, started at the z̄ of P random training tiles (their scale
 *               and location are those of real tiles, so the softmax starts informative);
 *  - text:      the prompts encoded once by the injected TextEncoder (unit-normalised, E dims),
 *               then a trainable Linear(E → d).
 */
import { invalidInput } from '@weightsmith/core';
import { kmeans, type Rng } from '@weightsmith/tensor';
import { l2Normalize, type TextEncoder } from '@weightsmith/text';
import type { PooledSlide } from './pool.js';
import { sampleIndices } from './pool.js';

/** z̄ (mean over the used models) of tile t of a pooled slide, written into out at `at`. */
function writeZbar(s: PooledSlide, t: number, Mu: number, d: number, out: Float32Array, at: number): void {
  for (let j = 0; j < d; j++) {
    let sum = 0;
    for (let i = 0; i < Mu; i++) sum += s.z[(t * Mu + i) * d + j]!;
    out[at + j] = sum / Mu;
  }
}

/** z̄ of about `cap` tiles spread over the slides (seeded). */
export function sampleZbar(pooled: readonly PooledSlide[], Mu: number, d: number, cap: number, rng: Rng): { points: Float32Array; n: number } {
  const perSlide = Math.max(1, Math.ceil(cap / pooled.length));
  const picks = pooled.map((s) => sampleIndices(rng.fork(`zbar/${s.id}`), s.n, perSlide));
  const n = picks.reduce((a, p) => a + p.length, 0);
  const points = new Float32Array(n * d);
  let row = 0;
  pooled.forEach((s, k) => {
    for (const t of picks[k]!) writeZbar(s, t, Mu, d, points, row++ * d);
  });
  return { points, n };
}

export async function centroidPrompts(pooled: readonly PooledSlide[], Mu: number, d: number, count: number, cap: number, rng: Rng): Promise<Float32Array> {
  const { points, n } = sampleZbar(pooled, Mu, d, cap, rng.fork('centroid-sample'));
  if (n < count) throw invalidInput('context.count', `${count} phenotype centroids need at least ${count} training tiles, got ${n}`);
  const result = await kmeans(points, n, d, count, { seed: rng.fork('kmeans').key, nInit: 4 });
  return result.centroids;
}

export function learnedPromptInit(pooled: readonly PooledSlide[], Mu: number, d: number, count: number, rng: Rng): Float32Array {
  const { points, n } = sampleZbar(pooled, Mu, d, Math.max(count * 8, 64), rng.fork('learned-sample'));
  if (n < count) throw invalidInput('context.count', `${count} learned prompts need at least ${count} training tiles, got ${n}`);
  const rows = rng.fork('learned-pick').sampleWithoutReplacement(n, count);
  const out = new Float32Array(count * d);
  rows.forEach((r, k) => out.set(points.subarray(r * d, (r + 1) * d), k * d));
  return out;
}

export async function encodeTextPrompts(encoder: TextEncoder | undefined, prompts: readonly string[]): Promise<{ embeddings: Float32Array; dim: number }> {
  if (encoder === undefined) throw invalidInput('context.prompts', "context kind 'text' needs a text encoder (opts.textEncoder)");
  const vectors = await encoder.encode(prompts);
  const dim = encoder.dim;
  const embeddings = new Float32Array(prompts.length * dim);
  vectors.forEach((v, k) => embeddings.set(l2Normalize(v), k * dim));
  return { embeddings, dim };
}
