/**
 * Checks a generation request against a bundle and the service's caps before any work starts,
 * so a bad request is refused with the offending field and nothing is computed or written.
 * Field names are those of the HTTP body (`body.classes`, `body.steps`, …).
 */
import { invalidInput } from '@weightsmith/core';
import type { BundleManifest } from '../bundle/index.js';
import { DEFAULT_DDIM_STEPS } from '../diffusion/index.js';

export type SamplerName = 'ddim' | 'ddpm';
export const SAMPLERS: readonly SamplerName[] = ['ddim', 'ddpm'];

/** What to condition on: a task's classes (pooled by prior attention) or a free-form description. */
export type GenerationCondition = { kind: 'classes'; classes: string[] } | { kind: 'text'; text: string };

export interface GenerationRequest {
  classes?: readonly string[] | undefined;
  text?: string | undefined;
  /** Samples to draw (each its own artifact). */
  n: number;
  seed: number;
  sampler: SamplerName;
  /** DDIM steps (default min(50, T)); for DDPM only T itself is accepted. */
  steps?: number | undefined;
  /** DDIM η (default 0); DDPM has none. */
  eta?: number | undefined;
  /** Classifier-free guidance scale; needs a bundle trained with condition dropout. */
  guidance?: number | undefined;
}

export interface GenerationLimits {
  maxN: number;
  maxTextChars: number;
}

/** The request with defaults filled in and the condition resolved. */
export interface ResolvedGeneration {
  condition: GenerationCondition;
  n: number;
  seed: number;
  sampler: SamplerName;
  /** Denoiser evaluations per sample: DDIM steps, or T for DDPM. */
  steps: number;
  eta: number | undefined;
  guidance: number | undefined;
}

const field = (name: string): string => `body.${name}`;

export function resolveGenerationRequest(manifest: BundleManifest, req: GenerationRequest, limits: GenerationLimits): ResolvedGeneration {
  const condition = resolveCondition(manifest, req, limits);
  const T = manifest.diffusion.timesteps;

  if (!Number.isSafeInteger(req.n) || req.n < 1 || req.n > limits.maxN) {
    throw invalidInput(field('n'), `n must be an integer in 1..${limits.maxN}, got ${String(req.n)}`);
  }
  if (!Number.isSafeInteger(req.seed) || req.seed < 0) {
    throw invalidInput(field('seed'), `seed must be a non-negative safe integer, got ${String(req.seed)}`);
  }
  if (!SAMPLERS.includes(req.sampler)) {
    throw invalidInput(field('sampler'), `sampler must be one of ${SAMPLERS.join(', ')}, got ${String(req.sampler)}`);
  }

  let steps: number;
  if (req.sampler === 'ddpm') {
    // Ancestral sampling runs every timestep; a shorter chain would be a different sampler.
    if (req.steps !== undefined && req.steps !== T) {
      throw invalidInput(field('steps'), `ddpm runs all ${T} timesteps of bundle "${manifest.name}"; steps must be ${T} or left out (use sampler 'ddim' for fewer), got ${req.steps}`);
    }
    if (req.eta !== undefined) throw invalidInput(field('eta'), "eta applies to sampler 'ddim' only");
    steps = T;
  } else {
    steps = req.steps ?? Math.min(DEFAULT_DDIM_STEPS, T);
    if (!Number.isSafeInteger(steps) || steps < 1 || steps > T) {
      throw invalidInput(field('steps'), `steps must be an integer in 1..${T} (the timesteps of bundle "${manifest.name}"), got ${String(req.steps)}`);
    }
    if (req.eta !== undefined && !(Number.isFinite(req.eta) && req.eta >= 0)) {
      throw invalidInput(field('eta'), `eta must be a finite number >= 0, got ${String(req.eta)}`);
    }
  }

  if (req.guidance !== undefined) {
    if (!Number.isFinite(req.guidance)) throw invalidInput(field('guidance'), `guidance must be a finite number, got ${String(req.guidance)}`);
    const dropout = manifest.diffusion.condDropout ?? 0;
    if (!(dropout > 0)) {
      throw invalidInput(field('guidance'), `bundle "${manifest.name}" was not trained with condition dropout (diffusion.condDropout), so classifier-free guidance is not available`);
    }
  }
  return { condition, n: req.n, seed: req.seed, sampler: req.sampler, steps, eta: req.sampler === 'ddim' ? (req.eta ?? 0) : undefined, guidance: req.guidance };
}

function resolveCondition(manifest: BundleManifest, req: GenerationRequest, limits: GenerationLimits): GenerationCondition {
  const hasClasses = req.classes !== undefined;
  const hasText = req.text !== undefined;
  if (hasClasses === hasText) {
    throw invalidInput(hasClasses ? field('text') : field('classes'), 'give exactly one of classes (a task\'s class names) or text (a free-form description)');
  }
  if (hasText) {
    const text = req.text!;
    if (text.trim() === '') throw invalidInput(field('text'), 'text must not be empty');
    if (text.length > limits.maxTextChars) {
      throw invalidInput(field('text'), `text has ${text.length} characters; the limit is ${limits.maxTextChars}`);
    }
    return { kind: 'text', text };
  }
  const classes = req.classes!;
  if (classes.length === 0) throw invalidInput(field('classes'), 'classes must name at least one class');
  const seen = new Set<string>();
  classes.forEach((c) => {
    if (c.trim() === '') throw invalidInput(field('classes'), 'class names must not be empty');
    if (c.length > limits.maxTextChars) throw invalidInput(field('classes'), `class name has ${c.length} characters; the limit is ${limits.maxTextChars}`);
    if (seen.has(c)) throw invalidInput(field('classes'), `class "${c}" is listed twice`);
    seen.add(c);
  });
  if (manifest.requireKnownClasses) {
    const known = new Set(manifest.classes);
    const i = classes.findIndex((c) => !known.has(c));
    if (i >= 0) {
      throw invalidInput(field('classes'), `class "${classes[i]}" is not one bundle "${manifest.name}" was trained on (${manifest.classes.join(', ')})`);
    }
  }
  return { kind: 'classes', classes: [...classes] };
}
