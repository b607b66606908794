/**
 * Evaluation metrics on plain arrays: ROC-AUC (binary and macro one-vs-rest), balanced accuracy,
 * Pearson correlation (single and per gene), mean ± sample std. Pure functions; every sum is
 * accumulated in float64 whatever the input precision.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

export type NumericArray = ArrayLike<number>;

function shapeMismatch(field: string, message: string): WeightsmithError {
  return new WeightsmithError(ErrorCode.ShapeMismatch, message, { field });
}

function checkFiniteValues(values: NumericArray, field: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      throw new WeightsmithError(ErrorCode.NonFinite, `${field}[${i}] is ${v}; metrics need finite values`, { field });
    }
  }
}

function checkClassIndices(values: NumericArray, numClasses: number, field: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw invalidInput(field, `${field}[${i}] is ${v}, expected a class index in 0..${numClasses - 1}`);
    }
  }
}

function checkNumClasses(numClasses: number): void {
  if (!Number.isSafeInteger(numClasses) || numClasses < 2) {
    throw invalidInput('numClasses', `numClasses must be an integer ≥ 2, got ${numClasses}`);
  }
}

/**
 * 1-based ranks of `values` with ties given the average of the ranks they span (the
 * Mann–Whitney convention, which makes the AUC count a tied positive/negative pair as ½).
 */
export function averageRanks(values: NumericArray): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && values[order[j]!]! === values[order[i]!]!) j++;
    // Positions i..j-1 (0-based) share ranks i+1..j, whose average is (i + 1 + j) / 2.
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) ranks[order[k]!] = rank;
    i = j;
  }
  return ranks;
}

/**
 * Area under the ROC curve of `scores` for binary `labels01` (1 = positive), by the
 * Mann–Whitney statistic: (sum of positive ranks − n₊(n₊+1)/2) / (n₊·n₋), ties at average rank.
 * Needs both classes present.
 */
export function rocAuc(scores: NumericArray, labels01: NumericArray): number {
  if (scores.length !== labels01.length) {
    throw shapeMismatch('labels', `scores has ${scores.length} values but labels has ${labels01.length}`);
  }
  checkFiniteValues(scores, 'scores');
  let nPos = 0;
  for (let i = 0; i < labels01.length; i++) {
    const l = labels01[i]!;
    if (l !== 0 && l !== 1) throw invalidInput('labels', `labels[${i}] is ${l}, expected 0 or 1`);
    nPos += l;
  }
  const nNeg = labels01.length - nPos;
  if (nPos === 0 || nNeg === 0) {
    throw invalidInput('labels', `ROC-AUC needs both classes, but all ${labels01.length} labels are ${nPos === 0 ? 0 : 1}`);
  }
  const ranks = averageRanks(scores);
  let rankSum = 0;
  for (let i = 0; i < ranks.length; i++) if (labels01[i] === 1) rankSum += ranks[i]!;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * One-vs-rest ROC-AUC of each class from an n × C probability (or score) matrix: column c
 * scores "class c" against all others. A class absent from `labels` (or the only one present)
 * has no AUC: NaN in its slot.
 */
export function ovrAucPerClass(probs: NumericArray, labels: NumericArray, numClasses: number): Float64Array {
  checkNumClasses(numClasses);
  const n = labels.length;
  if (probs.length !== n * numClasses) {
    throw shapeMismatch('probs', `probs has ${probs.length} values, expected ${n} × ${numClasses} = ${n * numClasses}`);
  }
  checkClassIndices(labels, numClasses, 'labels');
  const counts = new Int32Array(numClasses);
  for (let i = 0; i < n; i++) counts[labels[i]!]!++;
  const out = new Float64Array(numClasses).fill(Number.NaN);
  const column = new Float64Array(n);
  const isClass = new Uint8Array(n);
  for (let c = 0; c < numClasses; c++) {
    if (counts[c] === 0 || counts[c] === n) continue;
    for (let i = 0; i < n; i++) {
      column[i] = probs[i * numClasses + c]!;
      isClass[i] = labels[i] === c ? 1 : 0;
    }
    out[c] = rocAuc(column, isClass);
  }
  return out;
}

/**
 * Macro-averaged one-vs-rest ROC-AUC over the classes present in `labels` (as sklearn's
 * `roc_auc_score(multi_class='ovr', average='macro')` when every class is present). With two
 * classes it equals the binary AUC of column 1 whenever the rows sum to a constant.
 */
export function macroOvrAuc(probs: NumericArray, labels: NumericArray, numClasses: number): number {
  const perClass = ovrAucPerClass(probs, labels, numClasses);
  let sum = 0;
  let k = 0;
  for (const v of perClass) {
    if (!Number.isNaN(v)) {
      sum += v;
      k++;
    }
  }
  if (k === 0) throw invalidInput('labels', `ROC-AUC needs at least two classes in labels, found one among ${labels.length} labels`);
  return sum / k;
}

/**
 * Mean per-class recall over the classes present in `truth` (sklearn's `balanced_accuracy_score`):
 * robust to class imbalance, 1/C for a constant predictor.
 */
export function balancedAccuracy(pred: NumericArray, truth: NumericArray, numClasses: number): number {
  checkNumClasses(numClasses);
  if (pred.length !== truth.length) {
    throw shapeMismatch('pred', `pred has ${pred.length} values but truth has ${truth.length}`);
  }
  if (truth.length === 0) throw invalidInput('truth', 'balanced accuracy needs at least one sample');
  checkClassIndices(pred, numClasses, 'pred');
  checkClassIndices(truth, numClasses, 'truth');
  const support = new Int32Array(numClasses);
  const correct = new Int32Array(numClasses);
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    support[t]!++;
    if (pred[i] === t) correct[t]!++;
  }
  let sum = 0;
  let present = 0;
  for (let c = 0; c < numClasses; c++) {
    if (support[c]! > 0) {
      sum += correct[c]! / support[c]!;
      present++;
    }
  }
  return sum / present;
}

/** Row-wise argmax of an n × C matrix (first maximum on ties). */
export function argmaxRows(matrix: NumericArray, rows: number, cols: number): Int32Array {
  if (matrix.length !== rows * cols) {
    throw shapeMismatch('matrix', `matrix has ${matrix.length} values, expected ${rows} × ${cols}`);
  }
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = matrix[r * cols]!;
    for (let c = 1; c < cols; c++) {
      const v = matrix[r * cols + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[r] = best;
  }
  return out;
}

/**
 * Pearson correlation of two equal-length vectors (two-pass: centre, then sum products). A
 * constant vector has no correlation: NaN, which callers exclude and count.
 */
export function pearson(a: NumericArray, b: NumericArray): number {
  if (a.length !== b.length) throw shapeMismatch('b', `a has ${a.length} values but b has ${b.length}`);
  return pearsonStrided(a, b, a.length, 0, 1);
}

/** Pearson over column `col` of two row-major matrices with `stride` columns and `n` rows. */
function pearsonStrided(a: NumericArray, b: NumericArray, n: number, col: number, stride: number): number {
  if (n < 2) return Number.NaN;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i * stride + col]!;
    mb += b[i * stride + col]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i * stride + col]! - ma;
    const db = b[i * stride + col]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) return Number.NaN;
  const r = sab / Math.sqrt(saa * sbb);
  // Rounding can push |r| a hair past 1 for (anti-)collinear inputs.
  return Math.max(-1, Math.min(1, r));
}

export interface PerGenePearson {
  /** Mean r over the genes with a defined correlation; NaN when none has one. */
  mean: number;
  /** r per gene; NaN where the prediction or the truth is constant over the samples. */
  perGene: Float64Array;
  /** How many genes were left out of the mean because their r is undefined. */
  excluded: number;
}

/**
 * Pearson r between predicted and true expression for every gene (column) of two n × G
 * matrices, and its mean over genes — the usual spatial-expression score (HEST).
 */
export function perGenePearson(pred: NumericArray, truth: NumericArray, n: number, genes: number): PerGenePearson {
  if (!Number.isSafeInteger(genes) || genes < 1) throw invalidInput('genes', `genes must be a positive integer, got ${genes}`);
  if (pred.length !== n * genes) throw shapeMismatch('pred', `pred has ${pred.length} values, expected ${n} × ${genes}`);
  if (truth.length !== n * genes) throw shapeMismatch('truth', `truth has ${truth.length} values, expected ${n} × ${genes}`);
  checkFiniteValues(pred, 'pred');
  checkFiniteValues(truth, 'truth');
  const perGene = new Float64Array(genes);
  let sum = 0;
  let excluded = 0;
  for (let g = 0; g < genes; g++) {
    const r = pearsonStrided(pred, truth, n, g, genes);
    perGene[g] = r;
    if (Number.isNaN(r)) excluded++;
    else sum += r;
  }
  return { mean: excluded === genes ? Number.NaN : sum / (genes - excluded), perGene, excluded };
}

export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n − 1 denominator); NaN for a single value. */
  std: number;
  n: number;
}

/** Mean and sample standard deviation (n − 1), as papers report "mean ± std" over splits. */
export function meanStd(values: NumericArray): MeanStd {
  const n = values.length;
  if (n === 0) throw invalidInput('values', 'mean ± std needs at least one value');
  checkFiniteValues(values, 'values');
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i]!;
  mean /= n;
  if (n === 1) return { mean, std: Number.NaN, n };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}
