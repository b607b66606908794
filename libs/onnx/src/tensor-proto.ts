/**
 * Conversion of typed arrays to onnx.TensorProto (initializers and tensor attributes) and of
 * declared shapes to TensorShapeProto dims.
 */
import { invalidInput, WeightsmithError, ErrorCode } from '@weightsmith/core';
import type { DimensionProto, TensorProto } from './onnx-proto.js';

export type OnnxDType = 'float32' | 'int64' | 'int32' | 'bool';
/** A fixed size, or a symbolic name ('batch', 'seq') that the runtime binds per run. */
export type Dim = number | string;
/** Uint8Array data is stored as ONNX bool (one byte per element, 0 or 1). */
export type InitializerData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** onnx.TensorProto.DataType codes (onnx.proto). */
const DATA_TYPE: Record<OnnxDType, number> = { float32: 1, int32: 6, int64: 7, bool: 9 };

export function onnxDataType(dtype: OnnxDType, field: string): number {
  const code = DATA_TYPE[dtype];
  if (code === undefined) {
    throw invalidInput(field, `dtype '${String(dtype)}' is not one of ${Object.keys(DATA_TYPE).join(', ')}`);
  }
  return code;
}

export function dtypeOfData(data: InitializerData): OnnxDType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'bool';
  throw invalidInput('data', 'tensor data must be a Float32Array, BigInt64Array, Int32Array or Uint8Array (bool)');
}

export function dimsToProto(shape: Dim[]): DimensionProto[] {
  return shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A TensorProto with raw_data (little-endian, as ONNX requires), copied from `data`. */
export function tensorProto(name: string, data: InitializerData, dims: number[]): TensorProto {
  const dtype = dtypeOfData(data);
  let count = 1;
  dims.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 0) throw invalidInput(name, `dim ${i} of tensor '${name}' must be a non-negative integer, got ${d}`);
    count *= d;
  });
  if (count !== data.length) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `tensor '${name}' has ${data.length} elements but dims [${dims.join(', ')}] need ${count}`,
      { field: name },
    );
  }
  if (dtype === 'bool' && data.some((v) => v !== 0 && v !== 1)) {
    throw invalidInput(name, `bool tensor '${name}' may only hold 0 and 1`);
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (!LITTLE_ENDIAN) swapBytes(bytes, data.BYTES_PER_ELEMENT);
  return { name, dataType: onnxDataType(dtype, name), dims: [...dims], rawData: bytes };
}

function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let off = 0; off < bytes.length; off += width) bytes.subarray(off, off + width).reverse();
}
