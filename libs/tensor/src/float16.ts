/**
 * IEEE 754 binary16 (F16) and bfloat16 (BF16) conversions, on raw bit patterns.
 *
 * Every encoder rounds to nearest, ties to even (the IEEE default), overflows to ±Inf, keeps
 * −0, and turns NaN into a quiet NaN of the same sign carrying the top payload bits. Decoding
 * is exact (both formats are subsets of F32). The kernels read float bits through a Uint32Array
 * view of the same memory and do integer arithmetic on them, so there is no per-element
 * allocation and no rounding done by the JS engine on the way.
 */

import { ErrorCode, WeightsmithError } from '@weightsmith/core';

/** F16 bit fields. */
const F16_EXP_MASK = 0x7c00;
const F16_QUIET = 0x0200;
/** F32 bit patterns used as thresholds on |x| (sign cleared). */
const F32_EXP_MASK = 0x7f800000;
/** 2^16: the smallest |x| that rounds to ±Inf for sure (65520 and up round there too, by RNE). */
const F32_2_POW_16 = (127 + 16) << 23;
/** 2^-14: the smallest normal F16; below it the result is subnormal or zero. */
const F32_2_POW_M14 = (127 - 14) << 23;

const CHUNK = 1 << 14;

/*
 * Every kernel takes an optional `out` of the same length: converting a large tensor chunk by
 * chunk into one reused buffer avoids touching fresh memory, which (page faults) costs more than
 * the conversion itself. `out` must not overlap the input.
 */
function outputFor<A extends Uint16Array | Float32Array>(out: A | undefined, length: number, Ctor: new (n: number) => A): A {
  if (out === undefined) return new Ctor(length);
  if (!(out instanceof Ctor) || out.length !== length) {
    throw new WeightsmithError(
      ErrorCode.ShapeMismatch,
      `out must be a ${Ctor.name} of length ${length}, got ${out.constructor.name} of length ${out.length}`,
      { field: 'out' },
    );
  }
  return out;
}

function u32View(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Bits of F32 `u` (as an unsigned 32-bit integer) rounded to F16 bits. The cases follow the
 * regions of |x|: NaN/Inf/huge, normal F16, subnormal F16.
 */
function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const a = u & 0x7fffffff;
  if (a >= F32_2_POW_16) {
    if (a > F32_EXP_MASK) return sign | F16_EXP_MASK | F16_QUIET | ((a >>> 13) & 0x3ff);
    return sign | F16_EXP_MASK;
  }
  if (a >= F32_2_POW_M14) {
    // Rebias the exponent (127 → 15) and drop 13 mantissa bits, adding 0xfff plus the kept LSB
    // so that a carry happens exactly when RNE rounds up. A carry out of the mantissa bumps the
    // exponent, which is right, including 65520 → 0x7c00 (Inf).
    const odd = (a >>> 13) & 1;
    return sign | ((a - ((127 - 15) << 23) + 0xfff + odd) >>> 13);
  }
  // Subnormal F16: the result is round(|x| / 2^-24). With |x| = M · 2^(e−150) and M the 24-bit
  // significand, that is M >> (126 − e) rounded to nearest even. Shifts of 25 and more give 0
  // (M < 2^24 ≤ half), so the shift is clamped there, which also covers F32 subnormals (e = 0).
  const e = a >>> 23;
  const m = (a & 0x7fffff) | 0x800000;
  const shift = Math.min(126 - e, 25);
  const half = 1 << (shift - 1);
  const odd = (m >>> shift) & 1;
  // A round-up to 0x400 lands on the smallest normal F16, which is also right.
  return sign | ((m + half - 1 + odd) >>> shift);
}

/** F16 bits → F32 bits (exact). NaNs become quiet NaNs keeping their payload. */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return (sign | F32_EXP_MASK | (m << 13) | (m !== 0 ? 0x400000 : 0)) >>> 0;
  if (e !== 0) return (sign | ((e + 127 - 15) << 23) | (m << 13)) >>> 0;
  if (m === 0) return sign >>> 0;
  // Subnormal F16 m · 2^-24: normalise so the leading one becomes the implicit bit.
  const lz = Math.clz32(m) - 22; // leading zeros within the 10-bit field, 0..9
  const shifted = (m << (lz + 1)) & 0x3ff;
  return (sign | ((127 - 15 - lz) << 23) | (shifted << 13)) >>> 0;
}

let f16Table: Uint32Array | undefined;
/** All 65536 F16 → F32 results (256 KiB), built once: decoding is then one load per element. */
function f16DecodeTable(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** F32 → F16 bits, round to nearest even. */
export function f32ToF16(src: Float32Array, out?: Uint16Array): Uint16Array {
  const bits = u32View(src);
  out = outputFor(out, src.length, Uint16Array);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

/** F16 bits → F32 (exact). */
export function f16ToF32(bits: Uint16Array, out?: Float32Array): Float32Array {
  const table = f16DecodeTable();
  out = outputFor(out, bits.length, Float32Array);
  const outBits = u32View(out);
  for (let i = 0; i < bits.length; i++) outBits[i] = table[bits[i]!]!;
  return out;
}

/** F32 bits → BF16 bits: BF16 is the top half of F32, so RNE is an integer add on the bits. */
function f32BitsToBF16Bits(u: number): number {
  // A NaN must not go through the rounding add: a payload only in the low half would carry
  // into the exponent or vanish and give ±Inf. Keep its top bits and set the quiet bit.
  if ((u & 0x7fffffff) > F32_EXP_MASK) return (u >>> 16) | 0x0040;
  // u ≤ 0xff800000 here, so the sum stays below 2^32 and is exact in a double.
  return (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** F32 → BF16 bits, round to nearest even (F32 subnormals round like any other bits). */
export function f32ToBF16(src: Float32Array, out?: Uint16Array): Uint16Array {
  const bits = u32View(src);
  out = outputFor(out, src.length, Uint16Array);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBF16Bits(bits[i]!);
  return out;
}

/** BF16 bits → F32 (exact; signalling NaNs come back quiet). */
export function bf16ToF32(bits: Uint16Array, out?: Float32Array): Float32Array {
  out = outputFor(out, bits.length, Float32Array);
  const outBits = u32View(out);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!;
    const quiet = (h & 0x7fff) > 0x7f80 ? 0x0040 : 0;
    outBits[i] = (h | quiet) << 16;
  }
  return out;
}

/**
 * F64 → F32 rounded to odd: truncate toward zero, then set the last bit if anything was cut
 * off. Rounding a value first to odd with at least two extra bits and then to nearest even
 * gives the same result as rounding once, so F64 → (odd) F32 → F16/BF16 has no double-rounding
 * error, unlike F64 → (RNE) F32 → F16.
 */
function f64ToF32RoundToOdd(src: Float64Array, start: number, end: number, dst: Float32Array, dstBits: Uint32Array): void {
  for (let i = start; i < end; i++) {
    const d = src[i]!;
    const f = Math.fround(d);
    const j = i - start;
    dst[j] = f;
    if (f !== d && d === d) {
      let u = dstBits[j]!;
      // RNE went away from zero: step one ulp back toward zero (the truncated value).
      if (Math.abs(f) > Math.abs(d)) u -= 1;
      dstBits[j] = (u | 1) >>> 0;
    }
  }
}

function f64ToHalf(src: Float64Array, encode: (u: number) => number, out?: Uint16Array): Uint16Array {
  out = outputFor(out, src.length, Uint16Array);
  const scratch = new Float32Array(Math.min(CHUNK, src.length));
  const scratchBits = u32View(scratch);
  for (let start = 0; start < src.length; start += CHUNK) {
    const end = Math.min(start + CHUNK, src.length);
    f64ToF32RoundToOdd(src, start, end, scratch, scratchBits);
    for (let i = start; i < end; i++) out[i] = encode(scratchBits[i - start]!);
  }
  return out;
}

/** F64 → F16 bits, correctly rounded (to nearest even) from the double, not via RNE F32. */
export function f64ToF16(src: Float64Array, out?: Uint16Array): Uint16Array {
  return f64ToHalf(src, f32BitsToF16Bits, out);
}

/** F64 → BF16 bits, correctly rounded (to nearest even) from the double. */
export function f64ToBF16(src: Float64Array, out?: Uint16Array): Uint16Array {
  return f64ToHalf(src, f32BitsToBF16Bits, out);
}

const scalarF32 = new Float32Array(1);
const scalarU32 = new Uint32Array(scalarF32.buffer);

/** One number → F16 bits (rounded from the double, as f64ToF16). */
export function numberToF16Bits(x: number): number {
  return f64ToF16(Float64Array.of(x))[0]!;
}

/** F16 bits → number (exact). */
export function f16BitsToNumber(h: number): number {
  scalarU32[0] = f16DecodeTable()[h & 0xffff]!;
  return scalarF32[0]!;
}

/** One number → BF16 bits (rounded from the double, as f64ToBF16). */
export function numberToBF16Bits(x: number): number {
  return f64ToBF16(Float64Array.of(x))[0]!;
}

/** BF16 bits → number (exact). */
export function bf16BitsToNumber(h: number): number {
  return bf16ToF32(Uint16Array.of(h & 0xffff))[0]!;
}

/**
 * The values of a float tensor stored as F32, F16 or BF16 (a safetensors or libs/tensor tensor),
 * as F32: F32 data as it is (not copied), half formats widened exactly; undefined for any other
 * dtype, so the caller names the field in its own error.
 */
export function floatValuesAsF32(t: { readonly dtype: string; readonly data: unknown }): Float32Array | undefined {
  if (t.dtype === 'F32' && t.data instanceof Float32Array) return t.data;
  if (t.dtype === 'F16' && t.data instanceof Uint16Array) return f16ToF32(t.data);
  if (t.dtype === 'BF16' && t.data instanceof Uint16Array) return bf16ToF32(t.data);
  return undefined;
}
