import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import h5wasm, { FS, type Dataset, type File as H5File, type FileOptions } from 'h5wasm/node';
import { isWeightsmithError } from '@weightsmith/core';
import { encodeH5Features, readH5Features, readSlideFeatures } from '../src/features/index.js';
import type { SlideFeatures } from '../src/types.js';

function slideOf(n: number, dim: number): SlideFeatures {
  const features = new Float32Array(n * dim);
  for (let i = 0; i < features.length; i++) features[i] = Math.fround(Math.sin(i) * 3);
  const coords = new Float64Array(n * 2);
  for (let t = 0; t < n; t++) {
    coords[2 * t] = (t % 4) * 256;
    coords[2 * t + 1] = Math.floor(t / 4) * 256;
  }
  return { n, dim, features, coords };
}

/** An HDF5 file built directly with h5wasm, independent of the code under test. */
async function handBuilt(fill: (file: H5File) => void, options: FileOptions = {}): Promise<Uint8Array> {
  await h5wasm.ready;
  const name = `/hand-built-${Math.random().toString(36).slice(2)}.h5`;
  const file = new h5wasm.File(name, 'w', options);
  fill(file);
  file.close();
  const bytes = FS!.readFile(name);
  FS!.unlink(name);
  return bytes;
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isWeightsmithError(err), `expected a WeightsmithError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('readH5Features', () => {
  test('round trip with int64 coords (TRIDENT layout) keeps values and attributes', async () => {
    const slide = slideOf(10, 6);
    const bytes = await encodeH5Features(slide, { coordsAttrs: { patch_size: 256, name: 'slide-a' } });
    const back = await readH5Features(bytes, { source: 'UNI/slide-a.h5' });
    assert.equal(back.n, 10);
    assert.equal(back.dim, 6);
    assert.deepEqual(back.features, slide.features);
    assert.deepEqual(back.coords, slide.coords);
    // The attributes TRIDENT readers look for are there, read back with h5wasm itself.
    await h5wasm.ready;
    FS!.writeFile('/attrs.h5', bytes);
    const file = new h5wasm.File('/attrs.h5', 'r');
    const coords = file.get('coords') as Dataset;
    assert.equal(Number(coords.get_attribute('patch_size', false)), 256);
    assert.equal(coords.get_attribute('name', false), 'slide-a');
    assert.equal(coords.dtype, '<q');
    file.close();
    FS!.unlink('/attrs.h5');
  });

  test('int32 and float coords, f64 features (narrowed to f32), and the 1 × N × D batch layout', async () => {
    const slide = slideOf(7, 3);
    for (const options of [
      { coordsDtype: 'int32' as const },
      { coordsDtype: 'float32' as const, featuresDtype: 'float64' as const },
      { coordsDtype: 'float64' as const, batchOfOne: true },
    ]) {
      const back = await readSlideFeatures(await encodeH5Features(slide, options), { source: 'x.h5' });
      assert.deepEqual(back.features, slide.features, JSON.stringify(options));
      assert.deepEqual(back.coords, slide.coords, JSON.stringify(options));
    }
  });

  test('f64 features are rounded to the nearest f32', async () => {
    const bytes = await handBuilt((f) => {
      f.create_dataset({ name: 'features', data: new Float64Array([0.1, 1 / 3]), shape: [1, 2] });
      f.create_dataset({ name: 'coords', data: new Int32Array([5, 9]), shape: [1, 2] });
    });
    const back = await readH5Features(bytes, { source: 'f64.h5' });
    assert.deepEqual([...back.features], [Math.fround(0.1), Math.fround(1 / 3)]);
    assert.deepEqual([...back.coords], [5, 9]);
  });

  test('f16 features are widened to f32', async () => {
    // h5wasm cannot create f16 datasets, so build an f32 one in the oldest file format (object
    // headers without checksums) and rewrite its datatype message to IEEE half precision, as
    // the HDF5 spec lays it out: class 1 v1, LE, sign bit 15, size 2, precision 16, exponent at
    // bit 10 (5 bits), mantissa at 0 (10 bits), bias 15. The data is the half bit patterns below.
    const half = new Uint16Array(12);
    half.set([0x3c00, 0x4000, 0xc200, 0x3800, 0x7bff, 0x0001]);
    const bytes = await handBuilt((f) => {
      f.create_dataset({ name: 'features', data: new Float32Array(half.buffer), shape: [3, 2] });
      f.create_dataset({ name: 'coords', data: new Int32Array([0, 0, 1, 0, 2, 0]), shape: [3, 2] });
    }, { libver: ['earliest', 'v108'] });
    const f32Message = Buffer.from('11201f000400000000002000170800177f000000', 'hex');
    const at = Buffer.from(bytes).indexOf(f32Message);
    assert.ok(at > 0, 'the f32 datatype message is in the file');
    bytes.set(Buffer.from('11200f000200000000001000 0a05000a0f000000'.replace(' ', ''), 'hex'), at);
    const back = await readH5Features(bytes, { source: 'f16.h5' });
    assert.deepEqual([...back.features], [1, 2, -3, 0.5, 65504, 2 ** -24]);
  });

  test('same slide gives the same bytes (HDF5 timestamps pinned)', async () => {
    const slide = slideOf(5, 2);
    const a = await encodeH5Features(slide);
    await new Promise((r) => setTimeout(r, 1100));
    const b = await encodeH5Features(slide);
    assert.deepEqual(a, b);
  });

  test('a hand-built file without "features" names the source and the missing dataset', async () => {
    const bytes = await handBuilt((f) => {
      f.create_dataset({ name: 'coords', data: new Int32Array([0, 0, 256, 0]), shape: [2, 2] });
      f.create_dataset({ name: 'embeddings', data: new Float32Array(4), shape: [2, 2] });
    });
    await rejectsWith(readH5Features(bytes, { source: 'CONCH/s1.h5' }), 'invalid_format', /CONCH\/s1\.h5: .*no dataset "features".*found: coords, embeddings/);
  });

  test('datasets inside a single group are found', async () => {
    const bytes = await handBuilt((f) => {
      const g = f.create_group('slide');
      g.create_dataset({ name: 'features', data: new Float32Array([1, 2]), shape: [1, 2] });
      g.create_dataset({ name: 'coords', data: new Int32Array([3, 4]), shape: [1, 2] });
    });
    const back = await readH5Features(bytes, { source: 'g.h5' });
    assert.deepEqual([...back.features], [1, 2]);
  });

  test('not HDF5, wrong rank, row mismatch, 3 coord columns, empty slide, size cap', async () => {
    await rejectsWith(readH5Features(new TextEncoder().encode('hello, not a file'), { source: 'a.h5' }), 'invalid_format', /a\.h5: not an HDF5 file/);
    await rejectsWith(readSlideFeatures(new Uint8Array(64), { source: 'zeros.bin' }), 'invalid_format', /neither HDF5 nor safetensors/);
    const cases: [string, (f: H5File) => void, string, RegExp][] = [
      ['rank', (f) => {
        f.create_dataset({ name: 'features', data: new Float32Array(4), shape: [4] });
        f.create_dataset({ name: 'coords', data: new Int32Array(8), shape: [4, 2] });
      }, 'invalid_format', /"features" has shape \[4\]/],
      ['rows', (f) => {
        f.create_dataset({ name: 'features', data: new Float32Array(6), shape: [3, 2] });
        f.create_dataset({ name: 'coords', data: new Int32Array(8), shape: [4, 2] });
      }, 'invalid_format', /"features" has 3 rows but "coords" has 4/],
      ['cols', (f) => {
        f.create_dataset({ name: 'features', data: new Float32Array(6), shape: [3, 2] });
        f.create_dataset({ name: 'coords', data: new Int32Array(9), shape: [3, 3] });
      }, 'invalid_format', /"coords" has 3 columns/],
      ['empty', (f) => {
        f.create_dataset({ name: 'features', data: new Float32Array(0), shape: [0, 2] });
        f.create_dataset({ name: 'coords', data: new Int32Array(0), shape: [0, 2] });
      }, 'invalid_input', /empty slide/],
    ];
    for (const [what, fill, code, pattern] of cases) {
      await rejectsWith(readH5Features(await handBuilt(fill), { source: `${what}.h5` }), code, pattern);
    }
    const big = await encodeH5Features(slideOf(4, 8));
    // 4 × 8 f32 = 128 bytes.
    await rejectsWith(readH5Features(big, { source: 'big.h5', maxFeatureBytes: 127 }), 'too_large', /128 bytes .* limit is 127/);
    await readH5Features(big, { source: 'big.h5', maxFeatureBytes: 128 });
  });

  test('NaN names the first bad tile and column; Inf in coords too', async () => {
    const slide = slideOf(12, 5);
    slide.features[7 * 5 + 3] = Number.NaN;
    slide.features[9 * 5 + 1] = Number.NaN;
    const err = await readH5Features(await encodeH5Features(slide), { source: 'nan.h5', field: 'slides[2].features.UNI' }).catch((e: unknown) => e);
    assert.ok(isWeightsmithError(err, 'non_finite'));
    assert.match(err.message, /nan\.h5: "features" has NaN at tile 7, column 3/);
    assert.equal(err.field, 'slides[2].features.UNI');

    const coordsBad = slideOf(3, 2);
    coordsBad.coords[5] = Number.POSITIVE_INFINITY;
    await rejectsWith(readH5Features(await encodeH5Features(coordsBad, { coordsDtype: 'float64' }), { source: 'inf.h5' }), 'non_finite', /"coords" has Infinity at tile 2, column 1/);
  });
});
