import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { padRight, truncateKeepingEnd } from '../src/index.js';

describe('truncateKeepingEnd', () => {
  const EOS = 99;
  const closing = new Set([EOS]);

  test('leaves a sequence that fits unchanged (and copies it)', () => {
    const ids = [98, 5, 6, EOS];
    const out = truncateKeepingEnd(ids, 4, closing);
    assert.deepEqual(out, [98, 5, 6, EOS]);
    assert.notEqual(out, ids);
  });

  test('cuts content, not the closing end-of-text token', () => {
    assert.deepEqual(truncateKeepingEnd([98, 1, 2, 3, 4, 5, EOS], 4, closing), [98, 1, 2, EOS]);
  });

  test('plain cut when the last id is not a closing token', () => {
    assert.deepEqual(truncateKeepingEnd([98, 1, 2, 3, 4], 3, closing), [98, 1, 2]);
  });

  test('maxTokens 1 cannot keep both ends: plain cut', () => {
    assert.deepEqual(truncateKeepingEnd([98, 1, EOS], 1, closing), [98]);
  });

  test('rejects a non-positive limit', () => {
    assert.throws(() => truncateKeepingEnd([1], 0, closing), RangeError);
  });
});

describe('padRight', () => {
  test('pads every row to the longest with the pad id and marks real tokens in the mask', () => {
    const b = padRight([[1, 2, 3], [4], [5, 6]], 7);
    assert.equal(b.rows, 3);
    assert.equal(b.length, 3);
    assert.deepEqual([...b.inputIds], [1n, 2n, 3n, 4n, 7n, 7n, 5n, 6n, 7n]);
    assert.deepEqual([...b.attentionMask], [1n, 1n, 1n, 1n, 0n, 0n, 1n, 1n, 0n]);
  });

  test('an empty batch has no rows', () => {
    const b = padRight([], 0);
    assert.equal(b.rows, 0);
    assert.equal(b.inputIds.length, 0);
  });
});
