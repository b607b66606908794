import type { SlideFeatures } from '../types.js';
import { readH5Features } from './h5-features.js';
import { readSafetensorsFeatures } from './safetensors-features.js';
import { detectFeatureFormat } from './sniff.js';
import { formatError, type ReadFeaturesOptions } from './slide-checks.js';

/** Reads a slide's features from HDF5 (TRIDENT/CLAM) or safetensors bytes, told apart by signature. */
export async function readSlideFeatures(bytes: Uint8Array, options: ReadFeaturesOptions): Promise<SlideFeatures> {
  switch (detectFeatureFormat(bytes)) {
    case 'hdf5':
      return readH5Features(bytes, options);
    case 'safetensors':
      return readSafetensorsFeatures(bytes, options);
    default:
      throw formatError(options, `neither HDF5 nor safetensors (${bytes.byteLength} bytes, no known signature)`);
  }
}
