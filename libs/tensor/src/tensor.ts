import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

/**
 * Element types, named as safetensors names them so a header's `dtype` is a `DType` as-is.
 * F16 and BF16 have no JS number type: their elements are kept as raw IEEE bit patterns in a
 * Uint16Array (see float16.ts for the conversions). I64 is a BigInt64Array; BOOL is one byte
 * per element, 0 or 1.
 */
export type DType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPES: readonly DType[] = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];

/** The typed array that holds the elements of each dtype. */
export interface DTypeArrayMap {
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  F64: Float64Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

export type TensorData = DTypeArrayMap[DType];

/**
 * A dense, row-major tensor. With the default type argument this is a union discriminated by
 * `dtype`, so `if (t.dtype === 'F32')` narrows `t.data` to Float32Array.
 */
export type Tensor<D extends DType = DType> = D extends DType
  ? { dtype: D; shape: number[]; data: DTypeArrayMap[D] }
  : never;

type TypedArrayConstructorOf<D extends DType> = { new (length: number): DTypeArrayMap[D]; BYTES_PER_ELEMENT: number };

const CONSTRUCTORS: { [D in DType]: TypedArrayConstructorOf<D> } = {
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(CONSTRUCTORS, value);
}

/** Bytes per element (BOOL is one byte, as in safetensors). */
export function dtypeByteSize(dtype: DType): number {
  return CONSTRUCTORS[dtype].BYTES_PER_ELEMENT;
}

export function isFloatDType(dtype: DType): dtype is 'F32' | 'F16' | 'BF16' | 'F64' {
  return dtype === 'F32' || dtype === 'F16' || dtype === 'BF16' || dtype === 'F64';
}

/** Allocates a zero-filled array for `length` elements of `dtype`. */
export function allocateData<D extends DType>(dtype: D, length: number): DTypeArrayMap[D] {
  const Ctor = CONSTRUCTORS[dtype] as TypedArrayConstructorOf<D>;
  return new Ctor(length);
}

/** Whether `data` is the typed array kind that stores `dtype` (F16 and BF16 share Uint16Array). */
export function isDataOf<D extends DType>(dtype: D, data: unknown): data is DTypeArrayMap[D] {
  return data instanceof CONSTRUCTORS[dtype];
}

/**
 * Number of elements of a shape. Every dimension must be a non-negative safe integer and the
 * product must stay a safe integer (2^53 − 1), so a hostile header cannot make us compute a
 * wrapped or rounded size. A zero dimension makes the product zero whatever the others are.
 */
export function numel(shape: readonly number[], field = 'shape'): number {
  if (!Array.isArray(shape)) throw invalidInput(field, `${field} must be an array of dimensions`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw invalidInput(field, `${field}[${i}] must be a non-negative integer, got ${String(d)}`);
    }
  }
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    // Division instead of multiplying first: the product could already be past 2^53 and rounded.
    if (n > Math.floor(Number.MAX_SAFE_INTEGER / d)) {
      throw new WeightsmithError(
        ErrorCode.TooLarge,
        `${field} [${shape.join(', ')}] has more than ${Number.MAX_SAFE_INTEGER} elements`,
        { field },
      );
    }
    n *= d;
  }
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Wraps existing data as a tensor (no copy). Checks that the array kind matches the dtype and
 * that its length is exactly numel(shape). `name` (a tensor name) is used as the error field.
 */
export function makeTensor<D extends DType>(dtype: D, shape: readonly number[], data: DTypeArrayMap[D], name = 'tensor'): Tensor<D> {
  if (!isDType(dtype)) throw invalidInput(`${name}.dtype`, `unknown dtype ${String(dtype)}; expected one of ${DTYPES.join(', ')}`);
  const n = numel(shape, `${name}.shape`);
  if (!isDataOf(dtype, data)) {
    const got = (data as { constructor?: { name?: string } } | null)?.constructor?.name ?? typeof data;
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `${name}: dtype ${dtype} needs a ${CONSTRUCTORS[dtype].name}, got ${got}`,
      { field: name },
    );
  }
  if (data.length !== n) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `${name}: shape ${formatShape(shape)} has ${n} elements but the data has ${data.length}`,
      { field: name },
    );
  }
  return { dtype, shape: [...shape], data } as Tensor<D>;
}

/** A zero-filled tensor (all-zero bits: +0.0 for floats, false for BOOL). */
export function zeros<D extends DType>(dtype: D, shape: readonly number[], name = 'tensor'): Tensor<D> {
  const n = numel(shape, `${name}.shape`);
  return makeTensor(dtype, shape, allocateData(dtype, n), name);
}

/** Same data, new shape (no copy); the element count must not change. */
export function reshape<D extends DType>(t: Tensor<D>, shape: readonly number[], name = 'tensor'): Tensor<D> {
  const n = numel(shape, `${name}.shape`);
  if (n !== t.data.length) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `${name}: cannot reshape ${formatShape(t.shape)} (${t.data.length} elements) to ${formatShape(shape)} (${n} elements)`,
      { field: name },
    );
  }
  return makeTensor(t.dtype as D, shape, t.data as DTypeArrayMap[D], name);
}

/** Float32 arrays joined end to end into a new array. */
export function concatF32(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
