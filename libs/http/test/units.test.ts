import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { isJobId, issuesFromZod, newJobId, parsePathTemplate, problemFromError, queryBoolean, summarizeInput } from '@weightsmith/http';

describe('path templates', () => {
  test('express and OpenAPI spellings become one template', () => {
    const expected = { express: '/v1/jobs/:id/logs/:line', openapi: '/v1/jobs/{id}/logs/{line}', params: ['id', 'line'] };
    assert.deepEqual(parsePathTemplate('/v1/jobs/{id}/logs/{line}'), expected);
    assert.deepEqual(parsePathTemplate('/v1/jobs/:id/logs/:line'), expected);
    assert.deepEqual(parsePathTemplate('/openapi.json'), { express: '/openapi.json', openapi: '/openapi.json', params: [] });
  });

  test('patterns express would misread are refused', () => {
    assert.throws(() => parsePathTemplate('v1/jobs'), /start with/);
    assert.throws(() => parsePathTemplate('/v1/*rest'), /literal or a parameter/);
    assert.throws(() => parsePathTemplate('/v1/{id}.json'), /literal or a parameter/);
    assert.throws(() => parsePathTemplate('/v1/:id/:id'), /twice/);
    assert.throws(() => parsePathTemplate('/v1/{1x}'), /bad parameter name/);
  });
});

describe('problems', () => {
  test('unrecognized keys become one issue per key', () => {
    const result = z.strictObject({ a: z.object({ b: z.number() }) }).safeParse({ a: { b: 'x' }, c: 1, d: 2 });
    assert.equal(result.success, false);
    const issues = issuesFromZod('body', result.error!);
    assert.deepEqual(issues.map((i) => i.field).sort(), ['body.a.b', 'body.c', 'body.d']);
  });

  test('store_unavailable carries Retry-After; internal messages are never exposed', () => {
    const store = problemFromError(new WeightsmithError(ErrorCode.StoreUnavailable, 'S3 timed out', { retryAfter: 2.2 }));
    assert.deepEqual(store.headers, { 'Retry-After': '3' });
    assert.equal(store.problem.status, 503);
    const internal = problemFromError(new WeightsmithError(ErrorCode.Internal, 'bug in /srv/x', { field: 'f' }));
    assert.equal(internal.problem.status, 500);
    assert.deepEqual(internal.problem.errors, []);
    assert.doesNotMatch(internal.problem.detail, /srv/);
    assert.equal(problemFromError('a string').problem.code, 'internal');
  });
});

describe('job ids', () => {
  test('version-7 UUIDs: the first 48 bits are the creation time; text order is time order', () => {
    const t = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    const id = newJobId(t);
    assert.ok(isJobId(id));
    assert.equal(id[14], '7');
    assert.ok('89ab'.includes(id[19] ?? ''));
    assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), t);
    const ids = [newJobId(t + 1), newJobId(t), newJobId(t + 1000)];
    assert.deepEqual([...ids].sort(), [ids[1], ids[0], ids[2]]);
    assert.notEqual(newJobId(t), newJobId(t));
    assert.ok(z.uuid().safeParse(id).success);
  });
});

describe('input summaries', () => {
  test('keeps small JSON, elides big and binary parts', () => {
    assert.deepEqual(summarizeInput({ a: 1, b: [1, 2], c: null, d: true, e: 'x' }), { a: 1, b: [1, 2], c: null, d: true, e: 'x' });
    assert.deepEqual(summarizeInput({ buf: Buffer.alloc(10), ab: new ArrayBuffer(4), n: Number.NaN, big: 10n, f: () => 1 }), {
      buf: { $summary: 'Buffer', length: 10 },
      ab: { $summary: 'ArrayBuffer', byteLength: 4 },
      n: 'NaN',
      big: '10',
    });
    const deep = { l1: { l2: { l3: { l4: { l5: { l6: { l7: 1 } } } } } } };
    assert.deepEqual(summarizeInput(deep), { l1: { l2: { l3: { l4: { l5: { l6: { $summary: 'object', elided: 'too deep' } } } } } } });
    const wide = Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${i}`, i]));
    const summary = summarizeInput(wide) as Record<string, unknown>;
    assert.equal(Object.keys(summary).length, 65);
    assert.equal(summary['$moreKeys'], 6);
  });
});

describe('queryBoolean', () => {
  test('true/1 and false/0 only', () => {
    const s = queryBoolean();
    assert.equal(s.parse('true'), true);
    assert.equal(s.parse('1'), true);
    assert.equal(s.parse('false'), false);
    assert.equal(s.parse('0'), false);
    assert.equal(s.safeParse('yes').success, false);
  });
});
