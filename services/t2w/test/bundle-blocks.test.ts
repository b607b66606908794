import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { planBlocks, flattenLayout, unflattenToTensors, normalise, denormalise } from '../src/bundle/blocks.js';

// Sizes 15, 3, 6, 2 (P = 26) cut into blocks of 4, never across tensors.
const layout = [
  { name: 'a', shape: [3, 5] },
  { name: 'b', shape: [3] },
  { name: 'c', shape: [2, 3] },
  { name: 'd', shape: [2] },
];

describe('planBlocks', () => {
  test('hand-worked example: [[3,5],[3],[2,3],[2]] with blockSize 4', () => {
    assert.deepEqual(planBlocks(layout, 4), [
      { start: 0, length: 4, tensor: 'a' },
      { start: 4, length: 4, tensor: 'a' },
      { start: 8, length: 4, tensor: 'a' },
      { start: 12, length: 3, tensor: 'a' },
      { start: 15, length: 3, tensor: 'b' },
      { start: 18, length: 4, tensor: 'c' },
      { start: 22, length: 2, tensor: 'c' },
      { start: 24, length: 2, tensor: 'd' },
    ]);
  });

  test('blockSize 1 gives one block per value; a huge blockSize one block per tensor', () => {
    assert.equal(planBlocks(layout, 1).length, 26);
    assert.deepEqual(planBlocks(layout, 1000).map((b) => [b.start, b.length]), [[0, 15], [15, 3], [18, 6], [24, 2]]);
  });

  test('a scalar tensor (shape []) is one block of one value', () => {
    assert.deepEqual(planBlocks([{ name: 's', shape: [] }], 4), [{ start: 0, length: 1, tensor: 's' }]);
  });

  test('blockSize below 1 or fractional is rejected', () => {
    for (const bs of [0, -1, 2.5]) assert.throws(() => planBlocks(layout, bs), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'blockSize');
  });
});

describe('flatten / unflatten', () => {
  const tensors = new Map<string, Float32Array>([
    ['a', Float32Array.from({ length: 15 }, (_, i) => i + 1)],
    ['b', Float32Array.of(-1, -2, -3)],
    ['c', Float32Array.of(0.5, 1.5, 2.5, 3.5, 4.5, 5.5)],
    ['d', Float32Array.of(100, 200)],
  ]);

  test('flatten concatenates in layout order and applies the scale', () => {
    const flat = flattenLayout(tensors, layout, 2);
    assert.equal(flat.length, 26);
    assert.deepEqual([...flat.subarray(0, 3)], [2, 4, 6]);
    assert.deepEqual([...flat.subarray(15, 18)], [-2, -4, -6]);
    assert.deepEqual([...flat.subarray(24)], [200, 400]);
  });

  test('unflatten(flatten(x)) round-trips exactly with a power-of-two scale and closely with 1.646', () => {
    for (const scale of [1, 4, 1.646]) {
      const back = unflattenToTensors(flattenLayout(tensors, layout, scale), layout, scale);
      assert.deepEqual([...back.keys()], ['a', 'b', 'c', 'd']);
      for (const [name, data] of tensors) {
        const got = back.get(name)!;
        for (let i = 0; i < data.length; i++) assert.ok(Math.abs(got[i]! - data[i]!) <= 1e-6 * Math.abs(data[i]!), `${name}[${i}] scale ${scale}`);
      }
    }
  });

  test('normalise / denormalise multiply and divide by the scale', () => {
    const v = Float32Array.of(1, -2, 3);
    assert.deepEqual([...normalise(v, 2)], [2, -4, 6]);
    assert.deepEqual([...denormalise(v, 2)], [0.5, -1, 1.5]);
    assert.throws(() => normalise(v, 0), (e) => isWeightsmithError(e, 'invalid_input'));
  });

  test('a missing, wrongly sized or unknown tensor is named in the error', () => {
    const missing = new Map(tensors);
    missing.delete('c');
    assert.throws(() => flattenLayout(missing, layout), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'c');
    const wrong = new Map(tensors).set('b', new Float32Array(4));
    assert.throws(() => flattenLayout(wrong, layout), (e) => isWeightsmithError(e, 'shape_mismatch') && e.field === 'b');
    const extra = new Map(tensors).set('z', new Float32Array(1));
    assert.throws(() => flattenLayout(extra, layout), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'z');
    assert.throws(() => unflattenToTensors(new Float32Array(25), layout), (e) => isWeightsmithError(e, 'shape_mismatch'));
  });
});
