/**
 * A bundle's evaluation data (bundle.json `evaluation.data`): safetensors with `features` [N, f]
 * (the frozen backbone's output, F32/F16/BF16) and `labels` [N] (integer indices into
 * `evaluation.classes`). Checked in full — shapes against the target head's f, labels in range,
 * features finite — before anything is scored.
 */
import { ErrorCode, WeightsmithError, invalidFormat } from '@weightsmith/core';
import { memorySource, openSafetensors, type SafetensorsTensor } from '@weightsmith/safetensors';
import type { LoadedBundle } from '../bundle/index.js';
import { floatValuesAsF32 } from '@weightsmith/tensor';

export interface EvaluationData {
  classes: string[];
  n: number;
  f: number;
  /** [n, f] row-major. */
  features: Float32Array;
  /** [n], indices into `classes`. */
  labels: Int32Array;
}

function intData(t: SafetensorsTensor): ArrayLike<number | bigint> | undefined {
  return ['I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32'].includes(t.dtype) ? (t.data as ArrayLike<number | bigint>) : undefined;
}

export async function readEvaluationData(bundle: LoadedBundle, f: number): Promise<EvaluationData> {
  const ev = bundle.manifest.evaluation;
  if (ev === undefined) throw invalidFormat(`bundle "${bundle.name}" ships no evaluation data`, 'bundle.json.evaluation');
  const where = `bundle "${bundle.name}" ${ev.data}`;
  const file = await openSafetensors(memorySource(await bundle.readFile(ev.data)));
  try {
    for (const name of ['features', 'labels']) if (!file.has(name)) throw invalidFormat(`${where}: tensor "${name}" is missing`, `${ev.data}.${name}`);
    const fi = file.get('features');
    const li = file.get('labels');
    const n = fi.shape[0] ?? 0;
    if (fi.shape.length !== 2 || fi.shape[1] !== f || n < 1) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `${where}: features has shape [${fi.shape.join(', ')}]; the target head needs [N >= 1, ${f}]`, { field: `${ev.data}.features` });
    }
    if (li.shape.length !== 1 || li.shape[0] !== n) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `${where}: labels has shape [${li.shape.join(', ')}]; expected [${n}] (one per feature row)`, { field: `${ev.data}.labels` });
    }
    const features = floatValuesAsF32(await file.read('features'));
    if (features === undefined) throw invalidFormat(`${where}: features is ${fi.dtype}; expected F32, F16 or BF16`, `${ev.data}.features`);
    const rawLabels = intData(await file.read('labels'));
    if (rawLabels === undefined) throw invalidFormat(`${where}: labels is ${li.dtype}; expected an integer dtype`, `${ev.data}.labels`);
    for (let i = 0; i < features.length; i++) {
      if (!Number.isFinite(features[i]!)) {
        throw new WeightsmithError(ErrorCode.NonFinite, `${where}: features[${Math.floor(i / f)}, ${i % f}] is ${features[i]}`, { field: `${ev.data}.features` });
      }
    }
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = Number(rawLabels[i]!);
      if (!Number.isInteger(v) || v < 0 || v >= ev.classes.length) {
        throw invalidFormat(`${where}: labels[${i}] is ${v}; must index evaluation.classes (0..${ev.classes.length - 1})`, `${ev.data}.labels`);
      }
      labels[i] = v;
    }
    return { classes: ev.classes, n, f, features, labels };
  } finally {
    await file.close();
  }
}
