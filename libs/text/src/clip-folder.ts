import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidFormat, invalidInput } from '@weightsmith/core';

/**
 * The folder layout `@huggingface/transformers` (v4) loads a CLIP text model from, as found in
 * real exports such as `Xenova/clip-vit-base-patch32`:
 *
 * ```
 * config.json              model_type "clip" (text_config, vision_config, projection_dim)
 *                          or "clip_text_model" (a text-only config with projection_dim)
 * tokenizer.json           the fast-tokenizer file (BPE, </w> suffix, <|startoftext|>/<|endoftext|>)
 * tokenizer_config.json    tokenizer_class, special tokens, model_max_length (77 for CLIP)
 * special_tokens_map.json  not read by transformers.js; copied along when present
 * onnx/text_model.onnx     CLIPTextModelWithProjection: input_ids [batch, seq] int64 → text_embeds
 *                          (fp32; other dtypes use a suffix: text_model_fp16.onnx,
 *                          text_model_quantized.onnx for q8, …)
 * ```
 *
 * `CLIPTextModelWithProjection.from_pretrained` looks for `<subfolder>/<model_file_name><suffix>.onnx`
 * with subfolder `onnx` and model_file_name `text_model`; the other ONNX files of a full CLIP export
 * (vision_model.onnx, model.onnx) are never read. Checking the folder before handing it over
 * matters because transformers.js reports some missing files badly (no tokenizer_config.json →
 * "Cannot read properties of undefined (reading 'tokenizer_class')").
 */

/** dtype → file-name suffix, as transformers.js maps them (utils/dtypes.js). */
export const CLIP_DTYPE_SUFFIX = {
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const;
export type ClipDType = keyof typeof CLIP_DTYPE_SUFFIX;

export interface ClipFileOptions {
  /** Which ONNX variant to load (default `fp32`, i.e. `onnx/text_model.onnx`). */
  dtype?: ClipDType;
  /** Base name of the ONNX file in `onnx/` (default `text_model`). */
  modelFileName?: string;
}

/** Relative paths of the files the encoder reads, in a fixed order. */
export interface ClipFileSet {
  config: 'config.json';
  tokenizer: 'tokenizer.json';
  tokenizerConfig: 'tokenizer_config.json';
  /** e.g. `onnx/text_model.onnx`. */
  onnx: string;
}

/** Files copied along when present, never required. */
export const CLIP_OPTIONAL_FILES = ['special_tokens_map.json'] as const;

export function clipFileSet(options: ClipFileOptions = {}): ClipFileSet {
  const dtype = options.dtype ?? 'fp32';
  if (!Object.hasOwn(CLIP_DTYPE_SUFFIX, dtype)) {
    throw invalidInput('dtype', `unknown dtype "${dtype}"; one of ${Object.keys(CLIP_DTYPE_SUFFIX).join(', ')}`);
  }
  const base = options.modelFileName ?? 'text_model';
  if (!/^[\w.-]+$/.test(base)) throw invalidInput('modelFileName', `model file name "${base}" must be a plain file name`);
  return {
    config: 'config.json',
    tokenizer: 'tokenizer.json',
    tokenizerConfig: 'tokenizer_config.json',
    onnx: `onnx/${base}${CLIP_DTYPE_SUFFIX[dtype]}.onnx`,
  };
}

/** Files in the order they are hashed into the model id. */
export function requiredClipFiles(set: ClipFileSet): string[] {
  return [set.config, set.tokenizer, set.tokenizerConfig, set.onnx];
}

/**
 * True for files an ONNX model keeps next to itself when it is over protobuf's 2 GB limit
 * (`text_model.onnx_data`, `text_model.onnx_data_1`, …); onnxruntime reads them by path.
 */
export function isExternalDataOf(onnxPath: string, relPath: string): boolean {
  return relPath.startsWith(`${onnxPath}_data`) && /^_data(_\d+)?$/.test(relPath.slice(onnxPath.length));
}

/** What the loader needs to know about a checked folder. */
export interface ClipFolderInfo {
  dir: string;
  files: ClipFileSet;
  /** Most tokens the model reads: min(tokenizer model_max_length, max_position_embeddings). */
  maxTokens: number;
  /** Length of `text_embeds`. */
  projectionDim: number;
  hiddenSize: number;
}

/**
 * Checks that `dir` holds a loadable CLIP text model and reads its dimensions. Every problem is a
 * `WeightsmithError` `invalid_format` whose `field` is the offending file, so an operator learns
 * exactly which file to add or fix.
 */
export async function inspectClipFolder(dir: string, options: ClipFileOptions = {}): Promise<ClipFolderInfo> {
  const files = clipFileSet(options);
  const missing: string[] = [];
  for (const rel of requiredClipFiles(files)) {
    const st = await stat(join(dir, rel)).catch(() => undefined);
    if (!st?.isFile()) missing.push(rel);
    else if (st.size === 0) throw invalidFormat(`CLIP model folder ${dir}: ${rel} is empty`, rel);
  }
  if (missing.length > 0) {
    const first = missing[0]!;
    const hint =
      first === files.onnx
        ? ` (CLIPTextModelWithProjection loads ${files.onnx}; a full CLIP export has it next to vision_model.onnx)`
        : '';
    throw invalidFormat(`CLIP model folder ${dir} is missing ${missing.join(', ')}${hint}`, first);
  }

  const config = await readJsonObject(dir, files.config);
  const textConfig = clipTextConfig(config, files.config);
  const maxPositions = positiveInt(textConfig['max_position_embeddings'] ?? 77, files.config, 'max_position_embeddings');
  const hiddenSize = positiveInt(textConfig['hidden_size'] ?? 512, files.config, 'hidden_size');
  const projectionDim = positiveInt(
    config['projection_dim'] ?? textConfig['projection_dim'] ?? 512,
    files.config,
    'projection_dim',
  );

  const tokenizer = await readJsonObject(dir, files.tokenizer);
  const model = tokenizer['model'];
  if (typeof model !== 'object' || model === null || typeof (model as Record<string, unknown>)['type'] !== 'string') {
    throw invalidFormat(`${files.tokenizer} in ${dir} has no "model" section with a "type"; is it a fast-tokenizer file?`, files.tokenizer);
  }

  const tokenizerConfig = await readJsonObject(dir, files.tokenizerConfig);
  const modelMax = tokenizerConfig['model_max_length'];
  // transformers writes a huge sentinel (1e30) when it does not know the limit.
  const tokenizerMax =
    typeof modelMax === 'number' && Number.isInteger(modelMax) && modelMax > 0 && modelMax < 1e9 ? modelMax : Infinity;

  return { dir, files, maxTokens: Math.min(maxPositions, tokenizerMax), projectionDim, hiddenSize };
}

/** The text part of a CLIP config: `text_config` of a full CLIP config, or the config itself. */
function clipTextConfig(config: Record<string, unknown>, file: string): Record<string, unknown> {
  const type = config['model_type'];
  if (type === 'clip') {
    const text = config['text_config'] ?? {};
    if (typeof text !== 'object' || text === null || Array.isArray(text)) {
      throw invalidFormat(`${file}: "text_config" must be an object`, file);
    }
    return text as Record<string, unknown>;
  }
  if (type === 'clip_text_model') return config;
  throw invalidFormat(
    `${file}: model_type ${JSON.stringify(type)} is not a CLIP text model (expected "clip" or "clip_text_model")`,
    file,
  );
}

async function readJsonObject(dir: string, rel: string): Promise<Record<string, unknown>> {
  const text = await readFile(join(dir, rel), 'utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidFormat(`${rel} in ${dir} is not valid JSON: ${(err as Error).message}`, rel);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidFormat(`${rel} in ${dir} must hold a JSON object`, rel);
  }
  return value as Record<string, unknown>;
}

function positiveInt(value: unknown, file: string, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw invalidFormat(`${file}: ${key} must be a positive integer, got ${JSON.stringify(value)}`, file);
  }
  return value;
}
