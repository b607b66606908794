/**
 * Feature files as safetensors: tensors `features` (N × D; F32, F16, BF16 or F64) and `coords`
 * (N × 2; any integer or float dtype). Read header-first, so a file over the cap is refused
 * before its data is fetched.
 */
import { WeightsmithError, invalidInput } from '@weightsmith/core';
import {
  memorySource,
  openSafetensors,
  serializeSafetensors,
  writeSafetensors,
  type ByteSource,
  type SafetensorsFile,
  type SafetensorsTensor,
  type TensorWithData,
} from '@weightsmith/safetensors';
import type { SlideFeatures } from '../types.js';
import { toCoordArray, toFeatureArray, type StoredValues } from './convert.js';
import { checkFiniteSlide, checkSlideShapes, formatError, type FeatureFileContext, type ReadFeaturesOptions } from './slide-checks.js';

function storedValues(tensor: SafetensorsTensor, ctx: FeatureFileContext): StoredValues {
  switch (tensor.dtype) {
    case 'F16':
      return { kind: 'f16', bits: tensor.data };
    case 'BF16':
      return { kind: 'bf16', bits: tensor.data };
    case 'F32':
    case 'F64':
    case 'I8':
    case 'U8':
    case 'I16':
    case 'U16':
    case 'I32':
    case 'U32':
      return { kind: 'number', values: tensor.data };
    case 'I64':
    case 'U64':
      return { kind: 'bigint', values: tensor.data };
    default:
      throw formatError(ctx, `tensor "${tensor.name}" has unsupported dtype ${tensor.dtype}`);
  }
}

/** The library's errors say what is wrong but not in which file; add that, keep the code. */
function withSource<T>(ctx: FeatureFileContext, work: () => Promise<T>): Promise<T> {
  return work().catch((err: unknown) => {
    if (err instanceof WeightsmithError && !err.message.startsWith(`${ctx.source}:`)) {
      throw new WeightsmithError(err.code, `${ctx.source}: ${err.message}`, { field: ctx.field ?? ctx.source, cause: err });
    }
    throw err;
  });
}

/** Reads and checks one slide from safetensors held in memory or behind any `ByteSource` (file, store object). */
export async function readSafetensorsFeatures(input: Uint8Array | ByteSource, options: ReadFeaturesOptions): Promise<SlideFeatures> {
  const source = input instanceof Uint8Array ? memorySource(input) : input;
  const file: SafetensorsFile = await withSource(options, () => openSafetensors(source));
  try {
    const missing = ['features', 'coords'].filter((name) => !file.has(name));
    if (missing.length > 0) {
      const found = file.tensors.map((t) => t.name).join(', ') || 'nothing';
      throw formatError(options, `safetensors file has no tensor ${missing.map((m) => `"${m}"`).join(' or ')} (found: ${found})`);
    }
    const { n, dim } = checkSlideShapes(file.get('features').shape, file.get('coords').shape, options);
    const features = toFeatureArray(storedValues(await withSource(options, () => file.read('features')), options), options);
    const coords = toCoordArray(storedValues(await withSource(options, () => file.read('coords')), options), options);
    const slide = { n, dim, features, coords };
    checkFiniteSlide(slide, options);
    return slide;
  } finally {
    await file.close();
  }
}

export interface SafetensorsWriteOptions {
  /** Element type of `coords`; I64 (the default) needs integer coordinates. */
  coordsDtype?: 'I64' | 'I32' | 'F64' | 'F32';
}

function tensorsOf(slide: SlideFeatures, options: SafetensorsWriteOptions): TensorWithData[] {
  if (slide.features.length !== slide.n * slide.dim || slide.coords.length !== slide.n * 2) {
    throw invalidInput('slide', `slide arrays do not match n = ${slide.n}, dim = ${slide.dim}`);
  }
  const dtype = options.coordsDtype ?? 'I64';
  if (dtype === 'I64' || dtype === 'I32') {
    const bad = slide.coords.findIndex((v) => !Number.isInteger(v));
    if (bad >= 0) throw invalidInput('coords', `coords[${Math.floor(bad / 2)}] = ${slide.coords[bad]} is not an integer; use F64 coords`);
  }
  const coords =
    dtype === 'I64'
      ? BigInt64Array.from(slide.coords, (v) => BigInt(v))
      : dtype === 'I32'
        ? Int32Array.from(slide.coords)
        : dtype === 'F32'
          ? Float32Array.from(slide.coords)
          : slide.coords;
  return [
    { name: 'features', dtype: 'F32', shape: [slide.n, slide.dim], data: slide.features },
    { name: 'coords', dtype, shape: [slide.n, 2], data: coords },
  ];
}

/** One slide as safetensors bytes `{features, coords}`. */
export function encodeSafetensorsFeatures(slide: SlideFeatures, options: SafetensorsWriteOptions = {}): Promise<Uint8Array> {
  return serializeSafetensors(tensorsOf(slide, options));
}

/** Writes one slide to a local safetensors file (atomically); returns its size in bytes. */
export async function writeSafetensorsFeatures(path: string, slide: SlideFeatures, options: SafetensorsWriteOptions = {}): Promise<number> {
  return (await writeSafetensors(path, tensorsOf(slide, options))).bytes;
}
