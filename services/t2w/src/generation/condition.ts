/**
 * Turns a generation condition into the denoiser's condition vector: per class, the bundle's
 * prompt template through the text encoder, then prior-attention pooling; a free-form
 * description's embedding is used as it is (T2W).
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { TextEncoder } from '@weightsmith/text';
import type { BundleManifest } from '../bundle/index.js';
import { priorAttentionPool, type LruCache } from '../conditioning/index.js';
import type { GenerationCondition } from './request.js';

export function classPrompt(template: string, className: string): string {
  return template.split('{class}').join(className);
}

/** The texts the encoder reads for a condition (recorded in artifact metadata too). */
export function conditionPrompts(manifest: BundleManifest, condition: GenerationCondition): string[] {
  return condition.kind === 'text' ? [condition.text] : condition.classes.map((c) => classPrompt(manifest.text.promptTemplate, c));
}

/**
 * Embeds each prompt, through the cache when one is given (key: encoder id + prompt, so two
 * encoders never share entries).
 */
async function embedPrompts(encoder: TextEncoder, prompts: readonly string[], cache: LruCache | undefined): Promise<Float32Array[]> {
  const out: (Float32Array | undefined)[] = prompts.map((p) => cache?.get(`${encoder.id}\n${p}`));
  const missing = prompts.filter((_, i) => out[i] === undefined);
  if (missing.length > 0) {
    const encoded = await encoder.encode(missing);
    let k = 0;
    prompts.forEach((p, i) => {
      if (out[i] !== undefined) return;
      const e = encoded[k++]!;
      cache?.set(`${encoder.id}\n${p}`, e);
      out[i] = e;
    });
  }
  return out as Float32Array[];
}

/** The text embedding of each class's prompt, [classes.length, E] — what a cosine head compares with. */
export async function classEmbeddings(manifest: BundleManifest, encoder: TextEncoder, classes: readonly string[], cache?: LruCache): Promise<Float32Array> {
  const embeddings = await embedPrompts(encoder, classes.map((c) => classPrompt(manifest.text.promptTemplate, c)), cache);
  const out = new Float32Array(embeddings.length * encoder.dim);
  embeddings.forEach((e, i) => out.set(e, i * encoder.dim));
  return out;
}

export async function conditionVector(
  manifest: BundleManifest,
  encoder: TextEncoder,
  condition: GenerationCondition,
  cache?: LruCache,
): Promise<Float32Array> {
  const E = manifest.denoiser.condDim;
  if (encoder.dim !== E) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `text encoder ${encoder.id} gives ${encoder.dim}-d embeddings; bundle "${manifest.name}" conditions on ${E}`, {
      field: 'bundle.json.text.encoder',
    });
  }
  const embeddings = await embedPrompts(encoder, conditionPrompts(manifest, condition), cache);
  if (condition.kind === 'text') return Float32Array.from(embeddings[0]!);
  const stacked = new Float32Array(embeddings.length * E);
  embeddings.forEach((e, i) => stacked.set(e, i * E));
  return priorAttentionPool(stacked, E);
}
