import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import {
  compareKeys,
  decodePageToken,
  encodePageToken,
  joinKey,
  listStartAfter,
  normalizePrefix,
  validateKey,
  validateListLimit,
} from '../src/key.js';

function rejection(fn: () => unknown): { field: string | undefined; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(isWeightsmithError(err, ErrorCode.InvalidInput), String(err));
    return { field: err.field, message: err.message };
  }
  assert.fail('expected invalid_input');
}

describe('validateKey', () => {
  test('accepts ordinary relative keys, including Unicode and spaces', () => {
    const exactly1024Bytes = `${Array(5).fill('x'.repeat(200)).join('/')}/${'y'.repeat(19)}`;
    assert.equal(Buffer.byteLength(exactly1024Bytes), 1024);
    for (const key of ['a', 'artifacts/ab/abcdef/data', 'models/clip vit/tokenizer.json', 'ünï/名前', 'a.b/c..d/e.', exactly1024Bytes]) {
      assert.equal(validateKey(key), key);
    }
  });

  test('each rule rejects with field key and a message naming the rule', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['empty', '', /must not be empty/],
      ['not a string', 42, /must be a string/],
      ['absolute', '/a/b', /must not start with '\/'/],
      ['parent', 'a/../b', /'\.\.' segments/],
      ['leading parent', '../b', /'\.\.' segments/],
      ['dot', 'a/./b', /'\.' segments/],
      ['empty segment', 'a//b', /empty segments/],
      ['trailing slash', 'a/', /empty segments/],
      ['backslash', 'a\\b', /backslashes/],
      ['NUL', 'a\0b', /NUL or control/],
      ['tab', 'a\tb', /NUL or control/],
      ['C1 control', 'a\u0085b', /NUL or control/],
      ['hidden', 'a/.git/config', /starts with '\.'/],
      ['lone surrogate', 'a\ud800b', /lone surrogate/],
      ['1025 bytes', 'x'.repeat(1025), /1025 bytes in UTF-8; the limit is 1024/],
      ['1026 bytes of 2-byte chars', 'é'.repeat(513), /1026 bytes/],
      ['256-byte segment', `a/${'s'.repeat(256)}`, /segment is 256 bytes/],
    ];
    for (const [name, key, message] of cases) {
      const r = rejection(() => validateKey(key));
      assert.equal(r.field, 'key', name);
      assert.match(r.message, message, name);
    }
    assert.equal(rejection(() => validateKey('', 'prefix')).field, 'prefix');
  });
});

describe('prefixes, tokens, order', () => {
  test('normalizePrefix trims slashes and validates the rest', () => {
    assert.equal(normalizePrefix(undefined), '');
    assert.equal(normalizePrefix('/'), '');
    assert.equal(normalizePrefix('/team-a/'), 'team-a');
    assert.equal(normalizePrefix('a/b'), 'a/b');
    assert.equal(rejection(() => normalizePrefix('a/../b')).field, 'prefix');
    assert.equal(joinKey('', 'k'), 'k');
    assert.equal(joinKey('p/q', 'k'), 'p/q/k');
  });

  test('page tokens round-trip keys and reject anything else', () => {
    for (const key of ['a', 'artifacts/ff/x/manifest.json', 'ünï/名前']) {
      const token = encodePageToken(key);
      assert.match(token, /^[A-Za-z0-9_-]+$/);
      assert.equal(decodePageToken(token), key);
    }
    assert.equal(decodePageToken(undefined), undefined);
    for (const bad of ['', 'a b', 'abc=', Buffer.from('/etc').toString('base64url'), 7]) {
      assert.equal(rejection(() => decodePageToken(bad)).field, 'token');
    }
  });

  test('startAfter and token: the later position wins', () => {
    assert.equal(listStartAfter(encodePageToken('b'), 'a'), 'b');
    assert.equal(listStartAfter(encodePageToken('a'), 'c'), 'c');
    assert.equal(listStartAfter(undefined, 'a/b'), 'a/b');
    assert.equal(rejection(() => listStartAfter(undefined, '')).field, 'startAfter');
  });

  test('limits are integers from 1 to 1000', () => {
    assert.equal(validateListLimit(undefined), 1000);
    assert.equal(validateListLimit(1), 1);
    for (const bad of [0, 1001, 1.5, -3, '10']) assert.equal(rejection(() => validateListLimit(bad)).field, 'limit');
  });

  test('compareKeys is UTF-8 byte order (as S3 lists), not UTF-16 order', () => {
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) vs U+1F600 (4 bytes, F0 9F 98 80): bytes say FF5E first,
    // while UTF-16 code units (0xFF5E vs 0xD83D) say the emoji first.
    assert.ok(compareKeys('\uff5e', '\u{1f600}') < 0);
    assert.ok('\uff5e' > '\u{1f600}');
    assert.ok(compareKeys('a-b', 'a/b') < 0);
    assert.equal(compareKeys('x', 'x'), 0);
  });
});
