/**
 * Plain tensors `{dtype, dims, data}` as they cross the boundary between callers, worker
 * threads and onnxruntime: validation at the edge, and conversion to and from `ort.Tensor`.
 */
import * as ort from 'onnxruntime-node';
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

/** Element types a plain tensor can carry (onnxruntime's names; bool is one byte, 0 or 1). */
export interface TensorArrays {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type TensorDType = keyof TensorArrays;

/** A dense row-major tensor; `data.length` is the product of `dims`. */
export type TensorData = { [D in TensorDType]: { dtype: D; dims: number[]; data: TensorArrays[D] } }[TensorDType];
export type TensorMap = Record<string, TensorData>;

/** What a model declares for one of its inputs or outputs. */
export interface ValueInfo {
  name: string;
  /** Element type, or null for non-tensor values (sequences, maps). */
  dtype: string | null;
  /** Declared shape; strings are symbolic dims; empty when the model does not say. */
  shape: (number | string)[];
}

const ARRAY_TYPES: { [D in TensorDType]: abstract new (...args: never[]) => TensorArrays[D] } = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int16: Int16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export function isTensorDType(x: unknown): x is TensorDType {
  return typeof x === 'string' && Object.hasOwn(ARRAY_TYPES, x);
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Checks dtype, dims and data agree; `field` names the tensor in the error. */
export function validateTensor(field: string, t: unknown): asserts t is TensorData {
  if (typeof t !== 'object' || t === null) throw invalidInput(field, `tensor '${field}' must be an object {dtype, dims, data}`);
  const { dtype, dims, data } = t as Record<string, unknown>;
  if (!isTensorDType(dtype)) {
    throw invalidInput(field, `tensor '${field}' has dtype '${String(dtype)}'; expected one of ${Object.keys(ARRAY_TYPES).join(', ')}`);
  }
  if (!Array.isArray(dims) || !dims.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalidInput(field, `tensor '${field}' dims must be an array of non-negative integers`);
  }
  const Expected = ARRAY_TYPES[dtype];
  if (!(data instanceof Expected)) {
    throw invalidInput(field, `tensor '${field}' is ${dtype} but its data is not a ${Expected.name}`);
  }
  const count = elementCount(dims);
  if ((data as TensorArrays[TensorDType]).length !== count) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `tensor '${field}' has ${(data as ArrayLike<unknown>).length} elements but dims [${dims.join(', ')}] need ${count}`,
      { field },
    );
  }
}

/** A copy whose data owns a fresh, exactly-sized ArrayBuffer (safe to transfer). */
export function copyTensor(t: TensorData): TensorData {
  return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() } as TensorData;
}

/** Wraps (does not copy) a plain tensor as an ort.Tensor. */
export function toOrtTensor(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data, t.dims);
}

/**
 * A run's output as a plain tensor whose data owns its whole buffer, so the result can be
 * transferred between threads and outlives the session that produced it. onnxruntime-node hands
 * each output over in a fresh ArrayBuffer of exactly its size, which is taken over as it is (the
 * ort.Tensor must not be used afterwards); anything else is copied.
 */
export function fromOrtTensor(name: string, t: ort.Tensor): TensorData {
  if (!isTensorDType(t.type)) {
    throw new WeightsmithError(ErrorCode.InvalidFormat, `output '${name}' has element type '${t.type}', which Weightsmith does not handle`, { field: name });
  }
  const data = t.data as TensorArrays[TensorDType];
  const ownsBuffer = data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  return { dtype: t.type, dims: [...t.dims], data: ownsBuffer ? data : data.slice() } as TensorData;
}

export function valueInfoFromMetadata(meta: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return meta.map((m) =>
    m.isTensor ? { name: m.name, dtype: m.type, shape: [...m.shape] } : { name: m.name, dtype: null, shape: [] },
  );
}

/** The transferable buffers of a tensor map (for postMessage's transfer list). */
export function transferList(tensors: TensorMap): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const t of Object.values(tensors)) {
    if (t.data.buffer instanceof ArrayBuffer) seen.add(t.data.buffer);
  }
  return [...seen];
}
