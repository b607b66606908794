import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCode, invalidFormat, invalidInput, isWeightsmithError, notFound, WeightsmithError } from '@weightsmith/core';
import type { InferencePool, PoolModel, TensorMap } from '@weightsmith/onnx';
import type { ObjectStore } from '@weightsmith/store';
import {
  CLIP_OPTIONAL_FILES,
  clipFileSet,
  inspectClipFolder,
  isExternalDataOf,
  requiredClipFiles,
  type ClipFileOptions,
} from './clip-folder.js';
import { digestFiles } from './file-digest.js';
import { copyStorePrefix, normalizePrefix, prefixUri } from './store-prefix-cache.js';
import type { TextEncoder } from './text-encoder.js';
import { padRight, truncateKeepingEnd } from './token-batch.js';

export interface ClipTextEncoderOptions extends ClipFileOptions {
  /**
   * Let transformers.js download from the model hub when the source is not a local folder
   * (the services map `ALLOW_REMOTE_MODELS`). Off by default: only local folders load, and a
   * hub-style name fails before any network access.
   */
  allowRemoteModels?: boolean;
  /** Hub revision for remote loads (default `main`). */
  revision?: string;
  /** Where transformers.js keeps remote downloads (default: its own cache folder). */
  remoteCacheDir?: string;
  /** onnxruntime intra-op threads (default 1; services pass `ORT_INTRA_OP_THREADS`). */
  intraOpNumThreads?: number;
  /** Texts per model run; longer inputs are encoded in several runs (default 32). */
  batchSize?: number;
  /**
   * Run the text model on this InferencePool's worker threads instead of the calling thread
   * (local folders only): services pass theirs, so encoding a prompt never blocks the event loop.
   * Tokenisation stays here (fast, pure JS). The pool is the caller's; close() unloads the model.
   */
  pool?: InferencePool;
}

export interface ClipStoreOptions extends ClipTextEncoderOptions {
  /** Local folder for copies of store prefixes (see `copyStorePrefix`). */
  cacheDir: string;
}

/** The parts of transformers.js this module uses, typed at the boundary. */
interface Tokenizer {
  (texts: string[], options: { add_special_tokens: boolean; padding: false; truncation: false; return_tensor: false }): {
    input_ids: number[][];
  };
  eos_token_id: number | null | undefined;
  pad_token_id: number | null | undefined;
  model_max_length: number;
}
interface TensorLike {
  dims: number[];
  data: unknown;
  dispose?: () => void;
}
interface TextModel {
  (inputs: Record<string, unknown>): Promise<Record<string, TensorLike | undefined>>;
  config: Record<string, unknown>;
  dispose(): Promise<unknown>;
}
type Transformers = typeof import('@huggingface/transformers');

/**
 * CLIP text encoder (`CLIPTextModelWithProjection` + `AutoTokenizer` of `@huggingface/transformers`).
 * `encode` returns the raw `text_embeds` (not normalised; see `TextEncoder`).
 *
 * Inference goes through onnxruntime-node, whose `run()` holds the calling thread for the whole
 * run; services that must stay responsive pass an InferencePool (`pool`), which runs the same ONNX
 * file on its worker threads.
 */
export class ClipTextEncoder implements TextEncoder {
  readonly id: string;
  readonly dim: number;
  readonly maxTokens: number;
  /** The local folder the model was loaded from (for remote loads, the hub name). */
  readonly source: string;

  private readonly tf: Transformers;
  private readonly tokenizer: Tokenizer;
  /** The text model: in this thread (transformers.js) or on an InferencePool. */
  private readonly model: { kind: 'local'; model: TextModel } | { kind: 'pool'; pool: InferencePool; model: PoolModel };
  private readonly eosId: number;
  private readonly padId: number;
  private readonly batchSize: number;
  private closed = false;

  private constructor(fields: {
    id: string;
    dim: number;
    maxTokens: number;
    source: string;
    tf: Transformers;
    tokenizer: Tokenizer;
    model: { kind: 'local'; model: TextModel } | { kind: 'pool'; pool: InferencePool; model: PoolModel };
    batchSize: number;
  }) {
    this.id = fields.id;
    this.dim = fields.dim;
    this.maxTokens = fields.maxTokens;
    this.source = fields.source;
    this.tf = fields.tf;
    this.tokenizer = fields.tokenizer;
    this.model = fields.model;
    this.batchSize = fields.batchSize;
    const eos = fields.tokenizer.eos_token_id;
    if (typeof eos !== 'number') {
      throw invalidFormat(`tokenizer of ${fields.source} has no eos_token; CLIP pools at the end-of-text token`, 'tokenizer_config.json');
    }
    this.eosId = eos;
    this.padId = typeof fields.tokenizer.pad_token_id === 'number' ? fields.tokenizer.pad_token_id : eos;
  }

  /**
   * Loads from a local folder, or — only with `allowRemoteModels` — a hub name such as
   * `Xenova/clip-vit-base-patch32`. A source that is not an existing folder fails with
   * `not_found` when remote loading is off.
   */
  static async load(source: string, options: ClipTextEncoderOptions = {}): Promise<ClipTextEncoder> {
    if (typeof source !== 'string' || source === '') throw invalidInput('source', 'model source must be a non-empty string');
    const local = resolve(source);
    if ((await stat(local).catch(() => undefined))?.isDirectory()) return ClipTextEncoder.fromFolder(local, options);
    if (options.allowRemoteModels === true) return ClipTextEncoder.fromHub(source, options);
    throw notFound(
      `CLIP model "${source}" is not a local folder (looked at ${local}) and remote model downloads are off; ` +
        'put the exported model folder there, or enable remote models (ALLOW_REMOTE_MODELS=true)',
      'source',
    );
  }

  /** Loads from a local folder laid out as `inspectClipFolder` describes; no network access. */
  static async fromFolder(dir: string, options: ClipTextEncoderOptions = {}): Promise<ClipTextEncoder> {
    const batchSize = checkBatchSize(options.batchSize);
    const abs = resolve(dir);
    const info = await inspectClipFolder(abs, options);
    const id = await digestFiles(abs, requiredClipFiles(info.files));
    const tf = await loadTransformers(options.allowRemoteModels === true);
    // An absolute path is never taken for a hub id, and local_files_only forbids any fallback.
    const extra = { local_files_only: true };
    const { tokenizer, model } =
      options.pool === undefined
        ? await wrapLoad(abs, async () => {
            const pair = await loadPair(tf, abs, options, extra);
            return { tokenizer: pair.tokenizer, model: { kind: 'local' as const, model: pair.model } };
          })
        : await wrapLoad(abs, async () => ({
            tokenizer: await loadTokenizer(tf, abs, extra),
            model: { kind: 'pool' as const, pool: options.pool!, model: await loadPooledTextModel(options.pool!, join(abs, info.files.onnx)) },
          }));
    const maxTokens = Math.min(info.maxTokens, finiteOr(tokenizer.model_max_length, Infinity));
    return new ClipTextEncoder({ id, dim: info.projectionDim, maxTokens, source: abs, tf, tokenizer, model, batchSize });
  }

  /**
   * Copies the model files under `prefix` of an object store into `cacheDir` (once per content:
   * see `copyStorePrefix`) and loads that folder. Only the files the encoder reads are copied,
   * so a full CLIP export's vision model stays in the store.
   */
  static async fromStore(store: ObjectStore, prefix: string, options: ClipStoreOptions): Promise<ClipTextEncoder> {
    if (typeof options?.cacheDir !== 'string' || options.cacheDir === '') {
      throw invalidInput('cacheDir', 'loading from an object store needs a local cacheDir');
    }
    const files = clipFileSet(options);
    const base = normalizePrefix(prefix);
    const copy = await copyStorePrefix(store, base, {
      cacheDir: options.cacheDir,
      select: (available) => {
        const have = new Set(available);
        const missing = requiredClipFiles(files).filter((rel) => !have.has(rel));
        if (missing.length > 0) {
          throw invalidFormat(`CLIP model at ${prefixUri(store, base)} is missing ${missing.join(', ')}`, missing[0]);
        }
        const optional = CLIP_OPTIONAL_FILES.filter((rel) => have.has(rel));
        const external = available.filter((rel) => isExternalDataOf(files.onnx, rel));
        return [...requiredClipFiles(files), ...optional, ...external];
      },
    });
    return ClipTextEncoder.fromFolder(copy.dir, options);
  }

  /** Remote load through transformers.js' own download cache. */
  private static async fromHub(name: string, options: ClipTextEncoderOptions): Promise<ClipTextEncoder> {
    const batchSize = checkBatchSize(options.batchSize);
    const tf = await loadTransformers(true);
    const revision = options.revision ?? 'main';
    const extra = { local_files_only: false, revision, ...(options.remoteCacheDir ? { cache_dir: options.remoteCacheDir } : {}) };
    const { tokenizer, model } = await wrapLoad(name, () => loadPair(tf, name, options, extra));
    const config = model.config;
    const text = (config['text_config'] ?? config) as Record<string, unknown>;
    const dim = finiteOr(config['projection_dim'] ?? text['projection_dim'], 512);
    const maxTokens = Math.min(finiteOr(text['max_position_embeddings'], 77), finiteOr(tokenizer.model_max_length, Infinity));
    // The downloaded files sit in <cache>/<name>/ for the main revision: hash them like a folder.
    const cached = join(options.remoteCacheDir ?? tf.env.cacheDir ?? '', name);
    const id =
      revision === 'main'
        ? await digestFiles(cached, requiredClipFiles(clipFileSet(options))).catch(() => `hub:${name}@${revision}`)
        : `hub:${name}@${revision}`;
    return new ClipTextEncoder({ id, dim, maxTokens, source: name, tf, tokenizer, model: { kind: 'local', model }, batchSize });
  }

  /**
   * Token ids per text, with start/end tokens, truncated to `maxTokens` keeping `<|endoftext|>`
   * (unpadded). Exposed for diagnostics and tests.
   */
  tokenize(texts: readonly string[]): number[][] {
    this.ensureOpen();
    checkTexts(texts);
    if (texts.length === 0) return [];
    const { input_ids } = this.tokenizer([...texts], {
      add_special_tokens: true,
      padding: false,
      truncation: false,
      return_tensor: false,
    });
    const closing = new Set([this.eosId]);
    return input_ids.map((ids) => truncateKeepingEnd(ids, this.maxTokens, closing));
  }

  async encode(texts: readonly string[]): Promise<Float32Array[]> {
    const sequences = this.tokenize(texts);
    const out: Float32Array[] = [];
    for (let start = 0; start < sequences.length; start += this.batchSize) {
      out.push(...(await this.run(sequences.slice(start, start + this.batchSize))));
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.model.kind === 'local') await this.model.model.dispose();
    else await this.model.pool.unload(this.model.model);
  }

  /** text_embeds [rows, dim] for a padded batch, on the pool's worker thread. */
  private async runPooled(pool: InferencePool, model: PoolModel, batch: ReturnType<typeof padRight>): Promise<Float32Array> {
    const dims = [batch.rows, batch.length];
    const feeds: TensorMap = { input_ids: { dtype: 'int64', dims, data: batch.inputIds } };
    if (model.inputs.some((i) => i.name === 'attention_mask')) feeds['attention_mask'] = { dtype: 'int64', dims, data: batch.attentionMask };
    const out = (await pool.run(model, feeds, ['text_embeds']))['text_embeds'];
    if (out?.dtype !== 'float32' || out.dims.length !== 2 || out.dims[0] !== batch.rows || out.dims[1] !== this.dim) {
      throw invalidFormat(`${this.source}: text_embeds has shape [${out?.dims.join(', ')}], expected float32 [${batch.rows}, ${this.dim}] (projection_dim in config.json)`, 'onnx');
    }
    return out.data;
  }

  private async run(sequences: number[][]): Promise<Float32Array[]> {
    const batch = padRight(sequences, this.padId);
    if (this.model.kind === 'pool') {
      const data = await this.runPooled(this.model.pool, this.model.model, batch);
      return sequences.map((_, r) => data.slice(r * this.dim, (r + 1) * this.dim));
    }
    const dims = [batch.rows, batch.length];
    const inputs = {
      input_ids: new this.tf.Tensor('int64', batch.inputIds, dims),
      attention_mask: new this.tf.Tensor('int64', batch.attentionMask, dims),
    };
    // transformers.js feeds the session only the inputs its graph declares (CLIP exports take
    // input_ids alone; an export with attention_mask gets that too).
    const outputs = await this.model.model(inputs);
    try {
      const embeds = outputs['text_embeds'];
      if (embeds === undefined) {
        throw invalidFormat(`${this.source}: the ONNX text model has no text_embeds output; is it CLIPTextModelWithProjection?`, 'onnx');
      }
      if (!(embeds.data instanceof Float32Array) || embeds.dims.length !== 2 || embeds.dims[0] !== batch.rows || embeds.dims[1] !== this.dim) {
        throw invalidFormat(
          `${this.source}: text_embeds has shape [${embeds.dims.join(', ')}], expected float32 [${batch.rows}, ${this.dim}] (projection_dim in config.json)`,
          'onnx',
        );
      }
      const data = embeds.data;
      return sequences.map((_, r) => data.slice(r * this.dim, (r + 1) * this.dim));
    } finally {
      for (const t of Object.values(outputs)) t?.dispose?.();
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new WeightsmithError(ErrorCode.NotReady, `CLIP text encoder ${this.id} is closed`);
  }
}

/**
 * transformers.js is imported on first use: it loads onnxruntime and sharp, which processes
 * that never encode text should not pay for. Its remote switch is process-wide; every local load
 * also passes local_files_only, so one encoder that enables remote loads does not open the
 * network for the others.
 */
async function loadTransformers(allowRemote: boolean): Promise<Transformers> {
  const tf = await import('@huggingface/transformers');
  tf.env.allowRemoteModels = allowRemote;
  tf.env.allowLocalModels = true;
  return tf;
}

async function loadTokenizer(tf: Transformers, source: string, extra: Record<string, unknown>): Promise<Tokenizer> {
  return (await tf.AutoTokenizer.from_pretrained(source, extra)) as unknown as Tokenizer;
}

/** The folder's text model on the pool; it must declare input_ids and output text_embeds. */
async function loadPooledTextModel(pool: InferencePool, onnxPath: string): Promise<PoolModel> {
  const model = await pool.load(onnxPath, { name: onnxPath });
  if (!model.inputs.some((i) => i.name === 'input_ids') || !model.outputs.some((o) => o.name === 'text_embeds')) {
    await pool.unload(model);
    throw invalidFormat(`${onnxPath}: the text model must take input_ids and give text_embeds (CLIPTextModelWithProjection)`, 'onnx');
  }
  return model;
}

async function loadPair(
  tf: Transformers,
  source: string,
  options: ClipTextEncoderOptions,
  extra: Record<string, unknown>,
): Promise<{ tokenizer: Tokenizer; model: TextModel }> {
  const threads = options.intraOpNumThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw invalidInput('intraOpNumThreads', `intraOpNumThreads must be a positive integer, got ${threads}`);
  const tokenizer = await loadTokenizer(tf, source, extra);
  const model = (await tf.CLIPTextModelWithProjection.from_pretrained(source, {
    ...extra,
    device: 'cpu',
    dtype: options.dtype ?? 'fp32',
    model_file_name: options.modelFileName ?? 'text_model',
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  })) as unknown as TextModel;
  return { tokenizer, model };
}

/** Turns transformers.js/onnxruntime load failures into one `invalid_format` naming the source. */
async function wrapLoad<T>(source: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    if (isWeightsmithError(err)) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new WeightsmithError(ErrorCode.InvalidFormat, `could not load CLIP text model from ${source}: ${message}`, {
      field: 'source',
      cause: err,
    });
  }
}

function checkTexts(texts: readonly string[]): void {
  if (!Array.isArray(texts)) throw invalidInput('texts', 'texts must be an array of strings');
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw invalidInput(`texts.${i}`, `texts[${i}] must be a string, got ${typeof t}`);
  });
}

function checkBatchSize(batchSize: number | undefined): number {
  const b = batchSize ?? 32;
  if (!Number.isInteger(b) || b < 1) throw invalidInput('batchSize', `batchSize must be a positive integer, got ${b}`);
  return b;
}

function finiteOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 && value < 1e9 ? value : fallback;
}
