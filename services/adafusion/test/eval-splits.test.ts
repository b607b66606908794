import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { randomSplits } from '../src/eval/splits.js';

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `s${String(i).padStart(2, '0')}`);

function throwsCode(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (err: unknown) => isWeightsmithError(err) && err.code === code && err.field === field);
}

describe('randomSplits', () => {
  test('10 stratified 70/30 splits: disjoint, covering, every class on both sides', () => {
    const slideIds = ids(23);
    // 10 of class 0, 8 of class 1, 5 of class 2 → train 7 + 6 (5.6 rounds up) + 4 (3.5 rounds up) = 17.
    const labels = [...Array(10).fill(0), ...Array(8).fill(1), ...Array(5).fill(2)] as number[];
    const splits = randomSplits(slideIds, labels, { seed: 7 });
    assert.equal(splits.length, 10);
    const classOf = new Map(slideIds.map((id, i) => [id, labels[i]!]));
    for (const { train, test: held } of splits) {
      assert.equal(train.length, 17);
      assert.equal(held.length, 6);
      assert.equal(new Set([...train, ...held]).size, 23);
      for (const c of [0, 1, 2]) {
        assert.ok(train.some((id) => classOf.get(id) === c), `class ${c} missing from train`);
        assert.ok(held.some((id) => classOf.get(id) === c), `class ${c} missing from test`);
      }
      // Kept in cohort order.
      assert.deepEqual(train, [...train].sort());
      assert.deepEqual(held, [...held].sort());
    }
    assert.equal(new Set(splits.map((s) => s.test.join(','))).size, 10, 'splits should differ');
  });

  test('same seed gives the same splits; another seed other splits', () => {
    const slideIds = ids(30);
    const labels = slideIds.map((_, i) => i % 2);
    const a = randomSplits(slideIds, labels, { seed: 'cohort-1', count: 5 });
    const b = randomSplits(slideIds, labels, { seed: 'cohort-1', count: 5 });
    const c = randomSplits(slideIds, labels, { seed: 'cohort-2', count: 5 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    // Split i does not depend on how many splits were asked for.
    assert.deepEqual(randomSplits(slideIds, labels, { seed: 'cohort-1', count: 2 }), a.slice(0, 2));
  });

  test('unstratified (no labels): one group, round(0.7·n) for training', () => {
    const splits = randomSplits(ids(10), undefined, { seed: 1, count: 3 });
    for (const s of splits) {
      assert.equal(s.train.length, 7);
      assert.equal(s.test.length, 3);
    }
  });

  test('tiny groups still leave one slide on each side', () => {
    const splits = randomSplits(ids(4), [0, 0, 1, 1], { seed: 3, trainFraction: 0.9 });
    for (const s of splits) {
      assert.equal(s.train.length, 2);
      assert.equal(s.test.length, 2);
    }
  });

  test('a class with one slide is refused naming labels', () => {
    throwsCode(() => randomSplits(ids(5), [0, 0, 0, 0, 1], { seed: 1 }), ErrorCode.InvalidInput, 'labels');
  });

  test('other bad input is named', () => {
    throwsCode(() => randomSplits(ids(5), [0, 0, 1, 1], { seed: 1 }), ErrorCode.InvalidInput, 'labels');
    throwsCode(() => randomSplits(['a', 'b', 'a'], undefined, { seed: 1 }), ErrorCode.InvalidInput, 'slideIds');
    throwsCode(() => randomSplits(['a'], undefined, { seed: 1 }), ErrorCode.InvalidInput, 'slideIds');
    throwsCode(() => randomSplits(ids(4), undefined, { seed: 1, trainFraction: 1 }), ErrorCode.InvalidInput, 'trainFraction');
    throwsCode(() => randomSplits(ids(4), undefined, { seed: 1, count: 0 }), ErrorCode.InvalidInput, 'count');
    throwsCode(() => randomSplits(ids(4), undefined, { seed: 1, stratify: true }), ErrorCode.InvalidInput, 'stratify');
  });
});
