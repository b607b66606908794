import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidInput } from '@weightsmith/core';
import { buildTinyClipTextGraph } from './tiny-clip-graph.js';
import { buildTinyClipTokenizer, DEFAULT_TINY_CLIP_CORPUS, type TinyClipTokenizerFiles } from './tiny-clip-tokenizer.js';
import { randomTinyClipWeights, type TinyClipConfig, type TinyClipWeights } from './tiny-clip-weights.js';

export interface TinyClipOptions {
  /** Seed of the weights; same seed and options, same bytes in every file. */
  seed: number;
  /** Phrases whose words become single tokens (default: Fashion-MNIST/CIFAR-10 prompts). */
  vocab?: readonly string[];
  hidden?: number;
  layers?: number;
  heads?: number;
  /** MLP width (default 4 × hidden, as in CLIP). */
  intermediate?: number;
  projectionDim?: number;
  /** Positions the model has; also the tokenizer's model_max_length. */
  maxPositions?: number;
}

export interface TinyClipFolder {
  dir: string;
  /** The weights in the graph, for an independent forward pass. */
  weights: TinyClipWeights;
  tokenizer: TinyClipTokenizerFiles;
  /** Relative paths written. */
  files: string[];
}

/**
 * Writes a tiny CLIP text model in exactly the layout transformers.js loads (and real exports
 * such as Xenova/clip-vit-base-patch32 have): config.json, tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json and onnx/text_model.onnx. Deterministic from
 * the options, so tests generate it on the fly instead of committing binaries.
 */
export async function writeTinyClipFolder(dir: string, options: TinyClipOptions): Promise<TinyClipFolder> {
  const hidden = positive(options.hidden ?? 32, 'hidden');
  const heads = positive(options.heads ?? 2, 'heads');
  if (hidden % heads !== 0) throw invalidInput('heads', `hidden (${hidden}) must be divisible by heads (${heads})`);
  const maxPositions = positive(options.maxPositions ?? 16, 'maxPositions');
  if (maxPositions < 2) throw invalidInput('maxPositions', 'maxPositions must be at least 2 (start and end tokens)');
  const tokenizer = buildTinyClipTokenizer(options.vocab ?? DEFAULT_TINY_CLIP_CORPUS, maxPositions);
  const config: TinyClipConfig = {
    vocabSize: tokenizer.vocabSize,
    hiddenSize: hidden,
    intermediateSize: positive(options.intermediate ?? 4 * hidden, 'intermediate'),
    numLayers: positive(options.layers ?? 2, 'layers'),
    numHeads: heads,
    maxPositions,
    projectionDim: positive(options.projectionDim ?? 16, 'projectionDim'),
    layerNormEps: 1e-5,
  };
  const weights = randomTinyClipWeights(config, options.seed);

  const configJson = {
    _name_or_path: 'weightsmith/tiny-clip',
    architectures: ['CLIPTextModelWithProjection'],
    model_type: 'clip',
    projection_dim: config.projectionDim,
    logit_scale_init_value: 2.6592,
    text_config: {
      model_type: 'clip_text_model',
      vocab_size: config.vocabSize,
      hidden_size: config.hiddenSize,
      intermediate_size: config.intermediateSize,
      num_hidden_layers: config.numLayers,
      num_attention_heads: config.numHeads,
      max_position_embeddings: config.maxPositions,
      hidden_act: 'quick_gelu',
      layer_norm_eps: config.layerNormEps,
      projection_dim: config.projectionDim,
      bos_token_id: tokenizer.bosId,
      eos_token_id: tokenizer.eosId,
      pad_token_id: tokenizer.eosId,
    },
    'weightsmith.fixture': { seed: options.seed },
  };

  const files: [string, string | Uint8Array][] = [
    ['config.json', json(configJson)],
    ['tokenizer.json', json(tokenizer.tokenizerJson)],
    ['tokenizer_config.json', json(tokenizer.tokenizerConfig)],
    ['special_tokens_map.json', json(tokenizer.specialTokensMap)],
    ['onnx/text_model.onnx', buildTinyClipTextGraph(weights)],
  ];
  await mkdir(join(dir, 'onnx'), { recursive: true });
  for (const [rel, content] of files) await writeFile(join(dir, rel), content);
  return { dir, weights, tokenizer, files: files.map(([rel]) => rel) };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function positive(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw invalidInput(field, `${field} must be a positive integer, got ${value}`);
  return value;
}
