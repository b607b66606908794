/**
 * Encoding of node attributes. JavaScript has one number type, but ONNX attributes are typed
 * (INT vs FLOAT) and onnxruntime rejects a wrong one, so plain numbers are classified by the
 * attribute name (names that are float attributes in the ONNX operator set) and otherwise by
 * value (integers → INT). `{float}` / `{int}` / `{floats}` / `{ints}` say it explicitly.
 */
import { invalidInput } from '@weightsmith/core';
import { onnx, type AttributeProto } from './onnx-proto.js';
import { tensorProto, type InitializerData } from './tensor-proto.js';

export type AttrValue =
  | number
  | string
  | number[]
  | string[]
  | Float32Array
  | { tensor: { data: InitializerData; dims: number[] } }
  | { float: number }
  | { int: number }
  | { floats: number[] }
  | { ints: number[] };

/** Attribute names that are FLOAT/FLOATS wherever they appear in the default ONNX domain. */
const FLOAT_ATTRIBUTE_NAMES = new Set([
  'alpha', 'beta', 'gamma', 'epsilon', 'momentum', 'lambd', 'bias', 'mean', 'scale', 'seed',
  'low', 'high', 'spatial_scale', 'extrapolation_value', 'cubic_coeff_a', 'value_float',
  'value_floats',
]);

const T = onnx.AttributeProto.AttributeType;

export function encodeAttribute(name: string, value: AttrValue, field: string): AttributeProto {
  if (typeof value === 'number') {
    return FLOAT_ATTRIBUTE_NAMES.has(name) || !Number.isInteger(value) ? floatAttr(name, value) : intAttr(name, value, field);
  }
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (value instanceof Float32Array) return { name, type: T.FLOATS, floats: Array.from(value) };
  if (Array.isArray(value)) {
    if (value.every((v): v is string => typeof v === 'string') && value.length > 0) {
      return { name, type: T.STRINGS, strings: value.map((v) => new TextEncoder().encode(v)) };
    }
    if (!value.every((v): v is number => typeof v === 'number')) {
      throw invalidInput(field, `attribute '${name}' mixes numbers and strings`);
    }
    return FLOAT_ATTRIBUTE_NAMES.has(name) || value.some((v) => !Number.isInteger(v))
      ? { name, type: T.FLOATS, floats: value }
      : intsAttr(name, value, field);
  }
  if (typeof value === 'object' && value !== null) {
    if ('float' in value) return floatAttr(name, value.float);
    if ('int' in value) return intAttr(name, value.int, field);
    if ('floats' in value) return { name, type: T.FLOATS, floats: [...value.floats] };
    if ('ints' in value) return intsAttr(name, value.ints, field);
    if ('tensor' in value) return { name, type: T.TENSOR, t: tensorProto(name, value.tensor.data, value.tensor.dims) };
  }
  throw invalidInput(field, `attribute '${name}' has an unsupported value`);
}

function floatAttr(name: string, f: number): AttributeProto {
  return { name, type: T.FLOAT, f };
}

function intAttr(name: string, i: number, field: string): AttributeProto {
  if (!Number.isSafeInteger(i)) throw invalidInput(field, `attribute '${name}' must be an integer, got ${i}`);
  return { name, type: T.INT, i };
}

function intsAttr(name: string, ints: number[], field: string): AttributeProto {
  ints.forEach((v, k) => {
    if (!Number.isSafeInteger(v)) throw invalidInput(field, `attribute '${name}'[${k}] must be an integer, got ${v}`);
  });
  return { name, type: T.INTS, ints: [...ints] };
}
