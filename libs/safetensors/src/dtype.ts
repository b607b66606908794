import { ErrorCode, WeightsmithError } from '@weightsmith/core';

/**
 * The safetensors dtype vocabulary, kept inside this library so the format code does not wait on
 * `@weightsmith/tensor`. Names, element widths and order follow the reference `Dtype` enum of
 * huggingface/safetensors (`safetensors/src/tensor.rs`), whose declaration order is increasing
 * alignment; the writer relies on that order to lay tensors out aligned.
 */
export const SAFETENSORS_DTYPES = [
  'BOOL',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F8_E4M3FNUZ',
  'F8_E5M2FNUZ',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'C64',
  'F64',
  'I64',
  'U64',
] as const;

export type SafetensorsDType = (typeof SAFETENSORS_DTYPES)[number];

/** Bits per element. Sub-byte dtypes (F4, F6_*) are packed; a tensor of them must fill whole bytes. */
const BITS: Record<SafetensorsDType, number> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

const KNOWN = new Set<string>(SAFETENSORS_DTYPES);
const RANK = new Map<SafetensorsDType, number>(SAFETENSORS_DTYPES.map((d, i) => [d, i]));

export function isSafetensorsDType(value: unknown): value is SafetensorsDType {
  return typeof value === 'string' && KNOWN.has(value);
}

export function dtypeBits(dtype: SafetensorsDType): number {
  return BITS[dtype];
}

/** Position in the reference enum (increasing alignment); used to order tensors when writing. */
export function dtypeRank(dtype: SafetensorsDType): number {
  return RANK.get(dtype) ?? 0;
}

/**
 * How `read()` exposes each dtype's elements. Dtypes JavaScript has no array for (F16, BF16, the
 * 8-bit and sub-byte floats) come back as their raw bit patterns; C64 as interleaved (re, im)
 * float32 pairs. Data is little-endian on disk, which is the byte order of every platform Node
 * ships for in practice; `assertLittleEndianHost` guards the rest.
 */
export interface TensorDataByDType {
  BOOL: Uint8Array;
  F4: Uint8Array;
  F6_E2M3: Uint8Array;
  F6_E3M2: Uint8Array;
  U8: Uint8Array;
  I8: Int8Array;
  F8_E5M2: Uint8Array;
  F8_E4M3: Uint8Array;
  F8_E8M0: Uint8Array;
  F8_E4M3FNUZ: Uint8Array;
  F8_E5M2FNUZ: Uint8Array;
  I16: Int16Array;
  U16: Uint16Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I32: Int32Array;
  U32: Uint32Array;
  F32: Float32Array;
  C64: Float32Array;
  F64: Float64Array;
  I64: BigInt64Array;
  U64: BigUint64Array;
}

export type TensorData = TensorDataByDType[SafetensorsDType];

type ArrayFactory = (buffer: ArrayBufferLike, byteOffset: number, byteLength: number) => TensorData;

function factory(
  Ctor: {
    new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
    readonly BYTES_PER_ELEMENT: number;
  },
): { bytes: number; make: ArrayFactory } {
  return {
    bytes: Ctor.BYTES_PER_ELEMENT,
    make: (buffer, byteOffset, byteLength) => new Ctor(buffer, byteOffset, byteLength / Ctor.BYTES_PER_ELEMENT),
  };
}

const VIEWS: Record<SafetensorsDType, { bytes: number; make: ArrayFactory }> = {
  BOOL: factory(Uint8Array),
  F4: factory(Uint8Array),
  F6_E2M3: factory(Uint8Array),
  F6_E3M2: factory(Uint8Array),
  U8: factory(Uint8Array),
  I8: factory(Int8Array),
  F8_E5M2: factory(Uint8Array),
  F8_E4M3: factory(Uint8Array),
  F8_E8M0: factory(Uint8Array),
  F8_E4M3FNUZ: factory(Uint8Array),
  F8_E5M2FNUZ: factory(Uint8Array),
  I16: factory(Int16Array),
  U16: factory(Uint16Array),
  F16: factory(Uint16Array),
  BF16: factory(Uint16Array),
  I32: factory(Int32Array),
  U32: factory(Uint32Array),
  F32: factory(Float32Array),
  C64: factory(Float32Array),
  F64: factory(Float64Array),
  I64: factory(BigInt64Array),
  U64: factory(BigUint64Array),
};

/** Bytes per element of the typed array `read()` returns for `dtype` (its alignment need). */
export function viewElementBytes(dtype: SafetensorsDType): number {
  return VIEWS[dtype].bytes;
}

/**
 * Typed-array view of a tensor's little-endian bytes. Copies only when `bytes` is not aligned
 * for the element type (typed arrays cannot start at an unaligned offset).
 */
export function viewTensorData<D extends SafetensorsDType>(dtype: D, bytes: Uint8Array): TensorDataByDType[D] {
  assertLittleEndianHost();
  const { bytes: width, make } = VIEWS[dtype];
  const aligned = bytes.byteOffset % width === 0 ? bytes : bytes.slice();
  return make(aligned.buffer, aligned.byteOffset, aligned.byteLength) as TensorDataByDType[D];
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) {
    // Typed arrays use host byte order; safetensors data is little-endian. No supported
    // deployment target is big-endian, so refuse rather than silently return swapped values.
    throw new WeightsmithError(ErrorCode.Internal, 'safetensors typed-array views need a little-endian host');
  }
}
