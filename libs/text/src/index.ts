export type { TextEncoder } from './text-encoder.js';
export { l2Normalize } from './text-encoder.js';
export {
  ClipTextEncoder,
  type ClipTextEncoderOptions,
  type ClipStoreOptions,
} from './clip-text-encoder.js';
export {
  CLIP_DTYPE_SUFFIX,
  CLIP_OPTIONAL_FILES,
  clipFileSet,
  inspectClipFolder,
  requiredClipFiles,
  type ClipDType,
  type ClipFileOptions,
  type ClipFileSet,
  type ClipFolderInfo,
} from './clip-folder.js';
export { digestFiles, sha256File } from './file-digest.js';
export { copyStorePrefix, normalizePrefix, prefixUri, type PrefixCopy, type PrefixCopyOptions } from './store-prefix-cache.js';
export { padRight, truncateKeepingEnd, type PaddedBatch } from './token-batch.js';
export {
  writeTinyClipFolder,
  type TinyClipFolder,
  type TinyClipOptions,
} from './tiny-clip/write-tiny-clip-folder.js';
export { buildTinyClipTokenizer, DEFAULT_TINY_CLIP_CORPUS, CLIP_BOS, CLIP_EOS, type TinyClipTokenizerFiles } from './tiny-clip/tiny-clip-tokenizer.js';
export { buildTinyClipTextGraph } from './tiny-clip/tiny-clip-graph.js';
export { randomTinyClipWeights, type TinyClipConfig, type TinyClipLayerWeights, type TinyClipWeights } from './tiny-clip/tiny-clip-weights.js';
