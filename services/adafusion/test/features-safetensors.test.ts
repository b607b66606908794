import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeightsmithError } from '@weightsmith/core';
import { openFileSource, serializeSafetensors } from '@weightsmith/safetensors';
import { encodeSafetensorsFeatures, readSafetensorsFeatures, readSlideFeatures, writeSafetensorsFeatures } from '../src/features/index.js';

const features = Float32Array.from([1.5, -2, 0.25, 4, 5, -6]);
const coords = Float64Array.from([512, 0, 0, 256, 256, 256]);

describe('safetensors feature files', () => {
  test('round trip through bytes and through a file source', async () => {
    const slide = { n: 3, dim: 2, features, coords };
    const bytes = await encodeSafetensorsFeatures(slide);
    assert.deepEqual(await readSlideFeatures(bytes, { source: 'a.safetensors' }), slide);

    const dir = await mkdtemp(join(tmpdir(), 'ws-st-'));
    try {
      const path = join(dir, 's.safetensors');
      await writeSafetensorsFeatures(path, slide, { coordsDtype: 'F64' });
      const back = await readSafetensorsFeatures(await openFileSource(path), { source: path });
      assert.deepEqual(back, slide);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('F16 features and I32 coords written by hand are widened', async () => {
    // 0x3c00 = 1, 0xc000 = -2, 0x3400 = 0.25, 0x7c00 = +Inf is avoided; 0x4400 = 4 (IEEE half).
    const bytes = await serializeSafetensors([
      { name: 'features', dtype: 'F16', shape: [2, 2], data: Uint16Array.from([0x3c00, 0xc000, 0x3400, 0x4400]) },
      { name: 'coords', dtype: 'I32', shape: [2, 2], data: Int32Array.from([7, 8, 9, 10]) },
    ]);
    const back = await readSlideFeatures(bytes, { source: 'h.safetensors' });
    assert.deepEqual([...back.features], [1, -2, 0.25, 4]);
    assert.deepEqual([...back.coords], [7, 8, 9, 10]);
  });

  test('missing tensor, bad shapes and NaN are reported with the source', async () => {
    const onlyFeatures = await serializeSafetensors([{ name: 'features', dtype: 'F32', shape: [3, 2], data: features }]);
    await assert.rejects(readSafetensorsFeatures(onlyFeatures, { source: 'm.safetensors' }), (err: unknown) => {
      assert.ok(isWeightsmithError(err, 'invalid_format'));
      assert.match(err.message, /m\.safetensors: .*no tensor "coords" \(found: features\)/);
      return true;
    });
    const mismatch = await serializeSafetensors([
      { name: 'features', dtype: 'F32', shape: [3, 2], data: features },
      { name: 'coords', dtype: 'F64', shape: [2, 2], data: coords.subarray(0, 4) },
    ]);
    await assert.rejects(readSafetensorsFeatures(mismatch, { source: 'r.safetensors' }), /3 rows but "coords" has 2/);
    const nan = Float32Array.from(features);
    nan[3] = Number.NaN;
    const bad = await encodeSafetensorsFeatures({ n: 3, dim: 2, features: nan, coords });
    await assert.rejects(readSafetensorsFeatures(bad, { source: 'n.safetensors' }), (err: unknown) => {
      assert.ok(isWeightsmithError(err, 'non_finite'));
      assert.match(err.message, /tile 1, column 1/);
      return true;
    });
    const truncated = (await encodeSafetensorsFeatures({ n: 3, dim: 2, features, coords })).subarray(0, 60);
    await assert.rejects(readSlideFeatures(truncated, { source: 't.safetensors' }), (err: unknown) => {
      assert.ok(isWeightsmithError(err, 'invalid_format'));
      assert.match(err.message, /^t\.safetensors: /);
      return true;
    });
  });
});
