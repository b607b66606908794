/**
 * What the services need from a text encoder: turn a batch of strings into fixed-size vectors.
 *
 * Contract shared by every implementation:
 * - `encode(texts)` returns one `Float32Array` of length `dim` per input text, in input order.
 *   One array per text (rather than one `[n, dim]` block) because callers condition on, store
 *   and cache embeddings text by text; each array owns its own buffer.
 * - The vectors are the model's raw projected embeddings (for CLIP: `text_embeds`, the EOS
 *   token's final hidden state times the text projection). They are NOT L2-normalised: CLIP's
 *   contrastive head normalises, a conditioning network may want the raw scale. Callers that
 *   compare by cosine similarity normalise themselves (see `l2Normalize`).
 * - Texts longer than `maxTokens` tokens (special tokens included) are truncated, keeping the
 *   end-of-text token, exactly as the Python tokenizers do.
 * - Same model files + same batch = bit-identical output, across calls, loads and processes.
 *   A text encoded alone or inside a padded batch agrees to float rounding (~1e-6), since the
 *   padded length changes how the kernels block their sums.
 */
export interface TextEncoder {
  /**
   * Identity of the model: `sha256:<hex>` over the files the encoder actually reads (config,
   * tokenizer, ONNX graph), so two folders with the same bytes give the same id. Recorded in
   * artifact manifests so a result can be traced to the exact encoder that conditioned it.
   */
  readonly id: string;
  /** Length of every embedding `encode` returns. */
  readonly dim: number;
  /** Most tokens (including start/end tokens) the model reads; longer texts are truncated. */
  readonly maxTokens: number;
  encode(texts: readonly string[]): Promise<Float32Array[]>;
  /** Releases the model (native sessions); `encode` fails afterwards. Idempotent. */
  close(): Promise<void>;
}

/** Unit-length copy of `v` (cosine similarity = dot product afterwards); zero stays zero. */
export function l2Normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const out = new Float32Array(v.length);
  if (sum === 0) return out;
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}
