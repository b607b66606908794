/**
 * One generation: condition → sampler (DDIM or DDPM, optional guidance) → denormalised flat
 * parameters per sample. Sample i draws all its noise from `new Rng(seed).fork('sample/i')`, so
 * a sample's bytes depend only on bundle, condition, seed, sampler settings and its index —
 * not on n or on what else shares a batch.
 */
import { Rng } from '@weightsmith/tensor';
import type { TextEncoder } from '@weightsmith/text';
import { denormalise, type LoadedBundle } from '../bundle/index.js';
import type { LruCache } from '../conditioning/index.js';
import { makeSchedule, sampleDdim, sampleDdpm, type Denoise, type Guidance, type SampleOptions } from '../diffusion/index.js';
import { conditionVector } from './condition.js';
import { resolveGenerationRequest, type GenerationCondition, type GenerationLimits, type GenerationRequest, type ResolvedGeneration } from './request.js';

export const DEFAULT_GENERATION_LIMITS: GenerationLimits = { maxN: 16, maxTextChars: 512 };

export interface GenerateOptions extends GenerationRequest {
  bundle: LoadedBundle;
  encoder: TextEncoder;
  /** The bundle's denoiser, [B,P] x, [B] t, [B,E] cond → [B,P]. */
  runDenoiser: Denoise;
  limits?: GenerationLimits;
  /** Class-prompt embeddings cache. */
  cache?: LruCache;
  /** After each denoiser step: (steps done, total). */
  onStep?: (done: number, total: number) => void;
  /**
   * SDEdit: start every sample from these weights (flat, layout order, already normalised by the
   * bundle scale, length P) noised to `tStart` with the sample's own Rng, instead of pure noise.
   */
  startFrom?: { x0: Float32Array; tStart: number };
}

export interface GenerationResult {
  /** One flat parameter vector per sample, in the layout's order, denormalised (÷ scale). */
  samples: Float32Array[];
  condition: GenerationCondition;
  /** The request as run, defaults filled in. */
  resolved: ResolvedGeneration;
}

/** The per-sample generator: independent of n and of batching. */
export function sampleRng(seed: number, index: number): Rng {
  return new Rng(seed).fork(`sample/${index}`);
}

function repeatRows(row: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * row.length);
  for (let i = 0; i < n; i++) out.set(row, i * row.length);
  return out;
}

export async function generate(o: GenerateOptions): Promise<GenerationResult> {
  const { manifest } = o.bundle;
  const resolved = resolveGenerationRequest(manifest, o, o.limits ?? DEFAULT_GENERATION_LIMITS);
  const { n } = resolved;
  const P = manifest.denoiser.parameterCount;
  const E = manifest.denoiser.condDim;

  const v = await conditionVector(manifest, o.encoder, resolved.condition, o.cache);
  const cond = new Float32Array(n * E);
  for (let i = 0; i < n; i++) cond.set(v, i * E);

  const guidance: Guidance | undefined =
    resolved.guidance === undefined ? undefined : { scale: resolved.guidance, nullCond: new Float32Array(E) /* nullCond 'zeros', the only kind bundles declare */ };
  const common: SampleOptions = {
    denoise: o.runDenoiser,
    shape: { batch: n, P },
    cond,
    schedule: makeSchedule(manifest.diffusion),
    prediction: manifest.diffusion.prediction,
    rngs: Array.from({ length: n }, (_, i) => sampleRng(resolved.seed, i)),
    ...(guidance ? { guidance } : {}),
    ...(o.onStep ? { onStep: o.onStep } : {}),
    ...(o.startFrom ? { startFrom: { x0: repeatRows(o.startFrom.x0, n), tStart: o.startFrom.tStart } } : {}),
  };
  const flat =
    resolved.sampler === 'ddpm' ? await sampleDdpm(common) : await sampleDdim({ ...common, steps: resolved.steps, eta: resolved.eta ?? 0 });

  const samples = Array.from({ length: n }, (_, i) => denormalise(flat.subarray(i * P, (i + 1) * P), manifest.scale));
  return { samples, condition: resolved.condition, resolved };
}
