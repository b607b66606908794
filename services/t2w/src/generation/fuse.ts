/**
 * Text-guided fusion: the experts' average is the SDEdit start under the union task's
 * description. For the `mlp-gelu-cosine-head` layout the experts' hidden units are first aligned
 * to the first expert by Hungarian matching (their order is arbitrary across separately trained
 * heads, so a plain average would blend unrelated units); for other layouts, or align = false,
 * the average is plain. strength = 1 is the paper's fusion — sampling from the description
 * alone — so the average is not used at all.
 */
import { invalidInput } from '@weightsmith/core';
import { concatF32 } from '@weightsmith/tensor';
import { mlpCosineHeadSchema, type BundleManifest } from '../bundle/index.js';
import { alignAndAverage, type HeadDims, type MlpHead } from '../fusion/index.js';

export const MIN_EXPERTS = 2;
export const MAX_EXPERTS = 16;

export interface ExpertAverage {
  /** Flat layout-ordered average (not normalised). */
  average: Float32Array;
  /** Whether hidden units were aligned before averaging. */
  aligned: boolean;
}

export function checkExpertCount(count: number, field = 'body.experts'): void {
  if (!Number.isSafeInteger(count) || count < MIN_EXPERTS || count > MAX_EXPERTS) {
    throw invalidInput(field, `fusion needs ${MIN_EXPERTS}..${MAX_EXPERTS} experts, got ${String(count)}`);
  }
}

/** The head's dimensions when the bundle's target is an MLP cosine head (alignment applies), else undefined. */
export function alignableHead(manifest: BundleManifest): HeadDims | undefined {
  const arch = mlpCosineHeadSchema.safeParse(manifest.target.architecture);
  if (!arch.success) return undefined;
  return { inFeatures: arch.data.f, hidden: arch.data.h, outFeatures: arch.data.e };
}

function splitHead(flat: Float32Array, d: HeadDims): MlpHead {
  const { inFeatures: f, hidden: h, outFeatures: e } = d;
  let o = 0;
  const take = (len: number): Float32Array => flat.slice(o, (o += len));
  return { fc1Weight: take(h * f), fc1Bias: take(h), fc2Weight: take(e * h), fc2Bias: take(e) };
}

function joinHead(head: MlpHead): Float32Array {
  return concatF32([head.fc1Weight, head.fc1Bias, head.fc2Weight, head.fc2Bias]);
}

/** Element-wise mean, float64 accumulation in list order (as `averageHeads`), rounded to F32. */
export function plainAverage(experts: readonly Float32Array[]): Float32Array {
  if (experts.length === 0) throw invalidInput('experts', 'at least one expert is needed to average');
  const P = experts[0]!.length;
  const acc = new Float64Array(P);
  experts.forEach((x, k) => {
    if (x.length !== P) throw invalidInput(`experts.${k}`, `expert ${k} has ${x.length} values; expert 0 has ${P}`);
    for (let i = 0; i < P; i++) acc[i] = acc[i]! + x[i]!;
  });
  const out = new Float32Array(P);
  for (let i = 0; i < P; i++) out[i] = acc[i]! / experts.length;
  return out;
}

/** `experts` are flat layout-ordered weights (as `loadArtifactWeights` returns them). */
export function averageExperts(manifest: BundleManifest, experts: readonly Float32Array[], align: boolean): ExpertAverage {
  const dims = align ? alignableHead(manifest) : undefined;
  if (dims === undefined) return { average: plainAverage(experts), aligned: false };
  const { average } = alignAndAverage(experts.map((x) => splitHead(x, dims)), dims, { reference: 0 });
  return { average: joinHead(average), aligned: true };
}
