import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import { bf16ToF32, f16ToF32, f32ToBF16, f32ToF16, f64ToBF16, f64ToF16 } from './float16.js';
import { allocateData, dtypeByteSize, isDType, isDataOf, makeTensor, DTYPES, type DType, type DTypeArrayMap, type Tensor, type TensorData } from './tensor.js';

/*
 * Casts between dtypes, and raw little-endian bytes ↔ typed arrays.
 *
 * Safetensors (and ONNX raw data) store elements little-endian, and typed arrays use the
 * machine's byte order; we view file bytes as typed arrays without swapping, which is only right
 * on a little-endian machine. Every platform Node ships for (x64, arm64, …) is little-endian;
 * the check below makes a big-endian one fail loudly at load instead of corrupting weights.
 */
const IS_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
if (!IS_LITTLE_ENDIAN) {
  throw new WeightsmithError(ErrorCode.Internal, '@weightsmith/tensor needs a little-endian machine');
}

/**
 * Casting rules (`castTensor`, `toF32`, `fromF32`):
 * - to a float dtype: round to nearest, ties to even, always from the exact source value (no
 *   double rounding, e.g. F64 → F16 or I64 → F32 are rounded once); overflow gives ±Inf.
 * - float → integer: truncate toward zero, like C, NumPy and PyTorch; NaN/±Inf fail with
 *   non_finite and a value outside the target range fails with invalid_input (never wraps).
 * - integer → integer: exact, or invalid_input when the value does not fit.
 * - → BOOL: anything non-zero (NaN included, as in Python) is 1; BOOL bytes other than 0 are
 *   read as 1.
 * The result never shares memory with the input, even for a cast to the same dtype.
 */
const INT_RANGES = {
  I32: [-2147483648, 2147483647],
  I16: [-32768, 32767],
  I8: [-128, 127],
  U8: [0, 255],
} as const;
type SmallIntDType = keyof typeof INT_RANGES;

const I64_MIN = -(2 ** 63);
const I64_LIMIT = 2 ** 63; // exclusive
const TWO_POW_53 = 2n ** 53n;

/**
 * An I64 value as a double rounded to odd (truncated, last bit set when inexact). A later
 * round-to-nearest to 24 bits or fewer is then a single correct rounding of the integer.
 */
function i64ToNumberRoundToOdd(b: bigint): number {
  if (b >= -TWO_POW_53 && b <= TWO_POW_53) return Number(b);
  const negative = b < 0n;
  let q = negative ? -b : b;
  let shift = 0;
  let sticky = 0n;
  while (q >= TWO_POW_53) {
    sticky |= q & 1n;
    q >>= 1n;
    shift++;
  }
  const magnitude = Number(q | sticky) * 2 ** shift;
  return negative ? -magnitude : magnitude;
}

/** Float source values as plain numbers (F16/BF16 decoded exactly). */
function floatValues(data: TensorData, from: 'F32' | 'F16' | 'BF16' | 'F64'): Float32Array | Float64Array {
  if (from === 'F16') return f16ToF32(data as Uint16Array);
  if (from === 'BF16') return bf16ToF32(data as Uint16Array);
  return data as Float32Array | Float64Array;
}

/** Integer or BOOL source as doubles; I64 rounded to odd (see above) unless `exactRne`. */
function integerValuesAsF64(data: TensorData, from: DType, exactRne: boolean): Float64Array {
  if (from === 'I64') {
    const src = data as BigInt64Array;
    const out = new Float64Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = exactRne ? Number(src[i]!) : i64ToNumberRoundToOdd(src[i]!);
    return out;
  }
  if (from === 'BOOL') {
    const src = data as Uint8Array;
    const out = new Float64Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i]! !== 0 ? 1 : 0;
    return out;
  }
  return new Float64Array(data as Int32Array);
}

function isFloat(d: DType): d is 'F32' | 'F16' | 'BF16' | 'F64' {
  return d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64';
}

function toFloatData(data: TensorData, from: DType, to: 'F32' | 'F16' | 'BF16' | 'F64'): TensorData {
  if (isFloat(from)) {
    const values = floatValues(data, from);
    // floatValues may return the input itself; every branch below allocates a new array.
    if (to === 'F32') return values === data ? new Float32Array(values) : (values as Float32Array);
    if (to === 'F64') return new Float64Array(values);
    if (values instanceof Float64Array) return to === 'F16' ? f64ToF16(values) : f64ToBF16(values);
    return to === 'F16' ? f32ToF16(values) : f32ToBF16(values);
  }
  if (to === 'F64') return integerValuesAsF64(data, from, true);
  const wide = integerValuesAsF64(data, from, false);
  if (to === 'F32') return new Float32Array(wide); // one RNE from an exact or round-to-odd value
  return to === 'F16' ? f64ToF16(wide) : f64ToBF16(wide);
}

function toBoolData(data: TensorData, from: DType): Uint8Array {
  const out = new Uint8Array(data.length);
  if (from === 'I64') {
    const src = data as BigInt64Array;
    for (let i = 0; i < src.length; i++) out[i] = src[i]! !== 0n ? 1 : 0;
    return out;
  }
  const src = isFloat(from) ? floatValues(data, from) : (data as Exclude<TensorData, BigInt64Array>);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! !== 0 ? 1 : 0;
  return out;
}

function nonFinite(name: string, i: number, v: number, to: DType): WeightsmithError {
  return new WeightsmithError(ErrorCode.NonFinite, `${name}[${i}] is ${v}, which has no ${to} value`, { field: name });
}

function outOfRange(name: string, i: number, v: number | bigint, to: DType, range: string): WeightsmithError {
  return invalidInput(name, `${name}[${i}] = ${v} does not fit in ${to} (${range})`);
}

function toI64Data(data: TensorData, from: DType, name: string): BigInt64Array {
  const out = new BigInt64Array(data.length);
  if (from === 'BOOL') {
    const src = data as Uint8Array;
    for (let i = 0; i < src.length; i++) out[i] = src[i]! !== 0 ? 1n : 0n;
    return out;
  }
  if (!isFloat(from)) {
    if (from === 'I64') out.set(data as BigInt64Array);
    else for (let i = 0; i < data.length; i++) out[i] = BigInt((data as Int32Array)[i]!);
    return out;
  }
  const src = floatValues(data, from);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (!Number.isFinite(v)) throw nonFinite(name, i, v, 'I64');
    const t = Math.trunc(v);
    if (t < I64_MIN || t >= I64_LIMIT) throw outOfRange(name, i, v, 'I64', '-2^63..2^63-1');
    out[i] = BigInt(t);
  }
  return out;
}

function toSmallIntData(data: TensorData, from: DType, to: SmallIntDType, name: string): TensorData {
  const [lo, hi] = INT_RANGES[to];
  const out = allocateData(to, data.length);
  const range = `${lo}..${hi}`;
  if (from === 'I64') {
    const src = data as BigInt64Array;
    for (let i = 0; i < src.length; i++) {
      const b = src[i]!;
      if (b < BigInt(lo) || b > BigInt(hi)) throw outOfRange(name, i, b, to, range);
      out[i] = Number(b);
    }
    return out;
  }
  if (from === 'BOOL') {
    const src = data as Uint8Array;
    for (let i = 0; i < src.length; i++) out[i] = src[i]! !== 0 ? 1 : 0;
    return out;
  }
  const float = isFloat(from);
  const src = float ? floatValues(data, from) : (data as Int32Array);
  for (let i = 0; i < src.length; i++) {
    const v = src[i]!;
    if (float && !Number.isFinite(v)) throw nonFinite(name, i, v, to);
    const t = Math.trunc(v);
    if (t < lo || t > hi) throw outOfRange(name, i, v, to, range);
    out[i] = t;
  }
  return out;
}

function convertData(data: TensorData, from: DType, to: DType, name: string): TensorData {
  if (from === to) return data.slice();
  if (isFloat(to)) return toFloatData(data, from, to);
  if (to === 'BOOL') return toBoolData(data, from);
  if (to === 'I64') return toI64Data(data, from, name);
  return toSmallIntData(data, from, to, name);
}

function checkTarget(dtype: DType, field: string): void {
  if (!isDType(dtype)) throw invalidInput(field, `unknown dtype ${String(dtype)}; expected one of ${DTYPES.join(', ')}`);
}

/** A new tensor with the same shape and the values cast to `dtype` (rules above). */
export function castTensor<D extends DType>(t: Tensor, dtype: D, name = 'tensor'): Tensor<D> {
  checkTarget(dtype, `${name}.dtype`);
  const checked = makeTensor(t.dtype, t.shape, t.data, name);
  const data = convertData(checked.data, checked.dtype, dtype, name) as DTypeArrayMap[D];
  return makeTensor(dtype, checked.shape, data, name);
}

/** The values of any tensor as a new Float32Array (rounded to nearest even where needed). */
export function toF32(t: Tensor, name = 'tensor'): Float32Array {
  return castTensor(t, 'F32', name).data;
}

/** F32 values as a new array of `dtype` (rules above). */
export function fromF32<D extends DType>(data: Float32Array, dtype: D, name = 'data'): DTypeArrayMap[D] {
  checkTarget(dtype, `${name}.dtype`);
  if (!(data instanceof Float32Array)) throw invalidInput(name, `${name} must be a Float32Array`);
  return convertData(data, 'F32', dtype, name) as DTypeArrayMap[D];
}

export interface FromBytesOptions {
  /** Always copy, even when the bytes are aligned and could be viewed in place. */
  copy?: boolean;
  /** Tensor or field name for error messages. */
  name?: string;
}

/**
 * Little-endian raw bytes → typed array of `dtype`. When `bytes` starts at a multiple of the
 * element size the result is a VIEW sharing memory with `bytes` (no copy); when it is misaligned
 * (e.g. a slice of a safetensors file whose header length is not a multiple of 8) the bytes are
 * copied into a new, aligned array. Pass `{copy: true}` to always get independent memory.
 */
export function typedArrayFromBytes<D extends DType>(bytes: Uint8Array, dtype: D, options: FromBytesOptions = {}): DTypeArrayMap[D] {
  const name = options.name ?? 'bytes';
  checkTarget(dtype, `${name}.dtype`);
  if (!(bytes instanceof Uint8Array)) throw invalidInput(name, `${name} must be a Uint8Array`);
  const size = dtypeByteSize(dtype);
  if (bytes.byteLength % size !== 0) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `${name}: ${bytes.byteLength} bytes is not a whole number of ${dtype} elements (${size} bytes each)`,
      { field: name },
    );
  }
  const length = bytes.byteLength / size;
  if (!options.copy && bytes.byteOffset % size === 0) {
    const view = viewAs(dtype, bytes.buffer, bytes.byteOffset, length);
    return view;
  }
  const out = allocateData(dtype, length);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

function viewAs<D extends DType>(dtype: D, buffer: ArrayBufferLike, byteOffset: number, length: number): DTypeArrayMap[D] {
  const probe = allocateData(dtype, 0);
  const Ctor = probe.constructor as new (b: ArrayBufferLike, o: number, l: number) => DTypeArrayMap[D];
  const view = new Ctor(buffer, byteOffset, length);
  if (!isDataOf(dtype, view)) throw new WeightsmithError(ErrorCode.Internal, `no typed array view for ${dtype}`);
  return view;
}

/** The little-endian bytes of a typed array: a view of the same memory, not a copy. */
export function bytesOfTypedArray(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
