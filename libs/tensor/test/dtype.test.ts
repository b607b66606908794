import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import {
  bf16BitsToNumber,
  bf16ToF32,
  f16BitsToNumber,
  f16ToF32,
  f32ToBF16,
  f32ToF16,
  f64ToBF16,
  f64ToF16,
  floatValuesAsF32,
  numberToBF16Bits,
  numberToF16Bits,
} from '../src/float16.js';
import { bytesOfTypedArray, castTensor, fromF32, toF32, typedArrayFromBytes } from '../src/dtype.js';
import { makeTensor } from '../src/tensor.js';

/*
 * Expected bit patterns are worked out by hand from IEEE 754 (binary16: 1 sign, 5 exponent
 * bits with bias 15, 10 mantissa bits; bfloat16: the top 16 bits of binary32), not produced by
 * the code under test. Inputs given as bit patterns go through DataView, independent of the
 * kernels' Uint32Array views.
 */
function f32FromBits(u: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, u >>> 0);
  return dv.getFloat32(0);
}
function f32Bits(x: number): number {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  return dv.getUint32(0);
}
const hex = (x: number): string => `0x${x.toString(16).padStart(4, '0')}`;

function encodeF16(values: number[]): number[] {
  return [...f32ToF16(Float32Array.from(values))];
}

const hasCode = (code: string, field?: string) => (err: unknown) =>
  isWeightsmithError(err) && err.code === code && (field === undefined || err.field === field);

describe('F32 -> F16 (round to nearest, ties to even)', () => {
  const cases: [string, number, number][] = [
    ['1.0', 1, 0x3c00],
    ['-2.0', -2, 0xc000],
    ['0.5', 0.5, 0x3800],
    ['65504, the largest finite', 65504, 0x7bff],
    ['65519.996, just under the overflow tie', 65520 - 2 ** -8, 0x7bff],
    ['65520, tie between 65504 (odd) and 2^16 (Inf): rounds to Inf', 65520, 0x7c00],
    ['-65520', -65520, 0xfc00],
    ['1e10 overflows', 1e10, 0x7c00],
    ['2^-14, smallest normal', 2 ** -14, 0x0400],
    ['2^-14 - 2^-24, largest subnormal', 2 ** -14 - 2 ** -24, 0x03ff],
    ['2^-14 - 2^-25, tie between 0x3ff (odd) and 0x400: up to the smallest normal', 2 ** -14 - 2 ** -25, 0x0400],
    ['2^-24, smallest subnormal', 2 ** -24, 0x0001],
    ['2^-25, tie between 0 and 2^-24: to even 0', 2 ** -25, 0x0000],
    ['-2^-25 keeps its sign', -(2 ** -25), 0x8000],
    ['3*2^-26 = 0.75 ulp: up', 3 * 2 ** -26, 0x0001],
    ['2^-25 + 2^-40, just above the tie: up', 2 ** -25 + 2 ** -40, 0x0001],
    ['2^-26, a quarter ulp: down', 2 ** -26, 0x0000],
    ['3*2^-25 = 1.5 ulp, tie: to even 2', 3 * 2 ** -25, 0x0002],
    ['5*2^-25 = 2.5 ulp, tie: to even 2', 5 * 2 ** -25, 0x0002],
    ['1 + 2^-11, tie: to even 1.0', 1 + 2 ** -11, 0x3c00],
    ['1 + 3*2^-11, tie between 0x3c01 and 0x3c02: even', 1 + 3 * 2 ** -11, 0x3c02],
    ['1 + 2^-11 + 2^-20, above the tie', 1 + 2 ** -11 + 2 ** -20, 0x3c01],
    ['1 + 2^-11 - 2^-20, below the tie', 1 + 2 ** -11 - 2 ** -20, 0x3c00],
    ['0.1f = 1.6 * 2^-4: mantissa round(0.6 * 1024) = 614', f32FromBits(0x3dcccccd), 0x2e66],
    ['2^-149, the smallest F32 subnormal, underflows', f32FromBits(0x00000001), 0x0000],
    ['-2^-149 underflows to -0', f32FromBits(0x80000001), 0x8000],
    ['+0', 0, 0x0000],
    ['-0', -0, 0x8000],
    ['+Inf', Infinity, 0x7c00],
    ['-Inf', -Infinity, 0xfc00],
  ];
  for (const [label, input, expected] of cases) {
    test(`${label} -> ${hex(expected)}`, () => {
      assert.equal(hex(encodeF16([input])[0]!), hex(expected));
    });
  }

  test('NaN stays a quiet NaN with its sign, including NaNs whose payload is only in the low bits', () => {
    const inputs = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7fa00000];
    const out = f32ToF16(new Float32Array(Uint32Array.from(inputs).buffer));
    for (let i = 0; i < inputs.length; i++) {
      const h = out[i]!;
      assert.equal(h & 0x7c00, 0x7c00, `exponent of ${hex(h)}`);
      assert.notEqual(h & 0x03ff, 0, `NaN ${inputs[i]!.toString(16)} must not become Inf`);
      assert.equal(h & 0x0200, 0x0200, 'quiet bit');
      assert.equal(h >>> 15, inputs[i]! >>> 31, 'sign');
    }
    assert.equal(out[0], 0x7e00);
    assert.equal(out[5], 0x7f00); // payload bit 21 of the F32 mantissa lands on F16 bit 8
  });

  test('a large array converts element by element like the scalar cases', () => {
    const n = 100_000;
    const src = new Float32Array(n);
    for (let i = 0; i < n; i++) src[i] = i % 2 === 0 ? 1 + 3 * 2 ** -11 : -65520;
    const out = f32ToF16(src);
    for (let i = 0; i < n; i++) assert.equal(out[i], i % 2 === 0 ? 0x3c02 : 0xfc00);
  });
});

describe('conversion into a caller-supplied buffer', () => {
  test('out is filled and returned; a wrong length or kind is shape_mismatch on field out', () => {
    const out = new Uint16Array(2);
    assert.equal(f32ToF16(Float32Array.of(1, -2), out), out);
    assert.deepEqual([...out].map(hex), [0x3c00, 0xc000].map(hex));
    assert.deepEqual([...f32ToBF16(Float32Array.of(1, -2), out)].map(hex), [0x3f80, 0xc000].map(hex));
    assert.deepEqual([...f64ToF16(Float64Array.of(0.5, 2 ** -24), out)].map(hex), [0x3800, 0x0001].map(hex));
    const back = new Float32Array(2);
    assert.equal(f16ToF32(Uint16Array.of(0x3c00, 0x7c00), back), back);
    assert.deepEqual([...back], [1, Infinity]);
    assert.deepEqual([...bf16ToF32(Uint16Array.of(0x3f80, 0xbf80), back)], [1, -1]);
    assert.throws(() => f32ToF16(Float32Array.of(1, 2, 3), out), hasCode(ErrorCode.ShapeMismatch, 'out'));
    assert.throws(() => f16ToF32(Uint16Array.of(1), back), hasCode(ErrorCode.ShapeMismatch, 'out'));
    assert.throws(() => f32ToF16(Float32Array.of(1), new Int16Array(1) as unknown as Uint16Array), hasCode(ErrorCode.ShapeMismatch, 'out'));
  });
});

describe('floatValuesAsF32', () => {
  test('F32 as it is (same array), F16 and BF16 widened, anything else undefined', () => {
    const f32 = Float32Array.of(1.5, -2);
    assert.equal(floatValuesAsF32({ dtype: 'F32', data: f32 }), f32);
    assert.deepEqual([...floatValuesAsF32({ dtype: 'F16', data: Uint16Array.of(0x3e00, 0xc000) })!], [1.5, -2]);
    assert.deepEqual([...floatValuesAsF32({ dtype: 'BF16', data: Uint16Array.of(0x3fc0, 0xc000) })!], [1.5, -2]);
    assert.equal(floatValuesAsF32({ dtype: 'F64', data: Float64Array.of(1) }), undefined);
    assert.equal(floatValuesAsF32({ dtype: 'I32', data: Int32Array.of(1) }), undefined);
    // A dtype that does not match its data is not trusted.
    assert.equal(floatValuesAsF32({ dtype: 'F16', data: Float32Array.of(1) }), undefined);
  });
});

describe('F16 -> F32 (exact)', () => {
  const cases: [number, number][] = [
    [0x0001, 2 ** -24],
    [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14],
    [0x3c00, 1],
    [0x3c01, 1 + 2 ** -10],
    [0x3555, 1365 / 4096], // (1 + 341/1024) · 2^(13 − 15)
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0000, 0],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x8001, -(2 ** -24)],
  ];
  for (const [bits, value] of cases) {
    test(`${hex(bits)} -> ${value}`, () => {
      assert.equal(f16ToF32(Uint16Array.of(bits))[0], value);
      assert.equal(f16BitsToNumber(bits), value);
    });
  }
  test('0x8000 is -0', () => {
    assert.ok(Object.is(f16ToF32(Uint16Array.of(0x8000))[0], -0));
  });
  test('NaN patterns decode to NaN (quiet), with the sign kept', () => {
    const out = f16ToF32(Uint16Array.of(0x7e00, 0x7c01, 0xfc01, 0x7fff));
    for (const v of out) assert.ok(Number.isNaN(v));
    const bits = new Uint32Array(out.buffer);
    assert.equal(bits[1]! & 0x00400000, 0x00400000, 'signalling NaN comes back quiet');
    assert.equal(bits[2]! >>> 31, 1);
  });
  test('every one of the 65536 patterns re-encodes to itself (NaNs up to quieting)', () => {
    const all = new Uint16Array(65536);
    for (let i = 0; i < all.length; i++) all[i] = i;
    const back = f32ToF16(f16ToF32(all));
    for (let i = 0; i < all.length; i++) {
      const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      assert.equal(back[i], isNaN ? i | 0x0200 : i, hex(i));
    }
  });
});

describe('F32 -> BF16 (round to nearest, ties to even)', () => {
  const cases: [string, number, number][] = [
    ['1.0', 0x3f800000, 0x3f80],
    ['tie, kept half even: down', 0x3f808000, 0x3f80],
    ['tie, kept half odd: up', 0x3f818000, 0x3f82],
    ['just above a tie: up', 0x3f808001, 0x3f81],
    ['just below a tie: down', 0x3f807fff, 0x3f80],
    ['largest F32 overflows to Inf by rounding', 0x7f7fffff, 0x7f80],
    ['largest BF16 stays', 0x7f7f7fff, 0x7f7f],
    ['-largest F32 to -Inf', 0xff7fffff, 0xff80],
    ['+Inf', 0x7f800000, 0x7f80],
    ['-Inf', 0xff800000, 0xff80],
    ['-0', 0x80000000, 0x8000],
    ['F32 subnormal below half a BF16 ulp: 0', 0x00000001, 0x0000],
    ['F32 subnormal tie, kept even: 0', 0x00008000, 0x0000],
    ['F32 subnormal tie, kept odd: up', 0x00018000, 0x0002],
    ['F32 subnormal that is a BF16 subnormal', 0x00010000, 0x0001],
    ['negative subnormal just above a tie', 0x80008001, 0x8001],
    ['largest F32 subnormal rounds up to the smallest normal', 0x007fffff, 0x0080],
  ];
  for (const [label, input, expected] of cases) {
    test(`${label}: 0x${input.toString(16)} -> ${hex(expected)}`, () => {
      const out = f32ToBF16(new Float32Array(Uint32Array.of(input).buffer));
      assert.equal(hex(out[0]!), hex(expected));
    });
  }

  test('NaNs stay NaN: naive rounding would turn 0x7f800001 into Inf and 0x7fffffff into -0', () => {
    const inputs = [0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f808000];
    const out = f32ToBF16(new Float32Array(Uint32Array.from(inputs).buffer));
    assert.deepEqual([...out].map(hex), [0x7fc0, 0x7fc0, 0xffc0, 0x7fff, 0x7fc0].map(hex));
  });
});

describe('BF16 -> F32 (exact)', () => {
  test('decode vectors', () => {
    const bits = Uint16Array.of(0x3f80, 0xc040, 0x0001, 0x0080, 0x7f7f, 0x7f80, 0xff80);
    const expected = [1, -3, 2 ** -133, 2 ** -126, (2 - 2 ** -7) * 2 ** 127, Infinity, -Infinity];
    assert.deepEqual([...bf16ToF32(bits)], expected);
    assert.equal(bf16BitsToNumber(0x3f80), 1);
    assert.ok(Object.is(bf16ToF32(Uint16Array.of(0x8000))[0], -0));
  });
  test('NaN patterns decode to quiet NaN', () => {
    const out = bf16ToF32(Uint16Array.of(0x7f81, 0xffc0));
    assert.ok(Number.isNaN(out[0]!) && Number.isNaN(out[1]!));
    assert.equal(f32Bits(out[0]!) & 0x00400000, 0x00400000);
  });
});

describe('F64 -> F16/BF16 round once (no double rounding through F32)', () => {
  test('a double just above an F16 tie rounds up, though its nearest F32 is the tie itself', () => {
    const x = 1 + 2 ** -11 + 2 ** -40; // F32 RNE gives exactly 1 + 2^-11, which then ties to even (down)
    assert.equal(hex(f32ToF16(Float32Array.of(x))[0]!), hex(0x3c00));
    assert.equal(hex(f64ToF16(Float64Array.of(x))[0]!), hex(0x3c01));
    const y = 1 + 3 * 2 ** -11 - 2 ** -40; // just below a tie whose even neighbour is up
    assert.equal(hex(f64ToF16(Float64Array.of(y))[0]!), hex(0x3c01));
    assert.equal(numberToF16Bits(x), 0x3c01);
  });
  test('the same for BF16', () => {
    const x = 1 + 2 ** -8 + 2 ** -40;
    assert.equal(hex(f32ToBF16(Float32Array.of(x))[0]!), hex(0x3f80));
    assert.equal(hex(f64ToBF16(Float64Array.of(x))[0]!), hex(0x3f81));
    assert.equal(numberToBF16Bits(x), 0x3f81);
  });
  test('overflow, infinities, NaN, -0 and F16 subnormals from doubles', () => {
    const src = Float64Array.of(1e300, -1e300, 65519.99999, Infinity, Number.NaN, -0, 2 ** -25 + 2 ** -60, 1e-300);
    assert.deepEqual([...f64ToF16(src)].map(hex), [0x7c00, 0xfc00, 0x7bff, 0x7c00, 0x7e00, 0x8000, 0x0001, 0x0000].map(hex));
    assert.deepEqual([...f64ToBF16(Float64Array.of(1e300, 1e-300, -0))].map(hex), [0x7f80, 0x0000, 0x8000].map(hex));
  });
});

describe('castTensor / toF32 / fromF32', () => {
  test('float -> int truncates toward zero', () => {
    const t = makeTensor('F32', [6], Float32Array.of(1.9, -1.9, 0.5, -0.5, 127, -128));
    assert.deepEqual([...castTensor(t, 'I8').data], [1, -1, 0, 0, 127, -128]);
    assert.deepEqual([...castTensor(t, 'I64').data], [1n, -1n, 0n, 0n, 127n, -128n]);
  });

  test('float -> int out of range is invalid_input naming the element; NaN is non_finite', () => {
    const t = makeTensor('F32', [2], Float32Array.of(1, 128));
    assert.throws(() => castTensor(t, 'I8', 'w'), (e: unknown) => hasCode(ErrorCode.InvalidInput, 'w')(e) && /w\[1\] = 128/.test((e as Error).message));
    assert.throws(() => castTensor(makeTensor('F32', [1], Float32Array.of(-1)), 'U8'), hasCode(ErrorCode.InvalidInput));
    assert.throws(() => castTensor(makeTensor('F64', [2], Float64Array.of(0, Number.NaN)), 'I32', 'x'), hasCode(ErrorCode.NonFinite, 'x'));
    assert.throws(() => castTensor(makeTensor('F16', [1], Uint16Array.of(0x7c00)), 'I64'), hasCode(ErrorCode.NonFinite));
    assert.throws(() => castTensor(makeTensor('F64', [1], Float64Array.of(2 ** 63)), 'I64'), hasCode(ErrorCode.InvalidInput));
    assert.equal(castTensor(makeTensor('F64', [1], Float64Array.of(-(2 ** 63))), 'I64').data[0], -(2n ** 63n));
  });

  test('int -> int is exact or rejected, never wrapped', () => {
    const t = makeTensor('I64', [3], BigInt64Array.of(-5n, 0n, 2147483647n));
    assert.deepEqual([...castTensor(t, 'I32').data], [-5, 0, 2147483647]);
    assert.throws(() => castTensor(t, 'I16'), hasCode(ErrorCode.InvalidInput));
    assert.deepEqual([...castTensor(makeTensor('I16', [2], Int16Array.of(-300, 300)), 'I32').data], [-300, 300]);
    assert.throws(() => castTensor(makeTensor('I32', [1], Int32Array.of(256)), 'U8'), hasCode(ErrorCode.InvalidInput));
  });

  test('BOOL: non-zero (NaN included) is 1, and BOOL reads back as 0/1', () => {
    const f = makeTensor('F32', [4], Float32Array.of(0, -0, 0.001, Number.NaN));
    assert.deepEqual([...castTensor(f, 'BOOL').data], [0, 0, 1, 1]);
    assert.deepEqual([...castTensor(makeTensor('I64', [2], BigInt64Array.of(0n, -7n)), 'BOOL').data], [0, 1]);
    const b = makeTensor('BOOL', [3], Uint8Array.of(0, 1, 2));
    assert.deepEqual([...castTensor(b, 'F32').data], [0, 1, 1]);
    assert.deepEqual([...castTensor(b, 'I64').data], [0n, 1n, 1n]);
  });

  test('int -> F32 rounds once: I64 2^24 + 1 -> 2^24 (tie to even), 2^60 + 2^36 + 1 -> 2^60 + 2^37', () => {
    // 2^60 + 2^36 is an exact F32 tie (ulp at 2^60 is 2^37); the +1 puts it above, so it rounds up.
    // Going through Number() first would give the tie and round down to 2^60.
    const t = makeTensor('I64', [3], BigInt64Array.of(2n ** 24n + 1n, 2n ** 60n + 2n ** 36n + 1n, -(2n ** 60n + 2n ** 36n + 1n)));
    assert.deepEqual([...toF32(t)], [2 ** 24, 2 ** 60 + 2 ** 37, -(2 ** 60 + 2 ** 37)]);
    assert.deepEqual([...castTensor(t, 'F64').data], [2 ** 24 + 1, 2 ** 60 + 2 ** 36, -(2 ** 60 + 2 ** 36)]);
  });

  test('I32 -> BF16 rounds once: 2^25 + 2^17 + 1 -> 2^25 + 2^18', () => {
    // BF16 ulp at 2^25 is 2^18, so 2^25 + 2^17 is a tie; +1 is above it. Via F32 (ulp 4) the +1 is lost.
    const t = makeTensor('I32', [1], Int32Array.of(2 ** 25 + 2 ** 17 + 1));
    const bits = castTensor(t, 'BF16').data[0]!;
    assert.equal(bf16BitsToNumber(bits), 2 ** 25 + 2 ** 18);
  });

  test('F16 <-> BF16 <-> F64 casts keep exactly representable values and signed zero', () => {
    const t = makeTensor('F16', [4], Uint16Array.of(0x3c00, 0xc000, 0x8000, 0x7bff));
    const b = castTensor(t, 'BF16');
    // 65504 is F32 0x477fe000; its low half 0xe000 is above the tie, so BF16 rounds up to 0x4780 (65536).
    assert.deepEqual([...b.data].map(hex), [0x3f80, 0xc000, 0x8000, 0x4780].map(hex));
    assert.deepEqual([...castTensor(t, 'F64').data], [1, -2, -0, 65504]);
  });

  test('toF32 and fromF32 return new arrays, even for F32', () => {
    const data = Float32Array.of(1, 2);
    const t = makeTensor('F32', [2], data);
    const copy = toF32(t);
    assert.notEqual(copy, data);
    assert.deepEqual(copy, data);
    const same = fromF32(data, 'F32');
    same[0] = 9;
    assert.equal(data[0], 1);
    assert.deepEqual([...fromF32(Float32Array.of(1.5), 'F16')].map(hex), [hex(0x3e00)]);
    assert.throws(() => fromF32(data, 'Q4' as 'F32'), hasCode(ErrorCode.InvalidInput));
  });

  test('castTensor checks its input tensor', () => {
    const bad = { dtype: 'F32' as const, shape: [3], data: new Float32Array(2) };
    assert.throws(() => castTensor(bad, 'F16', 'x'), hasCode(ErrorCode.ShapeMismatch, 'x'));
  });
});

describe('bytes <-> typed arrays (little-endian)', () => {
  test('aligned bytes are viewed in place, misaligned bytes are copied, values read little-endian', () => {
    const buf = new Uint8Array(16);
    const dv = new DataView(buf.buffer);
    dv.setFloat32(4, 1.5, true);
    dv.setFloat32(8, -2, true);
    const aligned = typedArrayFromBytes(buf.subarray(4, 12), 'F32');
    assert.deepEqual([...aligned], [1.5, -2]);
    assert.equal(aligned.buffer, buf.buffer, 'aligned input is a view');
    dv.setFloat32(5, 3.25, true);
    const misaligned = typedArrayFromBytes(buf.subarray(5, 9), 'F32');
    assert.deepEqual([...misaligned], [3.25]);
    assert.notEqual(misaligned.buffer, buf.buffer, 'misaligned input is copied');
    const copied = typedArrayFromBytes(buf.subarray(4, 12), 'F32', { copy: true });
    assert.notEqual(copied.buffer, buf.buffer);
  });

  test('I64 and F16 bytes', () => {
    const buf = new Uint8Array(8 + 4);
    const dv = new DataView(buf.buffer);
    dv.setBigInt64(0, -3n, true);
    dv.setUint16(8, 0x3c00, true);
    dv.setUint16(10, 0xfc00, true);
    assert.deepEqual([...typedArrayFromBytes(buf.subarray(0, 8), 'I64')], [-3n]);
    assert.deepEqual([...f16ToF32(typedArrayFromBytes(buf.subarray(8, 12), 'F16'))], [1, -Infinity]);
    assert.deepEqual([...typedArrayFromBytes(Uint8Array.of(0, 1, 1), 'BOOL')], [0, 1, 1]);
  });

  test('a byte length that is not a whole number of elements is shape_mismatch', () => {
    assert.throws(() => typedArrayFromBytes(new Uint8Array(6), 'F32', { name: 'w' }), hasCode(ErrorCode.ShapeMismatch, 'w'));
  });

  test('bytesOfTypedArray is the little-endian view of the same memory', () => {
    const a = Int32Array.of(0x01020304, -1);
    const bytes = bytesOfTypedArray(a);
    assert.deepEqual([...bytes], [4, 3, 2, 1, 255, 255, 255, 255]);
    bytes[0] = 5;
    assert.equal(a[0], 0x01020305);
    const sub = bytesOfTypedArray(new Float64Array(4).subarray(1, 2));
    assert.equal(sub.byteOffset, 8);
    assert.equal(sub.length, 8);
  });
});
