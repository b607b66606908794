import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { Rng } from '@weightsmith/tensor';
import {
  argmaxRows,
  averageRanks,
  balancedAccuracy,
  macroOvrAuc,
  meanStd,
  ovrAucPerClass,
  pearson,
  perGenePearson,
  rocAuc,
} from '../src/eval/metrics.js';

/*
 * Expected values are worked by hand (pair counting for AUC, definitions for the rest) or come
 * from examples documented by scikit-learn; the random cross-check counts concordant pairs
 * directly, a different method from the rank formula under test.
 */

function close(actual: number, expected: number, tol = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= tol, `expected ${expected}, got ${actual}`);
}

function throwsCode(fn: () => unknown, code: string, field: string): void {
  assert.throws(fn, (err: unknown) => isWeightsmithError(err) && err.code === code && err.field === field);
}

/** AUC as the fraction of (positive, negative) pairs ranked right, ties counted ½. */
function pairCountAuc(scores: number[], labels: number[]): number {
  let good = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      if (scores[i]! > scores[j]!) good += 1;
      else if (scores[i] === scores[j]) good += 0.5;
    }
  }
  return good / pairs;
}

describe('rocAuc', () => {
  test('scikit-learn documented example gives 0.75', () => {
    close(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  });

  test('ties count one half: 3.5 of 4 pairs', () => {
    close(rocAuc([0.5, 0.5, 0.2, 0.9], [0, 1, 0, 1]), 0.875);
  });

  test('perfect, inverted and constant scores', () => {
    close(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
    close(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]), 0);
    close(rocAuc([3, 3, 3, 3, 3], [0, 1, 0, 1, 1]), 0.5);
  });

  test('agrees with pair counting on random data with many ties', () => {
    const rng = new Rng('auc-check');
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + rng.int(40);
      const scores = Array.from({ length: n }, () => rng.int(6) / 5);
      const labels = Array.from({ length: n }, () => rng.int(2));
      labels[0] = 0;
      labels[1] = 1;
      close(rocAuc(scores, labels), pairCountAuc(scores, labels), 1e-12);
    }
  });

  test('a single class is refused, naming labels', () => {
    throwsCode(() => rocAuc([0.1, 0.2], [1, 1]), ErrorCode.InvalidInput, 'labels');
    throwsCode(() => rocAuc([0.1, 0.2], [0, 0]), ErrorCode.InvalidInput, 'labels');
  });

  test('bad inputs are named', () => {
    throwsCode(() => rocAuc([0.1, 0.2, 0.3], [0, 1]), ErrorCode.ShapeMismatch, 'labels');
    throwsCode(() => rocAuc([0.1, Number.NaN], [0, 1]), ErrorCode.NonFinite, 'scores');
    throwsCode(() => rocAuc([0.1, 0.2], [0, 2]), ErrorCode.InvalidInput, 'labels');
  });
});

describe('averageRanks', () => {
  test('ties take the mean of the ranks they span', () => {
    assert.deepEqual(Array.from(averageRanks([10, 20, 20, 5, 20])), [2, 4, 4, 1, 4]);
  });
});

describe('multiclass one-vs-rest AUC', () => {
  // Hand-worked: class 0 → 1 (0.7 beats 0.3, 0.2, 0.4), class 1 → 1 (0.5 beats 0.2, 0.3, 0.4),
  // class 2 → positives {0.5, 0.2} vs negatives {0.1, 0.2}: 1 + 1 + 1 + ½ = 3.5 of 4.
  const probs = [0.7, 0.2, 0.1, 0.3, 0.5, 0.2, 0.2, 0.3, 0.5, 0.4, 0.4, 0.2];
  const labels = [0, 1, 2, 2];

  test('per class and macro', () => {
    const per = ovrAucPerClass(probs, labels, 3);
    close(per[0]!, 1);
    close(per[1]!, 1);
    close(per[2]!, 0.875);
    close(macroOvrAuc(probs, labels, 3), (1 + 1 + 0.875) / 3);
  });

  test('a class absent from the labels is NaN and left out of the macro mean', () => {
    const per = ovrAucPerClass([0.9, 0.1, 0, 0.2, 0.8, 0, 0.6, 0.4, 0], [0, 1, 0], 3);
    close(per[0]!, 1);
    close(per[1]!, 1);
    assert.ok(Number.isNaN(per[2]!));
    close(macroOvrAuc([0.9, 0.1, 0, 0.2, 0.8, 0, 0.6, 0.4, 0], [0, 1, 0], 3), 1);
  });

  test('binary probabilities give the binary AUC of column 1', () => {
    const p1 = [0.1, 0.4, 0.35, 0.8];
    const rows = p1.flatMap((p) => [1 - p, p]);
    close(macroOvrAuc(rows, [0, 0, 1, 1], 2), 0.75);
  });

  test('only one class present is refused', () => {
    throwsCode(() => macroOvrAuc([0.5, 0.5, 0.4, 0.6], [1, 1], 2), ErrorCode.InvalidInput, 'labels');
  });

  test('wrong matrix size is a shape mismatch on probs', () => {
    throwsCode(() => macroOvrAuc([0.5, 0.5, 0.4], [0, 1], 2), ErrorCode.ShapeMismatch, 'probs');
  });
});

describe('balancedAccuracy', () => {
  test('scikit-learn documented example gives 0.625', () => {
    close(balancedAccuracy([0, 1, 0, 0, 0, 1], [0, 1, 0, 0, 1, 0], 2), 0.625);
  });

  test('averages recall over classes present in truth only', () => {
    // class 0 recall ½, class 1 recall 1; class 2 only predicted.
    close(balancedAccuracy([0, 2, 1, 1], [0, 0, 1, 1], 3), 0.75);
  });

  test('constant predictor scores 1/C on balanced data', () => {
    close(balancedAccuracy([1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 2, 2], 3), 1 / 3);
  });

  test('bad class indices are named', () => {
    throwsCode(() => balancedAccuracy([0, 3], [0, 1], 3), ErrorCode.InvalidInput, 'pred');
    throwsCode(() => balancedAccuracy([0, 1], [0, 1.5], 3), ErrorCode.InvalidInput, 'truth');
    throwsCode(() => balancedAccuracy([0], [0, 1], 3), ErrorCode.ShapeMismatch, 'pred');
  });
});

describe('argmaxRows', () => {
  test('first maximum wins ties', () => {
    assert.deepEqual(Array.from(argmaxRows([0.2, 0.5, 0.3, 0.4, 0.4, 0.2], 2, 3)), [1, 0]);
  });
});

describe('pearson', () => {
  test('hand-computed value 6/√60', () => {
    close(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 6 / Math.sqrt(60));
  });

  test('exact ±1 for (anti-)linear data, invariant to affine maps', () => {
    close(pearson([1, 2, 3], [10, 20, 30]), 1);
    close(pearson([1, 2, 3], [3, 2, 1]), -1);
    close(pearson(new Float32Array([0.5, 1.5, 4]), [-3, 7, 1]), pearson([1, 3, 8], [-1, 9, 3]), 1e-12);
  });

  test('a constant vector gives NaN', () => {
    assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
    assert.ok(Number.isNaN(pearson([1, 2, 3], [4, 4, 4])));
  });

  test('per gene: constant genes are excluded and counted', () => {
    // 4 samples × 3 genes; gene 0 perfectly correlated, gene 1 anti-correlated, gene 2 constant truth.
    const pred = [1, 4, 7, 2, 3, 7, 3, 2, 7, 4, 1, 7];
    const truth = [10, 1, 5, 20, 2, 5, 30, 3, 5, 40, 4, 5];
    const r = perGenePearson(pred, truth, 4, 3);
    close(r.perGene[0]!, 1);
    close(r.perGene[1]!, -1);
    assert.ok(Number.isNaN(r.perGene[2]!));
    assert.equal(r.excluded, 1);
    close(r.mean, 0);
  });

  test('all genes constant: mean NaN, all excluded', () => {
    const r = perGenePearson([1, 1, 1, 1], [2, 2, 3, 3], 2, 2);
    assert.equal(r.excluded, 2);
    assert.ok(Number.isNaN(r.mean));
  });

  test('shape and finiteness are checked', () => {
    throwsCode(() => perGenePearson([1, 2, 3], [1, 2, 3, 4], 2, 2), ErrorCode.ShapeMismatch, 'pred');
    throwsCode(() => perGenePearson([1, 2, 3, 4], [1, 2, Number.POSITIVE_INFINITY, 4], 2, 2), ErrorCode.NonFinite, 'truth');
  });
});

describe('meanStd', () => {
  test('sample std with n − 1: [2,4,4,4,5,5,7,9] → 5 ± √(32/7)', () => {
    const r = meanStd([2, 4, 4, 4, 5, 5, 7, 9]);
    close(r.mean, 5);
    close(r.std, Math.sqrt(32 / 7));
    assert.equal(r.n, 8);
  });

  test('one value: std undefined (NaN); none: refused', () => {
    const r = meanStd([0.8]);
    close(r.mean, 0.8);
    assert.ok(Number.isNaN(r.std));
    throwsCode(() => meanStd([]), ErrorCode.InvalidInput, 'values');
  });
});
