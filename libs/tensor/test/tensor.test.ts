import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { DTYPES, dtypeByteSize, isDType, makeTensor, numel, reshape, zeros, type Tensor } from '../src/tensor.js';

const hasCode = (code: string, field?: string) => (err: unknown) =>
  isWeightsmithError(err) && err.code === code && (field === undefined || err.field === field);

describe('dtypes', () => {
  test('byte sizes follow the safetensors spec', () => {
    const expected: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
    assert.deepEqual(Object.fromEntries(DTYPES.map((d) => [d, dtypeByteSize(d)])), expected);
  });

  test('isDType accepts exactly the ten names', () => {
    for (const d of DTYPES) assert.ok(isDType(d));
    for (const x of ['f32', 'FLOAT', 'F8_E4M3', '', 'toString', 'constructor', 7, null]) assert.equal(isDType(x), false, String(x));
  });
});

describe('numel', () => {
  test('products, the empty shape and zero dimensions', () => {
    assert.equal(numel([]), 1);
    assert.equal(numel([3, 4, 5]), 60);
    assert.equal(numel([7, 0, 9]), 0);
    // A zero anywhere wins even when the other dimensions alone would overflow.
    assert.equal(numel([2 ** 40, 2 ** 40, 0]), 0);
    assert.equal(numel([3, 3002399751580330]), 9007199254740990);
    assert.equal(numel([Number.MAX_SAFE_INTEGER, 1]), Number.MAX_SAFE_INTEGER);
  });

  test('negative, fractional, NaN and unsafe dimensions are invalid_input naming the index', () => {
    for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
      assert.throws(() => numel([2, bad]), (e: unknown) => hasCode(ErrorCode.InvalidInput, 'shape')(e) && /shape\[1\]/.test((e as Error).message));
    }
    assert.throws(() => numel(['3' as unknown as number]), hasCode(ErrorCode.InvalidInput));
  });

  test('a product beyond 2^53 - 1 is too_large instead of a rounded number', () => {
    assert.throws(() => numel([2 ** 27, 2 ** 27]), hasCode(ErrorCode.TooLarge, 'shape'));
    assert.throws(() => numel([2 ** 26, 2 ** 26, 2]), hasCode(ErrorCode.TooLarge)); // exactly 2^53
    assert.throws(() => numel([3, 3002399751580331]), hasCode(ErrorCode.TooLarge)); // 2^53 + 1 would round
    assert.throws(() => numel([2 ** 20, 2 ** 20, 2 ** 20], 'w.shape'), hasCode(ErrorCode.TooLarge, 'w.shape'));
  });
});

describe('makeTensor', () => {
  test('wraps the data without copying and copies the shape', () => {
    const data = new Float32Array(6);
    const shape = [2, 3];
    const t = makeTensor('F32', shape, data);
    assert.equal(t.data, data);
    shape[0] = 99;
    assert.deepEqual(t.shape, [2, 3]);
  });

  test('a length that does not match the shape is shape_mismatch naming both', () => {
    assert.throws(
      () => makeTensor('F32', [2, 3], new Float32Array(5), 'layer.weight'),
      (e: unknown) =>
        hasCode(ErrorCode.ShapeMismatch, 'layer.weight')(e) && /\[2, 3\]/.test((e as Error).message) && /6/.test((e as Error).message) && /5/.test((e as Error).message),
    );
  });

  test('the wrong array kind for the dtype is shape_mismatch', () => {
    assert.throws(() => makeTensor('F32', [2], new Float64Array(2) as unknown as Float32Array), hasCode(ErrorCode.ShapeMismatch));
    assert.throws(() => makeTensor('I64', [2], new Int32Array(2) as unknown as BigInt64Array), hasCode(ErrorCode.ShapeMismatch));
    // F16 and BF16 share the raw-bits container.
    assert.equal(makeTensor('BF16', [2], new Uint16Array(2)).dtype, 'BF16');
  });

  test('an unknown dtype is invalid_input', () => {
    assert.throws(() => makeTensor('F8' as 'F32', [1], new Float32Array(1)), hasCode(ErrorCode.InvalidInput, 'tensor.dtype'));
  });

  test('zeros allocates the right container and length; dtype narrows data', () => {
    const t: Tensor = zeros('I64', [2, 2]);
    assert.ok(t.data instanceof BigInt64Array);
    assert.equal(t.data.length, 4);
    if (t.dtype === 'I64') assert.equal(t.data[0], 0n);
    assert.ok(zeros('BOOL', [3]).data instanceof Uint8Array);
    assert.equal(zeros('F16', [0, 5]).data.length, 0);
  });

  test('reshape keeps the data and checks the count', () => {
    const t = makeTensor('I32', [2, 3], Int32Array.of(1, 2, 3, 4, 5, 6));
    const r = reshape(t, [3, 2]);
    assert.equal(r.data, t.data);
    assert.deepEqual(r.shape, [3, 2]);
    assert.throws(() => reshape(t, [4, 2]), hasCode(ErrorCode.ShapeMismatch));
  });
});
