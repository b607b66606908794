import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '@weightsmith/tensor';
import { isWeightsmithError } from '@weightsmith/core';
import { alignSlide } from '../src/features/index.js';
import type { ModelSpec, SlideFeatures } from '../src/types.js';

/** Tile t sits at (t mod 5, ⌊t/5⌋) × 224; model m's feature j of tile t is 1000·m + 10·t + j. */
function tileValue(m: number, t: number, j: number): number {
  return 1000 * m + 10 * t + j;
}

function modelSlide(m: number, dim: number, tiles: number[], rowOrder: number[]): SlideFeatures {
  const n = rowOrder.length;
  const features = new Float32Array(n * dim);
  const coords = new Float64Array(n * 2);
  rowOrder.forEach((row, i) => {
    const t = tiles[row]!;
    coords[2 * i] = (t % 5) * 224;
    coords[2 * i + 1] = Math.floor(t / 5) * 224;
    for (let j = 0; j < dim; j++) features[i * dim + j] = tileValue(m, t, j);
  });
  return { n, dim, features, coords };
}

const models: ModelSpec[] = [
  { name: 'UNI', dim: 3 },
  { name: 'CONCH', dim: 2 },
];

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error');
}

describe('alignSlide', () => {
  test('shuffled row orders give identical aligned rows, sorted by (y, x)', () => {
    const tiles = Array.from({ length: 17 }, (_, t) => t);
    const rng = new Rng(3);
    const a = modelSlide(0, 3, tiles, rng.shuffle([...tiles]));
    const b = modelSlide(1, 2, tiles, rng.shuffle([...tiles]));
    const aligned = alignSlide('s1', models, [a, b]);
    assert.equal(aligned.n, 17);
    assert.deepEqual(aligned.dropped, [0, 0]);
    // Sorted by y then x on a 5-wide grid is tile-index order.
    for (let t = 0; t < 17; t++) {
      assert.deepEqual([aligned.coords[2 * t], aligned.coords[2 * t + 1]], [(t % 5) * 224, Math.floor(t / 5) * 224]);
      assert.deepEqual([...aligned.features[0]!.subarray(3 * t, 3 * t + 3)], [0, 1, 2].map((j) => tileValue(0, t, j)));
      assert.deepEqual([...aligned.features[1]!.subarray(2 * t, 2 * t + 2)], [0, 1].map((j) => tileValue(1, t, j)));
    }
  });

  test('duplicate coords name the coordinate and rows', () => {
    const a = modelSlide(0, 3, [0, 1, 2, 1], [0, 1, 2, 3]);
    const b = modelSlide(1, 2, [0, 1, 2], [0, 1, 2]);
    const err = errorOf(() => alignSlide('s2', models, [a, b]));
    assert.ok(isWeightsmithError(err, 'invalid_input'));
    assert.match(err.message, /slide s2, model UNI: duplicate tile coordinate \(224, 0\) at rows 1 and 3/);
    assert.equal(err.field, 'slides.s2.features.UNI');
  });

  test('missing tiles: count and first example per model; intersect keeps the shared ones', () => {
    // UNI lacks tiles 5 and 9; CONCH lacks tile 2.
    const a = modelSlide(0, 3, [0, 1, 2, 3, 4, 6, 7, 8], [7, 6, 5, 4, 3, 2, 1, 0]);
    const b = modelSlide(1, 2, [0, 1, 3, 4, 5, 6, 7, 8, 9], [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const err = errorOf(() => alignSlide('s3', models, [a, b], { fieldOf: (m, i) => `slides[0].features.${m.name}#${i}` }));
    assert.ok(isWeightsmithError(err, 'invalid_input'));
    assert.deepEqual(
      err.issues.map((i) => i.field),
      ['slides[0].features.UNI#0', 'slides[0].features.CONCH#1'],
    );
    assert.match(err.issues[0]!.message, /model UNI: lacks 2 tiles that other models have \(first at \(0, 224\)\)/);
    assert.match(err.issues[1]!.message, /model CONCH: lacks 1 tile that other models have \(first at \(448, 0\)\)/);

    const kept = alignSlide('s3', models, [a, b], { onMissing: 'intersect' });
    assert.equal(kept.n, 7);
    assert.deepEqual(kept.dropped, [1, 2]);
    const keptTiles = [0, 1, 3, 4, 6, 7, 8];
    keptTiles.forEach((t, i) => assert.equal(kept.features[1]![2 * i], tileValue(1, t, 0)));
  });

  test('a feature dim that differs from the registered one is a shape mismatch', () => {
    const a = modelSlide(0, 4, [0, 1], [0, 1]);
    const b = modelSlide(1, 2, [0, 1], [0, 1]);
    const err = errorOf(() => alignSlide('s4', models, [a, b]));
    assert.ok(isWeightsmithError(err, 'shape_mismatch'));
    assert.match(err.message, /model UNI: feature dim 4, registered dim 3/);
  });
});
