export { alignSlide, type AlignOptions, type AlignedSlideReport } from './align.js';
export { compareTiles, sortedTileOrder } from './coord-order.js';
export { encodeH5Features, readH5Features, writeH5Features, type H5CoordsDtype, type H5WriteOptions } from './h5-features.js';
export { readSlideFeatures } from './read-slide.js';
export {
  encodeSafetensorsFeatures,
  readSafetensorsFeatures,
  writeSafetensorsFeatures,
  type SafetensorsWriteOptions,
} from './safetensors-features.js';
export { DEFAULT_MAX_FEATURE_BYTES, type FeatureFileContext, type ReadFeaturesOptions } from './slide-checks.js';
export { detectFeatureFormat, isHdf5, type FeatureFileFormat } from './sniff.js';
