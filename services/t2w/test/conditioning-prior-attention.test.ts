import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { priorAttentionPool } from '../src/conditioning/prior-attention.js';
import { LruCache } from '../src/conditioning/lru.js';

function near(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
}

describe('prior attention pooling', () => {
  test('hand-computed three-class example', () => {
    // e1=(1,0), e2=(0,1), e3=(1,1): g=(2/3,2/3); cos = 1/√2, 1/√2, 1.
    const v = priorAttentionPool(Float32Array.from([1, 0, 0, 1, 1, 1]), 2);
    const a = Math.exp(Math.SQRT1_2);
    const c = Math.exp(1);
    const z = 2 * a + c;
    near(v, [(a + c) / z, (a + c) / z], 1e-7);
  });

  test('unequal vectors: weights favour the ones aligned with the mean', () => {
    // e1=(2,0), e2=(0,1): g=(1,0.5), cos1 = 2/(2·√1.25), cos2 = 0.5/(1·√1.25).
    const v = priorAttentionPool(Float32Array.from([2, 0, 0, 1]), 2);
    const n = Math.sqrt(1.25);
    const w1 = Math.exp(1 / n);
    const w2 = Math.exp(0.5 / n);
    near(v, [(2 * w1) / (w1 + w2), w2 / (w1 + w2)], 1e-7);
    // normalize: true makes both unit length, so they weigh the same: v = (0.5, 0.5).
    near(priorAttentionPool(Float32Array.from([2, 0, 0, 1]), 2, { normalize: true }), [0.5, 0.5], 1e-7);
  });

  test('one class is returned as is; class order does not matter', () => {
    near(priorAttentionPool(Float32Array.from([0.3, -2, 5]), 3), [0.3, -2, 5], 1e-7);
    const a = priorAttentionPool(Float32Array.from([1, 2, 3, -1, 0, 2, 4, 4, 1]), 3);
    const b = priorAttentionPool(Float32Array.from([4, 4, 1, 1, 2, 3, -1, 0, 2]), 3);
    near(a, b, 1e-6);
  });

  test('opposite embeddings (zero mean) give uniform weights, i.e. the mean', () => {
    near(priorAttentionPool(Float32Array.from([1, 2, -1, -2]), 2), [0, 0], 0);
  });

  test('rejects bad shapes, zero vectors and non-finite values', () => {
    assert.throws(() => priorAttentionPool(Float32Array.from([1, 2, 3]), 2), (e) => isWeightsmithError(e, 'shape_mismatch') && e.field === 'embeddings');
    assert.throws(() => priorAttentionPool(new Float32Array(0), 2), (e) => isWeightsmithError(e, 'shape_mismatch'));
    assert.throws(() => priorAttentionPool(Float32Array.from([1, 2, 0, 0]), 2), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'embeddings');
    assert.throws(() => priorAttentionPool(Float32Array.from([1, Number.NaN]), 2), (e) => isWeightsmithError(e, 'non_finite'));
    assert.throws(() => priorAttentionPool(Float32Array.from([1, 2]), 0), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'dim');
  });
});

describe('LRU cache', () => {
  test('evicts the least recently used entry; get refreshes recency', () => {
    const c = new LruCache(2);
    const a = Float32Array.from([1]);
    c.set('a', a);
    c.set('b', Float32Array.from([2]));
    assert.equal(c.get('a'), a); // a is now most recent
    c.set('c', Float32Array.from([3])); // evicts b
    assert.equal(c.has('b'), false);
    assert.deepEqual(c.keys(), ['a', 'c']);
    c.set('a', Float32Array.from([9])); // update keeps size
    assert.equal(c.size, 2);
    assert.deepEqual(c.keys(), ['c', 'a']);
    assert.equal(c.get('missing'), undefined);
  });

  test('getOrCompute computes once per miss', async () => {
    const c = new LruCache(1);
    let calls = 0;
    const make = async () => {
      calls++;
      return Float32Array.from([calls]);
    };
    await c.getOrCompute('x', make);
    await c.getOrCompute('x', make);
    assert.equal(calls, 1);
    await c.getOrCompute('y', make);
    await c.getOrCompute('x', make);
    assert.equal(calls, 3);
  });

  test('rejects a non-positive size', () => {
    assert.throws(() => new LruCache(0), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'maxEntries');
  });
});
