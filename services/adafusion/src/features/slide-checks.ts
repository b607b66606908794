/**
 * Checks every feature file goes through, whatever its container (HDF5 or safetensors): shapes,
 * the size cap, emptiness and finiteness. Pure functions on shapes and typed arrays; the readers
 * call them before allocating (shapes, cap) and after decoding (values).
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { SlideFeatures } from '../types.js';

/** Default cap on one file's features: 2 GiB of f32 (≈ 2k tiles × 260k dims, far above any PFM). */
export const DEFAULT_MAX_FEATURE_BYTES = 2 * 1024 ** 3;

/** Where a file came from, for messages (`source`) and for the error's `field` (defaults to `source`). */
export interface FeatureFileContext {
  /** Shown in every message: a file name, an object key, an artifact id. */
  source: string;
  /** The error's `field` (e.g. `slides[3].features.UNI`); defaults to `source`. */
  field?: string;
}

export interface ReadFeaturesOptions extends FeatureFileContext {
  /** Refuse files whose features would take more than this many bytes as f32 (`too_large`). */
  maxFeatureBytes?: number;
}

function fieldOf(ctx: FeatureFileContext): string {
  return ctx.field ?? ctx.source;
}

export function formatError(ctx: FeatureFileContext, message: string, cause?: unknown): WeightsmithError {
  return new WeightsmithError(ErrorCode.InvalidFormat, `${ctx.source}: ${message}`, { field: fieldOf(ctx), cause });
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * CLAM variants save a batch of one (1 × N × D, 1 × N × 2); dropping that leading 1 is the only
 * reshaping accepted, anything else is a wrong rank.
 */
export function dropLeadingSingleton(shape: readonly number[]): number[] {
  return shape.length === 3 && shape[0] === 1 ? shape.slice(1) : [...shape];
}

/** Validates the two datasets' shapes (before their data is read) and returns n and dim. */
export function checkSlideShapes(
  featuresShape: readonly number[],
  coordsShape: readonly number[],
  options: ReadFeaturesOptions,
): { n: number; dim: number } {
  const fshape = dropLeadingSingleton(featuresShape);
  const cshape = dropLeadingSingleton(coordsShape);
  if (fshape.length !== 2) {
    throw formatError(options, `dataset "features" has shape ${shapeText(featuresShape)}; expected N × D (or 1 × N × D)`);
  }
  if (cshape.length !== 2) {
    throw formatError(options, `dataset "coords" has shape ${shapeText(coordsShape)}; expected N × 2 (or 1 × N × 2)`);
  }
  const [n, dim] = fshape as [number, number];
  const [cn, ccols] = cshape as [number, number];
  if (ccols !== 2) throw formatError(options, `dataset "coords" has ${ccols} columns; expected 2 (x, y)`);
  if (cn !== n) {
    throw formatError(options, `dataset "features" has ${n} rows but "coords" has ${cn}; every tile needs one coordinate pair`);
  }
  if (n === 0) {
    throw new WeightsmithError(ErrorCode.InvalidInput, `${options.source}: empty slide (0 tiles)`, { field: fieldOf(options) });
  }
  if (dim === 0) throw formatError(options, `dataset "features" has 0 columns`);
  const cap = options.maxFeatureBytes ?? DEFAULT_MAX_FEATURE_BYTES;
  const bytes = n * dim * 4;
  if (bytes > cap) {
    throw new WeightsmithError(
      ErrorCode.TooLarge,
      `${options.source}: features ${n} × ${dim} take ${bytes} bytes as f32; the limit is ${cap}`,
      { field: fieldOf(options) },
    );
  }
  return { n, dim };
}

/** Index of the first NaN/±Inf, or -1. */
export function firstNonFinite(values: Float32Array | Float64Array): number {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) return i;
  }
  return -1;
}

/** Refuses NaN/Inf in features or coords, naming the first bad tile and column. */
export function checkFiniteSlide(slide: SlideFeatures, ctx: FeatureFileContext): void {
  const checks: [string, Float32Array | Float64Array, number][] = [
    ['features', slide.features, slide.dim],
    ['coords', slide.coords, 2],
  ];
  for (const [name, values, cols] of checks) {
    const at = firstNonFinite(values);
    if (at < 0) continue;
    const tile = Math.floor(at / cols);
    const col = at % cols;
    throw new WeightsmithError(
      ErrorCode.NonFinite,
      `${ctx.source}: "${name}" has ${String(values[at])} at tile ${tile}, column ${col}`,
      { field: fieldOf(ctx) },
    );
  }
}
