import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { isWeightsmithError } from '@weightsmith/core';
import { SessionCache, modelKey } from '@weightsmith/onnx';
import { affineModel } from './models.js';

const x = () => new ort.Tensor('float32', Float32Array.of(1, 2, 3), [1, 3]);
async function runY(session: ort.InferenceSession): Promise<number[]> {
  const out = await session.run({ x: x() });
  return Array.from(out['y']?.data as Float32Array);
}

const dir = await mkdtemp(join(tmpdir(), 'ws-onnx-cache-'));
after(() => rm(dir, { recursive: true, force: true }));

describe('SessionCache', () => {
  test('loads once per model bytes and shares concurrent loads', async () => {
    const cache = new SessionCache({ intraOpNumThreads: 1 });
    const bytes = affineModel(2, 1);
    const [a, b] = await Promise.all([cache.get(bytes), cache.get(bytes.slice())]);
    assert.equal(a, b, 'two concurrent requests for equal bytes share one session');
    assert.equal(cache.size, 1);
    assert.equal(await cache.get(bytes), a);
    assert.match(a.key, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(a.inputs, [{ name: 'x', dtype: 'float32', shape: ['batch', 3] }]);
    assert.deepEqual(a.outputs.map((o) => o.name), ['y']);
    assert.deepEqual(await runY(a.session), [3, 5, 7]);
    const other = await cache.get(affineModel(3, 0));
    assert.notEqual(other.key, a.key);
    assert.deepEqual(await runY(other.session), [3, 6, 9]);
    await cache.close();
  });

  test('evicts and releases the least recently used session beyond maxSessions', async () => {
    const cache = new SessionCache({ maxSessions: 2 });
    const [ma, mb, mc] = [affineModel(1, 1), affineModel(1, 2), affineModel(1, 3)];
    const a = await cache.get(ma);
    const b = await cache.get(mb);
    await cache.get(ma); // a is now the most recently used
    const c = await cache.get(mc);
    assert.deepEqual(new Set(cache.keys()), new Set([a.key, c.key]));
    assert.equal(cache.has(b.key), false);
    await assert.rejects(runY(b.session), /disposed/, 'an evicted session is released');
    assert.deepEqual(await runY(a.session), [2, 3, 4]);
    const b2 = await cache.get(mb);
    assert.notEqual(b2, b, 'an evicted model is loaded afresh');
    assert.deepEqual(await runY(b2.session), [3, 4, 5]);
    await cache.close();
  });

  test('use() keeps a session alive while it is evicted, then releases it', async () => {
    const cache = new SessionCache({ maxSessions: 1 });
    const ma = affineModel(5, 0);
    let held: ort.InferenceSession | undefined;
    const result = await cache.use(ma, async (s) => {
      held = s.session;
      await cache.get(affineModel(6, 0)); // evicts ma while it is in use
      assert.equal(cache.has(s.key), false);
      return runY(s.session);
    });
    assert.deepEqual(result, [5, 10, 15]);
    assert.ok(held);
    await assert.rejects(runY(held), /disposed/, 'released after the last use() ended');
    await cache.close();
  });

  test('bytes that are not ONNX fail with invalid_format carrying onnxruntime\'s message, and are not cached', async () => {
    const cache = new SessionCache();
    const junk = new TextEncoder().encode('definitely not a protobuf model');
    await assert.rejects(cache.get(junk, { name: 'junk.onnx' }), (e) => {
      assert.ok(isWeightsmithError(e, 'invalid_format'));
      assert.match(e.message, /^model 'junk\.onnx' could not be loaded by onnxruntime: /);
      assert.ok(e.message.length > 'model \'junk.onnx\' could not be loaded by onnxruntime: '.length + 10);
      assert.equal(e.field, 'model');
      return true;
    });
    assert.equal(cache.size, 0);
    await cache.close();
  });

  test('files are keyed by path, mtime and size; a changed file is a new model', async () => {
    const cache = new SessionCache();
    const path = join(dir, 'm.onnx');
    await writeFile(path, affineModel(2, 0));
    await utimes(path, 1_000, 1_000);
    const key1 = await modelKey(path);
    assert.equal(key1, `file:${path}:1000000:${affineModel(2, 0).length}`);
    const s1 = await cache.get(path);
    assert.equal(s1.name, path);
    assert.equal(await cache.get(path), s1);
    assert.deepEqual(await runY(s1.session), [2, 4, 6]);
    await writeFile(path, affineModel(4, 0));
    await utimes(path, 2_000, 2_000);
    const s2 = await cache.get(path);
    assert.notEqual(s2.key, s1.key);
    assert.deepEqual(await runY(s2.session), [4, 8, 12]);
    await assert.rejects(cache.get(join(dir, 'missing.onnx')), (e) => isWeightsmithError(e, 'not_found') && e.field === 'model');
    await cache.close();
  });

  test('rejects bad options, and every call after close()', async () => {
    assert.throws(() => new SessionCache({ intraOpNumThreads: 0 }), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'intraOpNumThreads');
    assert.throws(() => new SessionCache({ maxSessions: 0 }), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'maxSessions');
    const cache = new SessionCache();
    const s = await cache.get(affineModel(1, 0));
    await cache.close();
    await assert.rejects(runY(s.session), /disposed/, 'close() released the session');
    await assert.rejects(cache.get(affineModel(1, 0)), (e) => isWeightsmithError(e, 'not_ready'));
  });
});
