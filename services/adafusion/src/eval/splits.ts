/**
 * Repeated random train/test splits of a cohort's slides (the AdaFusion protocol: 10 random
 * 70/30 splits). Slides, not tiles, are split, so no slide contributes to both sides.
 * Deterministic: split i draws only from `new Rng(seed).fork('split/' + i)`.
 */
import { invalidInput } from '@weightsmith/core';
import { Rng, type Seed } from '@weightsmith/tensor';

export interface SplitOptions {
  /** Number of splits (default 10). */
  count?: number;
  /** Fraction of slides (per class when stratified) that go to training (default 0.7). */
  trainFraction?: number;
  seed: Seed;
  /**
   * Split every class separately so each class appears on both sides (default: true when
   * labels are given). Needs labels.
   */
  stratify?: boolean;
}

export interface Split {
  /** Slide ids for fitting, in the cohort's order. */
  train: string[];
  /** Held-out slide ids, in the cohort's order. */
  test: string[];
}

/** Training size for a group of n: round(n·f), kept in 1..n−1 so neither side is empty. */
function trainSize(n: number, fraction: number): number {
  return Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
}

function checkOptions(count: number, trainFraction: number): void {
  if (!Number.isSafeInteger(count) || count < 1) throw invalidInput('count', `count must be a positive integer, got ${count}`);
  if (!(trainFraction > 0 && trainFraction < 1)) {
    throw invalidInput('trainFraction', `trainFraction must be strictly between 0 and 1, got ${trainFraction}`);
  }
}

function checkIds(slideIds: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of slideIds) {
    if (seen.has(id)) throw invalidInput('slideIds', `slide id "${id}" appears more than once`);
    seen.add(id);
  }
}

/**
 * `count` random train/test splits of `slideIds`. With `labels` (class index per slide, aligned
 * with `slideIds`) and `stratify` (the default then), each class is split on its own so it is on
 * both sides; a class with fewer than 2 slides cannot be, and is refused naming `labels`.
 * Without labels (e.g. tile-level regression) the slides are split as one group.
 */
export function randomSplits(slideIds: readonly string[], labels: readonly number[] | undefined, options: SplitOptions): Split[] {
  const count = options.count ?? 10;
  const trainFraction = options.trainFraction ?? 0.7;
  checkOptions(count, trainFraction);
  checkIds(slideIds);
  const stratify = options.stratify ?? labels !== undefined;
  if (stratify && labels === undefined) throw invalidInput('stratify', 'stratified splits need class labels per slide');
  if (labels !== undefined && labels.length !== slideIds.length) {
    throw invalidInput('labels', `labels has ${labels.length} entries but there are ${slideIds.length} slides`);
  }

  // Groups of slide positions that are split separately (one group when not stratified).
  let groups: number[][];
  if (stratify && labels !== undefined) {
    const byClass = new Map<number, number[]>();
    labels.forEach((label, i) => {
      if (!Number.isInteger(label) || label < 0) throw invalidInput('labels', `labels[${i}] is ${label}, expected a class index`);
      const g = byClass.get(label);
      if (g) g.push(i);
      else byClass.set(label, [i]);
    });
    groups = [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
    const small = [...byClass.entries()].filter(([, g]) => g.length < 2).map(([c]) => c);
    if (small.length > 0) {
      throw invalidInput(
        'labels',
        `class${small.length > 1 ? 'es' : ''} ${small.join(', ')} ha${small.length > 1 ? 've' : 's'} fewer than 2 slides; a stratified split needs each class on both the train and the test side`,
      );
    }
  } else {
    if (slideIds.length < 2) throw invalidInput('slideIds', `a train/test split needs at least 2 slides, got ${slideIds.length}`);
    groups = [slideIds.map((_, i) => i)];
  }

  const root = new Rng(options.seed);
  const splits: Split[] = [];
  for (let s = 0; s < count; s++) {
    const rng = root.fork(`split/${s}`);
    const inTrain = new Uint8Array(slideIds.length);
    for (const group of groups) {
      const shuffled = rng.shuffle([...group]);
      const k = trainSize(group.length, trainFraction);
      for (let j = 0; j < k; j++) inTrain[shuffled[j]!] = 1;
    }
    const train: string[] = [];
    const test: string[] = [];
    slideIds.forEach((id, i) => (inTrain[i] ? train : test).push(id));
    splits.push({ train, test });
  }
  return splits;
}
