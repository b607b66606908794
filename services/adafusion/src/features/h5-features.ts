/**
 * TRIDENT / CLAM feature files: one HDF5 file per slide per model with datasets `features`
 * (N × D) and `coords` (N × 2, the tiles' level-0 top-left corners), optionally as a batch of
 * one (1 × N × D). TRIDENT stores coords as int64 and keeps patch geometry as attributes of
 * `coords` (patch_size, patch_size_level0, …).
 */
import { writeFile } from 'node:fs/promises';
import { invalidInput } from '@weightsmith/core';
import type { SlideFeatures } from '../types.js';
import { toCoordArray, toFeatureArray } from './convert.js';
import { buildH5Bytes, describeDtype, findDataset, readDatasetValues, withH5File } from './h5-file.js';
import { isHdf5 } from './sniff.js';
import { checkFiniteSlide, checkSlideShapes, formatError, type ReadFeaturesOptions } from './slide-checks.js';

/** Reads and checks one slide's features from HDF5 bytes (see `ReadFeaturesOptions` for limits). */
export async function readH5Features(bytes: Uint8Array, options: ReadFeaturesOptions): Promise<SlideFeatures> {
  if (!isHdf5(bytes)) throw formatError(options, 'not an HDF5 file (no HDF5 signature)');
  const slide = await withH5File(
    bytes,
    (file) => {
      const features = findDataset(file, 'features');
      const coords = findDataset(file, 'coords');
      const missing = [features ? undefined : 'features', coords ? undefined : 'coords'].filter((x) => x !== undefined);
      if (features === undefined || coords === undefined) {
        throw formatError(
          options,
          `HDF5 file has no dataset ${missing.map((m) => `"${m}"`).join(' or ')} (found: ${file.keys().join(', ') || 'nothing'})`,
        );
      }
      const { n, dim } = checkSlideShapes(features.shape ?? [], coords.shape ?? [], options);
      const featureValues = readDatasetValues(features);
      if (!featureValues) throw formatError(options, `dataset "features" has unsupported type ${describeDtype(features)}`);
      const coordValues = readDatasetValues(coords);
      if (!coordValues) throw formatError(options, `dataset "coords" has unsupported type ${describeDtype(coords)}`);
      return { n, dim, features: toFeatureArray(featureValues, options), coords: toCoordArray(coordValues, options) };
    },
    () => formatError(options, 'HDF5 library could not open the file (corrupt or truncated)'),
  );
  checkFiniteSlide(slide, options);
  return slide;
}

export type H5CoordsDtype = 'int64' | 'int32' | 'float64' | 'float32';

export interface H5WriteOptions {
  /** Element type of `coords`; TRIDENT writes int64 (the default). */
  coordsDtype?: H5CoordsDtype;
  featuresDtype?: 'float32' | 'float64';
  /** CLAM's batch-of-one layout: 1 × N × D and 1 × N × 2. */
  batchOfOne?: boolean;
  /** Attributes of `coords`, as TRIDENT writes them (patch_size, patch_size_level0, …). */
  coordsAttrs?: Readonly<Record<string, number | string>>;
}

function coordsData(slide: SlideFeatures, dtype: H5CoordsDtype): BigInt64Array | Int32Array | Float64Array | Float32Array {
  if (dtype === 'float64') return slide.coords;
  if (dtype === 'float32') return Float32Array.from(slide.coords);
  for (let i = 0; i < slide.coords.length; i++) {
    if (!Number.isInteger(slide.coords[i]!)) {
      throw invalidInput('coords', `coords[${Math.floor(i / 2)}] = ${slide.coords[i]} is not an integer; use a float coords dtype`);
    }
  }
  return dtype === 'int32' ? Int32Array.from(slide.coords) : BigInt64Array.from(slide.coords, (v) => BigInt(v));
}

/** One slide as an HDF5 file in TRIDENT layout, deterministic bytes for the same input. */
export async function encodeH5Features(slide: SlideFeatures, options: H5WriteOptions = {}): Promise<Uint8Array> {
  if (slide.features.length !== slide.n * slide.dim || slide.coords.length !== slide.n * 2) {
    throw invalidInput('slide', `slide arrays do not match n = ${slide.n}, dim = ${slide.dim}`);
  }
  const lead = options.batchOfOne ? [1] : [];
  const features = options.featuresDtype === 'float64' ? Float64Array.from(slide.features) : slide.features;
  const coords = coordsData(slide, options.coordsDtype ?? 'int64');
  return buildH5Bytes((file) => {
    file.create_dataset({ name: 'features', data: features, shape: [...lead, slide.n, slide.dim] });
    const ds = file.create_dataset({ name: 'coords', data: coords, shape: [...lead, slide.n, 2] });
    for (const [key, value] of Object.entries(options.coordsAttrs ?? {})) {
      if (typeof value === 'string') ds.create_attribute(key, value);
      else ds.create_attribute(key, value, null, Number.isInteger(value) ? '<i8' : '<f8');
    }
  });
}

/** Writes one slide to a local `.h5` file; returns its size in bytes. */
export async function writeH5Features(path: string, slide: SlideFeatures, options: H5WriteOptions = {}): Promise<number> {
  const bytes = await encodeH5Features(slide, options);
  await writeFile(path, bytes);
  return bytes.byteLength;
}
