import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import {
  PhenotypeAlphaAccumulator,
  dominanceAgreement,
  dominanceMap,
  dominantModelPerPhenotype,
  meanAlphaPerSlide,
  perPhenotypeAlpha,
  phenotypeOfTiles,
  truthPhenotypeAlpha,
  type SlideGate,
} from '../src/report/interpret.js';

/* All expected numbers below are worked by hand from the tables in the comments. */

function closeAll(actual: ArrayLike<number>, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) assert.ok(Number.isNaN(a), `[${i}] expected NaN, got ${a}`);
    else assert.ok(Math.abs(a - e) <= tol, `[${i}] expected ${e}, got ${a}`);
  }
}

function throwsCode(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (err: unknown) => isWeightsmithError(err) && err.code === code && err.field === field);
}

// Slide A, 4 tiles, M = 2 models, P = 2 phenotypes.
//   tile  alpha        context     argmax phenotype
//   0     .8 .2        .9 .1       0
//   1     .6 .4        .7 .3       0
//   2     .3 .7        .2 .8       1
//   3     .1 .9        .4 .6       1
const slideA: SlideGate = {
  slideId: 'A',
  n: 4,
  coords: new Float64Array([0, 0, 256, 0, 0, 256, 256, 256]),
  alpha: new Float32Array([0.8, 0.2, 0.6, 0.4, 0.3, 0.7, 0.1, 0.9]),
  contextWeights: new Float32Array([0.9, 0.1, 0.7, 0.3, 0.2, 0.8, 0.4, 0.6]),
};
// Slide B, 2 tiles, both phenotype 0.
const slideB: SlideGate = {
  slideId: 'B',
  n: 2,
  coords: new Float64Array([0, 0, 256, 0]),
  alpha: new Float32Array([0.5, 0.5, 0.2, 0.8]),
  contextWeights: new Float32Array([1, 0, 1, 0]),
};

describe('per slide and per tile', () => {
  test('mean alpha of a slide', () => {
    closeAll(meanAlphaPerSlide(slideA.alpha, 4, 2), [0.45, 0.55]);
  });

  test('phenotype of a tile is the argmax of its context', () => {
    assert.deepEqual(Array.from(phenotypeOfTiles(slideA.contextWeights!, 4, 2)), [0, 0, 1, 1]);
  });

  test('dominance map: argmax model and its weight per tile, coords kept', () => {
    const map = dominanceMap(slideA.coords, slideA.alpha, 4, 2);
    assert.deepEqual(Array.from(map.dominant), [0, 0, 1, 1]);
    closeAll(map.weight, [0.8, 0.6, 0.7, 0.9]);
    assert.equal(map.coords, slideA.coords);
  });

  test('shape errors name the array', () => {
    throwsCode(() => meanAlphaPerSlide(slideA.alpha, 3, 2), ErrorCode.ShapeMismatch, 'alpha');
    throwsCode(() => dominanceMap(new Float64Array(6), slideA.alpha, 4, 2), ErrorCode.ShapeMismatch, 'coords');
  });
});

describe('per phenotype', () => {
  test('hard: phenotype 0 = mean of tiles 0,1; phenotype 1 = tiles 2,3', () => {
    const r = perPhenotypeAlpha([slideA], 2, 2, 'hard');
    closeAll(r.mean, [0.7, 0.3, 0.2, 0.8]);
    closeAll(r.weight, [2, 2]);
  });

  test('soft: weighted by context (0.9,0.7,0.2,0.4 | 0.1,0.3,0.8,0.6)', () => {
    const r = perPhenotypeAlpha([slideA], 2, 2, 'soft');
    // phenotype 0: (0.72+0.42+0.06+0.04)/2.2, (0.18+0.28+0.14+0.36)/2.2
    // phenotype 1: (0.08+0.18+0.24+0.06)/1.8, (0.02+0.12+0.56+0.54)/1.8
    closeAll(r.mean, [1.24 / 2.2, 0.96 / 2.2, 0.56 / 1.8, 1.24 / 1.8]);
    closeAll(r.weight, [2.2, 1.8]);
  });

  test('accumulates over slides: phenotype 0 gets slide B tiles too', () => {
    const r = perPhenotypeAlpha([slideA, slideB], 2, 2, 'hard');
    closeAll(r.mean, [2.1 / 4, 1.9 / 4, 0.2, 0.8]);
    closeAll(r.weight, [4, 2]);
  });

  test('a phenotype without tiles has a NaN row and no dominant model', () => {
    const acc = new PhenotypeAlphaAccumulator(2, 3).addHard(slideA.alpha, [0, 0, 1, 1]);
    const r = acc.result();
    closeAll(r.mean, [0.7, 0.3, 0.2, 0.8, Number.NaN, Number.NaN]);
    assert.deepEqual(Array.from(dominantModelPerPhenotype(r)), [0, 1, -1]);
  });

  test('missing context weights are refused', () => {
    const { contextWeights: _, ...noContext } = slideA;
    throwsCode(() => perPhenotypeAlpha([noContext], 2, 2), ErrorCode.InvalidInput, 'contextWeights');
  });

  test('out-of-range phenotype index is refused', () => {
    throwsCode(() => new PhenotypeAlphaAccumulator(2, 2).addHard(slideA.alpha, [0, 2, 0, 0]), ErrorCode.InvalidInput, 'phenotypeByTile');
  });
});

describe('agreement with the true dominant model', () => {
  // True phenotypes of slide A's tiles: [2, 0, 0, 1] →
  //   phenotype 0 = tiles 1,2: (.45, .55) → model 1; phenotype 1 = tile 3: (.1, .9) → model 1;
  //   phenotype 2 = tile 0: (.8, .2) → model 0.
  const truthTiles = new Map([['A', Int32Array.from([2, 0, 0, 1])]]);
  const byTruth = truthPhenotypeAlpha([slideA], (id) => truthTiles.get(id)!, 2, 3);

  test('mean alpha over the tiles of each true phenotype', () => {
    closeAll(byTruth.mean, [0.45, 0.55, 0.1, 0.9, 0.8, 0.2]);
  });

  test('fraction of phenotypes whose argmax model is the true one', () => {
    const r = dominanceAgreement(byTruth, [1, 0, 0]);
    assert.equal(r.agreed, 2);
    assert.equal(r.scored, 3);
    assert.ok(Math.abs(r.fraction - 2 / 3) < 1e-12);
    assert.deepEqual(
      r.perPhenotype.map((p) => [p.predicted, p.truth, p.agrees]),
      [
        [1, 1, true],
        [1, 0, false],
        [0, 0, true],
      ],
    );
  });

  test('phenotypes without a true dominant model are not scored', () => {
    const r = dominanceAgreement(byTruth, [1, null, -1]);
    assert.equal(r.scored, 1);
    assert.equal(r.fraction, 1);
  });

  test('mismatched sizes and bad truth are named', () => {
    throwsCode(() => dominanceAgreement(byTruth, [1, 0]), ErrorCode.ShapeMismatch, 'truthDominant');
    throwsCode(() => dominanceAgreement(byTruth, [1, 0, 5]), ErrorCode.InvalidInput, 'truthDominant');
    throwsCode(
      () => truthPhenotypeAlpha([slideA], () => [0, 1], 2, 3),
      ErrorCode.ShapeMismatch,
      'phenotypeByTile',
    );
  });
});
