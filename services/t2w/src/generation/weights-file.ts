/**
 * One generated sample as a safetensors file: the layout's tensor names and shapes (F32, in
 * state-dict order) and `__metadata__` saying how it was made, so the file alone traces back to
 * bundle, condition, seed and sampler. Everything here is deterministic: same inputs, same bytes.
 */
import { serializeSafetensors } from '@weightsmith/safetensors';
import { unflattenToTensors, type LoadedBundle } from '../bundle/index.js';
import { conditionPrompts } from './condition.js';
import type { ResolvedGeneration } from './request.js';

/** `__metadata__` values (safetensors allows string values only). */
export function sampleMetadata(bundle: LoadedBundle, run: ResolvedGeneration, sampleIndex: number, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const c = run.condition;
  const meta: Record<string, string> = {
    format: 'pt',
    bundle: bundle.name,
    bundleVersion: bundle.manifest.version,
    bundleDigest: bundle.digest,
    ...(c.kind === 'classes' ? { classes: JSON.stringify(c.classes) } : { text: c.text }),
    prompt: JSON.stringify(conditionPrompts(bundle.manifest, c)),
    seed: String(run.seed),
    sampleIndex: String(sampleIndex),
    sampler: run.sampler,
    steps: String(run.steps),
  };
  if (run.eta !== undefined) meta.eta = String(run.eta);
  if (run.guidance !== undefined) meta.guidance = String(run.guidance);
  return { ...meta, ...extra };
}

/** `sample` is already denormalised (what `generate` returns); `extra` adds metadata (e.g. an enhancement's strength and input). */
export function sampleSafetensors(bundle: LoadedBundle, sample: Float32Array, run: ResolvedGeneration, sampleIndex: number, extra: Readonly<Record<string, string>> = {}): Promise<Uint8Array> {
  const layout = bundle.manifest.target.layout;
  const tensors = unflattenToTensors(sample, layout);
  return serializeSafetensors(
    layout.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: [...t.shape], data: tensors.get(t.name)! })),
    sampleMetadata(bundle, run, sampleIndex, extra),
  );
}
