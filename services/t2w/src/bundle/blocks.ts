/**
 * "Hierarchical uniform blocks" (T2W / G.pt): the target's tensors, in state-dict order, are
 * flattened row-major into one vector of P values; each tensor is cut into blocks of
 * `blockSize` values, never straddling two tensors, so a tensor's last block may be short.
 * Each block becomes one token of the denoiser. The whole vector is multiplied by one global
 * scalar (`scale`) before diffusion ("normalised") and divided by it after.
 */
import { WeightsmithError, ErrorCode, invalidInput } from '@weightsmith/core';
import { layoutSize, tensorSize, type TensorLayoutEntry } from './bundle-schema.js';

export interface BlockSpan {
  /** Offset of the block's first value in the flat vector. */
  start: number;
  /** Number of values, 1..blockSize. */
  length: number;
  /** Name of the tensor the block belongs to. */
  tensor: string;
}

export function planBlocks(layout: readonly TensorLayoutEntry[], blockSize: number): BlockSpan[] {
  if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw invalidInput('blockSize', `blockSize must be a positive integer, got ${blockSize}`);
  const blocks: BlockSpan[] = [];
  let offset = 0;
  for (const t of layout) {
    const size = tensorSize(t.shape);
    for (let s = 0; s < size; s += blockSize) {
      blocks.push({ start: offset + s, length: Math.min(blockSize, size - s), tensor: t.name });
    }
    offset += size;
  }
  return blocks;
}

/** Concatenates the tensors in layout order, multiplied by `scale` (normalise). */
export function flattenLayout(tensors: ReadonlyMap<string, Float32Array>, layout: readonly TensorLayoutEntry[], scale = 1): Float32Array {
  checkScale(scale);
  const flat = new Float32Array(layoutSize(layout));
  let offset = 0;
  for (const t of layout) {
    const data = tensors.get(t.name);
    if (data === undefined) throw invalidInput(t.name, `tensor "${t.name}" of the layout is missing`);
    const size = tensorSize(t.shape);
    if (data.length !== size) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `tensor "${t.name}" has ${data.length} values; the layout's shape [${t.shape.join(', ')}] needs ${size}`, {
        field: t.name,
      });
    }
    for (let i = 0; i < size; i++) flat[offset + i] = data[i]! * scale;
    offset += size;
  }
  for (const name of tensors.keys()) {
    if (!layout.some((t) => t.name === name)) throw invalidInput(name, `tensor "${name}" is not part of the layout`);
  }
  return flat;
}

/** Splits a flat vector back into the layout's tensors, divided by `scale` (denormalise). */
export function unflattenToTensors(flat: Float32Array, layout: readonly TensorLayoutEntry[], scale = 1): Map<string, Float32Array> {
  checkScale(scale);
  const total = layoutSize(layout);
  if (flat.length !== total) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `flat parameter vector has ${flat.length} values; the layout needs ${total}`, { field: 'flat' });
  }
  const out = new Map<string, Float32Array>();
  let offset = 0;
  for (const t of layout) {
    const size = tensorSize(t.shape);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = flat[offset + i]! / scale;
    out.set(t.name, data);
    offset += size;
  }
  return out;
}

/** Multiplies a flat vector by `scale` in a new array. */
export function normalise(flat: Float32Array, scale: number): Float32Array {
  checkScale(scale);
  return flat.map((v) => v * scale);
}

/** Divides a flat vector by `scale` in a new array. */
export function denormalise(flat: Float32Array, scale: number): Float32Array {
  checkScale(scale);
  return flat.map((v) => v / scale);
}

function checkScale(scale: number): void {
  if (!Number.isFinite(scale) || scale <= 0) throw invalidInput('scale', `scale must be a positive finite number, got ${scale}`);
}
