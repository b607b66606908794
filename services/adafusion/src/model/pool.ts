/**
 * Turns cohort slides into what training needs, one slide in memory at a time: a paired sample
 * of raw tiles for the closed-form compression, then per slide a seeded subset of at most
 * `poolTilesPerSlide` tiles, compressed once (Z [n, M_used, d]) with the slide's label or targets.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import type { Rng } from '@weightsmith/tensor';
import type { AlignedSlide, Cohort } from '../types.js';
import { compressRows, type AffineMap } from './compress.js';

export interface PooledSlide {
  id: string;
  n: number;
  /** n × Mu × d (tile-major). */
  z: Float32Array;
  /** Learned compression only: the pooled raw features per used model (n × dₘ). */
  raw?: Float32Array[];
  /** Classification: class index. */
  label?: number;
  /** Regression: n × G targets of the pooled tiles. */
  targets?: Float32Array;
}

export async function loadCheckedSlide(cohort: Cohort, id: string, signal?: AbortSignal): Promise<AlignedSlide> {
  throwIfAborted(signal);
  const slide = await cohort.loadSlide(id);
  const M = cohort.models.length;
  if (!Number.isSafeInteger(slide.n) || slide.n < 1) throw invalidInput(`slides.${id}`, `slide '${id}' has no tiles`);
  if (slide.features.length !== M) throw invalidInput(`slides.${id}`, `slide '${id}' has features of ${slide.features.length} models, the cohort has ${M}`);
  cohort.models.forEach((m, i) => {
    if (slide.features[i]!.length !== slide.n * m.dim) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `slide '${id}' model '${m.name}': ${slide.features[i]!.length} values, expected ${slide.n} tiles × ${m.dim}`, {
        field: `slides.${id}.${m.name}`,
      });
    }
  });
  return slide;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new WeightsmithError(ErrorCode.Cancelled, 'the fit was cancelled');
}

/** Rows `idx` of an n × dim matrix, checked finite (the error names slide, model and tile). */
export function gatherRows(x: Float32Array, dim: number, idx: readonly number[], where: { slide: string; model: string }): Float32Array {
  const out = new Float32Array(idx.length * dim);
  idx.forEach((t, r) => {
    const row = x.subarray(t * dim, (t + 1) * dim);
    for (let j = 0; j < dim; j++) {
      const v = row[j]!;
      if (v - v !== 0) {
        throw new WeightsmithError(ErrorCode.NonFinite, `slide '${where.slide}' model '${where.model}' tile ${t} feature ${j} is ${v}`, {
          field: `slides.${where.slide}.${where.model}`,
        });
      }
    }
    out.set(row, r * dim);
  });
  return out;
}

/** k of n indices, seeded, ascending (all of them when k ≥ n). */
export function sampleIndices(rng: Rng, n: number, k: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  return rng.sampleWithoutReplacement(n, k).sort((a, b) => a - b);
}

/** Paired raw tiles of the used models across the training slides, about `cap` in all. */
export async function collectPairedSample(
  cohort: Cohort,
  ids: readonly string[],
  used: readonly number[],
  cap: number,
  rng: Rng,
  signal?: AbortSignal,
): Promise<{ samples: Float32Array[]; n: number }> {
  const perSlide = Math.max(1, Math.ceil(cap / ids.length));
  const parts: Float32Array[][] = used.map(() => []);
  let n = 0;
  for (const id of ids) {
    const slide = await loadCheckedSlide(cohort, id, signal);
    const idx = sampleIndices(rng.fork(`pca/${id}`), slide.n, perSlide);
    used.forEach((m, i) => {
      const model = cohort.models[m]!;
      parts[i]!.push(gatherRows(slide.features[m]!, model.dim, idx, { slide: id, model: model.name }));
    });
    n += idx.length;
  }
  const samples = used.map((m, i) => {
    const dim = cohort.models[m]!.dim;
    const out = new Float32Array(n * dim);
    let at = 0;
    for (const p of parts[i]!) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  });
  return { samples, n };
}

export interface PoolOptions {
  used: readonly number[];
  maps: readonly AffineMap[];
  d: number;
  tilesPerSlide: number;
  keepRaw: boolean;
  rng: Rng;
  signal?: AbortSignal;
  /** Attaches label/targets to each pooled slide (the rows of the kept tiles). */
  attach: (slide: AlignedSlide, idx: readonly number[], pooled: PooledSlide) => void;
}

export async function poolSlides(cohort: Cohort, ids: readonly string[], opts: PoolOptions): Promise<PooledSlide[]> {
  const { used, maps, d } = opts;
  const Mu = used.length;
  const out: PooledSlide[] = [];
  for (const id of ids) {
    const slide = await loadCheckedSlide(cohort, id, opts.signal);
    const idx = sampleIndices(opts.rng.fork(`pool/${id}`), slide.n, opts.tilesPerSlide);
    const n = idx.length;
    const z = new Float32Array(n * Mu * d);
    const raw: Float32Array[] = [];
    for (let i = 0; i < Mu; i++) {
      const model = cohort.models[used[i]!]!;
      const x = gatherRows(slide.features[used[i]!]!, model.dim, idx, { slide: id, model: model.name });
      const code = await compressRows(x, n, maps[i]!);
      for (let t = 0; t < n; t++) z.set(code.subarray(t * d, (t + 1) * d), (t * Mu + i) * d);
      if (opts.keepRaw) raw.push(x);
    }
    const pooled: PooledSlide = { id, n, z };
    if (opts.keepRaw) pooled.raw = raw;
    opts.attach(slide, idx, pooled);
    out.push(pooled);
  }
  return out;
}
