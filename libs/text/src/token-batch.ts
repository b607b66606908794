/**
 * Pure token-id plumbing between the tokenizer and the model: truncation that keeps the closing
 * special token, and right padding into one int64 batch.
 *
 * Why not the tokenizer's own `truncation: true`: transformers.js truncates by cutting the id
 * list at `max_length`, which drops `<|endoftext|>` from long texts. CLIP pools the hidden state
 * at the end-of-text position, so a text without it would be pooled at the wrong token. The
 * Python tokenizers truncate the content before adding the special tokens; this does the same.
 */

/**
 * Fits one encoded text (special tokens already added) into `maxTokens`: unchanged when it fits,
 * otherwise the first `maxTokens - 1` ids followed by the original last id when that id is one
 * of `closingIds` (the end-of-text token), or simply the first `maxTokens` ids otherwise.
 */
export function truncateKeepingEnd(ids: readonly number[], maxTokens: number, closingIds: ReadonlySet<number>): number[] {
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer, got ${maxTokens}`);
  if (ids.length <= maxTokens) return [...ids];
  const last = ids[ids.length - 1]!;
  if (maxTokens >= 2 && closingIds.has(last)) return [...ids.slice(0, maxTokens - 1), last];
  return ids.slice(0, maxTokens);
}

export interface PaddedBatch {
  /** Row-major [rows, length]. */
  inputIds: BigInt64Array;
  /** 1 for real tokens, 0 for padding; [rows, length]. */
  attentionMask: BigInt64Array;
  rows: number;
  length: number;
}

/**
 * Right-pads sequences to the longest one with `padId`. CLIP pads with `<|endoftext|>`; since its
 * attention is causal and pooling takes the first end-of-text position, right padding never
 * changes a row's embedding — which is what lets texts of different lengths share a batch.
 */
export function padRight(sequences: readonly (readonly number[])[], padId: number): PaddedBatch {
  const rows = sequences.length;
  let length = 0;
  for (const s of sequences) length = Math.max(length, s.length);
  const inputIds = new BigInt64Array(rows * length).fill(BigInt(padId));
  const attentionMask = new BigInt64Array(rows * length);
  sequences.forEach((seq, r) => {
    for (let t = 0; t < seq.length; t++) {
      inputIds[r * length + t] = BigInt(seq[t]!);
      attentionMask[r * length + t] = 1n;
    }
  });
  return { inputIds, attentionMask, rows, length };
}
