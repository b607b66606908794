/**
 * Reads weights given to an enhancement or a fusion (an artifact id of a safetensors file) into
 * one flat F32 vector in the bundle layout's order. Every layout tensor must be present with the
 * layout's exact shape, as F32, F16 or BF16 (widened to F32), and finite. Tensors the layout does
 * not name are allowed and ignored, so a checkpoint that also carries e.g. a frozen backbone or
 * optimiser state can be passed as it is. Errors name `field` (the body field the id came from)
 * and the tensor.
 */
import { ErrorCode, WeightsmithError, isWeightsmithError, notFound } from '@weightsmith/core';
import { memorySource, openSafetensors, openSafetensorsObject, type SafetensorsFile } from '@weightsmith/safetensors';
import { artifactDataKey, type ArtifactStore } from '@weightsmith/store';
import { floatValuesAsF32 } from '@weightsmith/tensor';
import { layoutSize, tensorSize, type TensorLayoutEntry } from '../bundle/index.js';

export const ACCEPTED_WEIGHT_DTYPES = ['F32', 'F16', 'BF16'] as const;

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

/** The layout's tensors of an open safetensors file, flattened in layout order (not normalised). */
export async function readLayoutWeights(file: SafetensorsFile, layout: readonly TensorLayoutEntry[], field: string): Promise<Float32Array> {
  // Check every header entry first, so a wrong file is refused before any tensor is read.
  for (const entry of layout) {
    if (!file.has(entry.name)) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `${field}: tensor "${entry.name}" of the bundle layout is missing (the file has ${file.tensors.map((t) => t.name).join(', ') || 'no tensors'})`, {
        field: `${field}.${entry.name}`,
      });
    }
    const info = file.get(entry.name);
    if (!(ACCEPTED_WEIGHT_DTYPES as readonly string[]).includes(info.dtype)) {
      throw new WeightsmithError(ErrorCode.InvalidFormat, `${field}: tensor "${entry.name}" is ${info.dtype}; weights must be ${ACCEPTED_WEIGHT_DTYPES.join(', ')}`, { field: `${field}.${entry.name}` });
    }
    if (!sameShape(info.shape, entry.shape)) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `${field}: tensor "${entry.name}" has shape [${info.shape.join(', ')}]; the bundle layout needs [${entry.shape.join(', ')}]`, {
        field: `${field}.${entry.name}`,
      });
    }
  }
  const flat = new Float32Array(layoutSize(layout));
  let offset = 0;
  for (const entry of layout) {
    const data = floatValuesAsF32(await file.read(entry.name))!;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) {
        const idx = entry.shape.length > 1 ? `[${unravel(i, entry.shape).join(', ')}]` : `[${i}]`;
        throw new WeightsmithError(ErrorCode.NonFinite, `${field}: tensor "${entry.name}"${idx} is ${data[i]}; weights must be finite`, { field: `${field}.${entry.name}` });
      }
    }
    flat.set(data, offset);
    offset += tensorSize(entry.shape);
  }
  return flat;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const out: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    out.unshift(i % shape[d]!);
    i = Math.floor(i / shape[d]!);
  }
  return out;
}

/** Safetensors bytes in memory (tests, uploads) → flat layout-ordered weights. */
export async function layoutWeightsFromBytes(bytes: Uint8Array, layout: readonly TensorLayoutEntry[], field: string): Promise<Float32Array> {
  const file = await openSafetensors(memorySource(bytes)).catch((err: unknown) => {
    throw asFormatError(err, field);
  });
  try {
    return await readLayoutWeights(file, layout, field);
  } finally {
    await file.close();
  }
}

/** An artifact of the store → flat layout-ordered weights; an unknown id is `not_found` on `field`. */
export async function loadArtifactWeights(artifacts: ArtifactStore, id: string, layout: readonly TensorLayoutEntry[], field: string): Promise<Float32Array> {
  try {
    await artifacts.get(id);
  } catch (err) {
    if (isWeightsmithError(err, ErrorCode.NotFound)) throw notFound(`${field}: artifact ${id} not found`, field);
    throw err;
  }
  const file = await openSafetensorsObject(artifacts.store, artifactDataKey(id)).catch((err: unknown) => {
    throw asFormatError(err, field);
  });
  try {
    return await readLayoutWeights(file, layout, field);
  } finally {
    await file.close();
  }
}

/** A file that is not valid safetensors is the caller's input problem: keep the code, name the field. */
function asFormatError(err: unknown, field: string): unknown {
  if (!isWeightsmithError(err)) return err;
  if (err.code === ErrorCode.StoreUnavailable || err.code === ErrorCode.NotFound) return err;
  return new WeightsmithError(err.code, `${field}: not a readable safetensors file: ${err.message}`, { field, cause: err });
}
