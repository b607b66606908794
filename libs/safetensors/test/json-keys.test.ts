import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findDuplicateKey } from '../src/json-keys.js';

describe('findDuplicateKey', () => {
  test('no duplicates in ordinary JSON, including equal keys in sibling objects', () => {
    assert.equal(findDuplicateKey('{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}'), undefined);
  });

  test('top-level duplicate', () => {
    assert.deepEqual(findDuplicateKey('{"a":1,"b":2,"a":3}'), { key: 'a', path: [] });
  });

  test('nested duplicate reports the path', () => {
    assert.deepEqual(findDuplicateKey('{"t":{"dtype":"F32","shape":[1],"dtype":"U8"}}'), { key: 'dtype', path: ['t'] });
  });

  test('escaped spellings of one key are the same key', () => {
    assert.deepEqual(findDuplicateKey('{"ab":1,"\\u0061b":2}'), { key: 'ab', path: [] });
  });

  test('strings holding quotes, braces and commas do not confuse the scanner', () => {
    const text = '{"k\\"{,":"v}[,\\"","x":["a,b","{"],"y":{"k\\"{,":1}}';
    JSON.parse(text); // the scanner's precondition
    assert.equal(findDuplicateKey(text), undefined);
    assert.deepEqual(findDuplicateKey('{"k\\"{,":1,"k\\"{,":2}'), { key: 'k"{,', path: [] });
  });

  test('values equal to an earlier key are not keys', () => {
    assert.equal(findDuplicateKey('{"a":"a","b":["a","b"]}'), undefined);
  });

  test('objects inside arrays are checked', () => {
    assert.deepEqual(findDuplicateKey('{"list":[{"q":1,"q":2}]}'), { key: 'q', path: ['list'] });
  });
});
