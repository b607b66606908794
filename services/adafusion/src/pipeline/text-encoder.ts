/**
 * The text encoder behind `context: {kind: "text"}` fits: where it comes from (a local folder,
 * or an object-store prefix copied to a local cache), and opening it. Only task workers open it:
 * transformers.js' tokenizer and onnxruntime's `run()` block the thread they run on, so the
 * service's event loop never loads or runs the model; it only learns, from a probe task at
 * start-up, whether the configured encoder loads and what its id is.
 */
import { invalidFormat } from '@weightsmith/core';
import { ClipTextEncoder } from '@weightsmith/text';
import type { ObjectStore } from '@weightsmith/store';

/** A CLIP-style text tower in the layout libs/text reads (config.json, tokenizer files, onnx/text_model.onnx). */
export type TextEncoderSource = { kind: 'folder'; dir: string } | { kind: 'store'; prefix: string; cacheDir: string };

/** What the probe reports, and what a model record names: the encoder's content digest and width. */
export interface TextEncoderInfo {
  /** `sha256:<hex>` over the files the encoder reads: copies of the same model share it. */
  id: string;
  /** Width of its prompt embeddings (the fit projects them to d). */
  dim: number;
  maxTokens: number;
}

/** The configuration keys that choose the encoder (the service's config schema defines them). */
export interface TextEncoderSettings {
  ADAFUSION_TEXT_ENCODER_DIR: string;
  ADAFUSION_TEXT_ENCODER_PREFIX: string;
  ADAFUSION_CACHE_DIR: string;
}

export function textEncoderSourceOf(settings: TextEncoderSettings): TextEncoderSource | undefined {
  if (settings.ADAFUSION_TEXT_ENCODER_DIR !== '') return { kind: 'folder', dir: settings.ADAFUSION_TEXT_ENCODER_DIR };
  if (settings.ADAFUSION_TEXT_ENCODER_PREFIX !== '') {
    return { kind: 'store', prefix: settings.ADAFUSION_TEXT_ENCODER_PREFIX, cacheDir: settings.ADAFUSION_CACHE_DIR };
  }
  return undefined;
}

/** The setting an operator would look at, for messages: `ADAFUSION_TEXT_ENCODER_DIR=/models/conch-text`. */
export function describeTextEncoderSource(source: TextEncoderSource): string {
  return source.kind === 'folder' ? `ADAFUSION_TEXT_ENCODER_DIR=${source.dir}` : `ADAFUSION_TEXT_ENCODER_PREFIX=${source.prefix}`;
}

/** Loads the encoder in the calling thread (a task worker); inference then runs in this thread too. */
export function openTextEncoder(source: TextEncoderSource, store: ObjectStore, intraOpNumThreads: number): Promise<ClipTextEncoder> {
  return source.kind === 'folder'
    ? ClipTextEncoder.fromFolder(source.dir, { intraOpNumThreads })
    : ClipTextEncoder.fromStore(store, source.prefix, { cacheDir: source.cacheDir, intraOpNumThreads });
}

/** A text that exercises tokenizer and graph end to end, so a folder that loads but cannot run fails the probe. */
const PROBE_TEXT = 'tumour epithelium';

/** The start-up check, run in a task worker: load, encode one prompt, release. */
export async function probeTextEncoder(source: TextEncoderSource, store: ObjectStore, intraOpNumThreads: number): Promise<TextEncoderInfo> {
  const encoder = await openTextEncoder(source, store, intraOpNumThreads);
  try {
    const [embedding] = await encoder.encode([PROBE_TEXT]);
    if (embedding === undefined || embedding.length !== encoder.dim) {
      throw invalidFormat(`the text encoder returned ${embedding?.length ?? 0} values for one prompt; its config.json declares ${encoder.dim}`, 'config.json');
    }
    return { id: encoder.id, dim: encoder.dim, maxTokens: encoder.maxTokens };
  } finally {
    await encoder.close();
  }
}
