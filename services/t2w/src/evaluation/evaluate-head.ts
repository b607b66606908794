/**
 * Accuracy of a generated (or any) cosine head on a bundle's evaluation data, for a task = a set
 * of classes: only the rows whose label is one of the task's classes are scored, and the head
 * chooses among those classes alone (as a T2W head serves any class set through the text
 * embeddings of its class prompts).
 */
import { invalidInput, ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { TensorMap } from '@weightsmith/onnx';
import { COSINE_HEAD_INPUTS as I, COSINE_HEAD_OUTPUTS as O } from './cosine-head-graph.js';
import type { EvaluationData } from './evaluation-data.js';

export interface HeadShape {
  f: number;
  h: number;
  e: number;
}

export interface ClassAccuracy {
  class: string;
  samples: number;
  correct: number;
  /** null when the evaluation data has no sample of the class. */
  accuracy: number | null;
}

export interface HeadEvaluation {
  classes: string[];
  samples: number;
  correct: number;
  accuracy: number;
  perClass: ClassAccuracy[];
}

/** Runs the cosine-head graph (on the InferencePool in the service). */
export type RunCosineHead = (feeds: TensorMap) => Promise<TensorMap>;

/** The task's rows of the evaluation data, with labels re-indexed into `classes`. */
export function selectTaskRows(data: EvaluationData, classes: readonly string[], field = 'body.classes'): { features: Float32Array; labels: Int32Array; n: number } {
  const index = new Map<string, number>();
  classes.forEach((c, i) => {
    const at = data.classes.indexOf(c);
    if (at < 0) throw invalidInput(`${field}.${i}`, `class "${c}" is not in the bundle's evaluation data (${data.classes.join(', ')})`);
    if ([...index.values()].includes(at)) throw invalidInput(`${field}.${i}`, `class "${c}" is listed twice`);
    index.set(c, at);
  });
  const taskOf = new Int32Array(data.classes.length).fill(-1);
  classes.forEach((c, i) => (taskOf[index.get(c)!] = i));
  let n = 0;
  for (let r = 0; r < data.n; r++) if (taskOf[data.labels[r]!]! >= 0) n++;
  const features = new Float32Array(n * data.f);
  const labels = new Int32Array(n);
  for (let r = 0, k = 0; r < data.n; r++) {
    const t = taskOf[data.labels[r]!]!;
    if (t < 0) continue;
    features.set(data.features.subarray(r * data.f, (r + 1) * data.f), k * data.f);
    labels[k++] = t;
  }
  return { features, labels, n };
}

/**
 * `weights` is the head flat in layout order (fc1.weight, fc1.bias, fc2.weight, fc2.bias);
 * `classEmbeddings` holds the text embedding of each class prompt, [classes.length, e].
 */
export async function evaluateHead(o: {
  data: EvaluationData;
  shape: HeadShape;
  weights: Float32Array;
  classes: readonly string[];
  classEmbeddings: Float32Array;
  run: RunCosineHead;
}): Promise<HeadEvaluation> {
  const { f, h, e } = o.shape;
  const C = o.classes.length;
  if (C < 2) throw invalidInput('body.classes', `a task needs at least 2 classes to score a classifier, got ${C}`);
  if (o.weights.length !== h * f + h + e * h + e) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `head weights hold ${o.weights.length} values; f=${f} h=${h} e=${e} needs ${h * f + h + e * h + e}`, { field: 'body.weights' });
  }
  const rows = selectTaskRows(o.data, o.classes);
  if (rows.n === 0) throw invalidInput('body.classes', 'the evaluation data has no samples of these classes');
  let at = 0;
  const take = (len: number): Float32Array => o.weights.subarray(at, (at += len));
  const out = await o.run({
    [I.features]: { dtype: 'float32', dims: [rows.n, f], data: rows.features },
    [I.fc1Weight]: { dtype: 'float32', dims: [h, f], data: take(h * f) },
    [I.fc1Bias]: { dtype: 'float32', dims: [h], data: take(h) },
    [I.fc2Weight]: { dtype: 'float32', dims: [e, h], data: take(e * h) },
    [I.fc2Bias]: { dtype: 'float32', dims: [e], data: take(e) },
    [I.classEmbeddings]: { dtype: 'float32', dims: [C, e], data: o.classEmbeddings },
  });
  const predicted = out[O.predicted];
  if (predicted?.dtype !== 'int64' || predicted.data.length !== rows.n) throw new WeightsmithError(ErrorCode.Internal, 'the cosine-head graph returned no predictions');
  const samples = new Array<number>(C).fill(0);
  const correct = new Array<number>(C).fill(0);
  for (let i = 0; i < rows.n; i++) {
    const y = rows.labels[i]!;
    samples[y]!++;
    if (Number(predicted.data[i]!) === y) correct[y]!++;
  }
  const total = correct.reduce((a, b) => a + b, 0);
  return {
    classes: [...o.classes],
    samples: rows.n,
    correct: total,
    accuracy: total / rows.n,
    perClass: o.classes.map((c, i) => ({ class: c, samples: samples[i]!, correct: correct[i]!, accuracy: samples[i]! === 0 ? null : correct[i]! / samples[i]! })),
  };
}
