import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { toSizedBody } from '../src/body.js';
import { validateRange, rangeLength } from '../src/range.js';
import { collect, rejectsWith, sleep } from './helpers.js';

describe('toSizedBody', () => {
  test('passes exactly size bytes through unchanged', async () => {
    const source = new PassThrough();
    const body = toSizedBody(source, 6);
    source.write(Buffer.from('abc'));
    source.end(Buffer.from('def'));
    assert.equal((await collect(body.stream)).bytes.toString(), 'abcdef');
  });

  test('holds back the last chunk until the source ends, so a too-long body never completes', async () => {
    const source = new PassThrough();
    const body = toSizedBody(source, 6);
    const received: string[] = [];
    body.stream.on('data', (c: Buffer) => received.push(c.toString()));
    body.stream.on('error', () => undefined);
    source.write(Buffer.from('abc'));
    source.write(Buffer.from('def')); // all 6 bytes written, source still open
    await sleep(20);
    assert.deepEqual(received, ['abc'], 'the byte that completes size waits for the end');
    source.write(Buffer.from('g'));
    await sleep(20);
    assert.deepEqual(received, ['abc']);
    assert.ok(isWeightsmithError(body.stream.errored, ErrorCode.InvalidInput));
    assert.equal((body.stream.errored as { field?: string }).field, 'body');
  });

  test('short and long bodies fail with field body; a Uint8Array size mismatch with field size', async () => {
    const short = new PassThrough();
    const s = toSizedBody(short, 10);
    short.end(Buffer.from('abc'));
    await rejectsWith(collect(s.stream), ErrorCode.InvalidInput, 'body');
    await rejectsWith(() => toSizedBody(Buffer.from('abc'), 4), ErrorCode.InvalidInput, 'size');
    await rejectsWith(() => toSizedBody(new PassThrough(), undefined), ErrorCode.InvalidInput, 'size');
    await rejectsWith(() => toSizedBody(new PassThrough(), -1), ErrorCode.InvalidInput, 'size');
    assert.equal(toSizedBody(new Uint8Array(5), undefined).size, 5);
  });

  test('a failing source is reported as the source error', async () => {
    const source = new PassThrough();
    const body = toSizedBody(source, 10);
    source.destroy(new Error('client reset'));
    await assert.rejects(collect(body.stream), /client reset/);
    assert.match(String(body.sourceError()), /client reset/);
  });
});

describe('ranges', () => {
  test('validation and resolution against the size', () => {
    assert.deepEqual(validateRange(undefined), { offset: 0, length: undefined });
    assert.equal(rangeLength({ offset: 0, length: undefined }, 10, 'k'), 10);
    assert.equal(rangeLength({ offset: 4, length: undefined }, 10, 'k'), 6);
    assert.equal(rangeLength({ offset: 10, length: undefined }, 10, 'k'), 0);
    assert.equal(rangeLength({ offset: 4, length: 6 }, 10, 'k'), 6);
    assert.throws(() => rangeLength({ offset: 11, length: undefined }, 10, 'k'), (e: unknown) => isWeightsmithError(e) && e.field === 'offset');
    assert.throws(() => rangeLength({ offset: 4, length: 7 }, 10, 'k'), (e: unknown) => isWeightsmithError(e) && e.field === 'length');
    assert.throws(() => validateRange({ offset: Number.MAX_SAFE_INTEGER + 2 }), (e: unknown) => isWeightsmithError(e) && e.field === 'offset');
  });
});
