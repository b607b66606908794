import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

/**
 * T2W's "prior attention" pooling of a task's class embeddings into one condition vector:
 *
 *   g = mean_c(e_c),   w = softmax_c(cos(e_c, g)),   v = Σ_c w_c e_c
 *
 * Normalisation choice (the authors' code is not public in a form we could read; documented
 * here): the e_c are used as given — the text encoder's output, which for CLIP with projection
 * is whatever the bundle's encoder returns — and not L2-normalised first. cos() is
 * scale-invariant, so only v depends on this; pass `normalize: true` to L2-normalise every e_c
 * before pooling when a bundle was trained that way. If g is the zero vector (e.g. two opposite
 * embeddings), cos(e_c, g) is undefined; every weight is then equal and v = g.
 * A single class gives v = e_1. Arithmetic in float64, output F32.
 */
export interface PriorAttentionOptions {
  normalize?: boolean;
}

/** `embeddings` holds n rows of E values (n = embeddings.length / dim). */
export function priorAttentionPool(embeddings: Float32Array, dim: number, options: PriorAttentionOptions = {}): Float32Array {
  if (!Number.isSafeInteger(dim) || dim < 1) throw invalidInput('dim', `dim must be a positive integer, got ${String(dim)}`);
  if (!(embeddings instanceof Float32Array) || embeddings.length === 0 || embeddings.length % dim !== 0) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `embeddings must be a non-empty Float32Array of n × ${dim} values, got length ${embeddings?.length}`, { field: 'embeddings' });
  }
  const n = embeddings.length / dim;
  const rows: Float64Array[] = [];
  for (let c = 0; c < n; c++) {
    const row = Float64Array.from(embeddings.subarray(c * dim, (c + 1) * dim));
    let norm2 = 0;
    for (let i = 0; i < dim; i++) {
      if (!Number.isFinite(row[i]!)) {
        throw new WeightsmithError(ErrorCode.NonFinite, `embedding ${c} has a non-finite value at ${i}`, { field: 'embeddings' });
      }
      norm2 += row[i]! * row[i]!;
    }
    if (norm2 === 0) throw invalidInput('embeddings', `embedding ${c} is the zero vector, its cosine similarity is undefined`);
    if (options.normalize) {
      const inv = 1 / Math.sqrt(norm2);
      for (let i = 0; i < dim; i++) row[i] = row[i]! * inv;
    }
    rows.push(row);
  }

  const g = new Float64Array(dim);
  for (const row of rows) for (let i = 0; i < dim; i++) g[i] = g[i]! + row[i]! / n;
  let gNorm2 = 0;
  for (let i = 0; i < dim; i++) gNorm2 += g[i]! * g[i]!;

  const scores = rows.map((row) => {
    if (gNorm2 === 0) return 0;
    let dot = 0;
    let r2 = 0;
    for (let i = 0; i < dim; i++) {
      dot += row[i]! * g[i]!;
      r2 += row[i]! * row[i]!;
    }
    return dot / Math.sqrt(r2 * gNorm2);
  });
  const weights = softmax(scores);
  const v = new Float32Array(dim);
  const acc = new Float64Array(dim);
  rows.forEach((row, c) => {
    const w = weights[c]!;
    for (let i = 0; i < dim; i++) acc[i] = acc[i]! + w * row[i]!;
  });
  v.set(acc);
  return v;
}

/** Numerically stable softmax (subtract the max before exp). */
export function softmax(scores: readonly number[]): Float64Array {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  const out = new Float64Array(scores.length);
  let sum = 0;
  scores.forEach((s, i) => {
    const e = Math.exp(s - max);
    out[i] = e;
    sum += e;
  });
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}
