import { invalidInput } from '@weightsmith/core';
import type { DiffusionSchedule } from './schedule.js';

/**
 * One reverse-diffusion update for one row, as pure functions on typed arrays, so that the
 * whole-chain samplers and a batcher that interleaves requests at different steps share the same
 * arithmetic. Arithmetic is float64 per element; the new x_{t−1} is written to `out` (F32, the
 * precision the denoiser sees).
 */

/**
 * Ancestral DDPM step t → t−1 (Ho et al. 2020, eq. 6–7; G.pt's p_sample with the "fixed small"
 * variance): x_{t−1} = coefX0_t · x0 + coefXt_t · x_t + √β̃_t · z, no noise at t = 0 (β̃_0 = 0 and
 * G.pt masks it out). `noise` is required exactly when t > 0.
 */
export function ddpmStep(
  schedule: DiffusionSchedule,
  t: number,
  xt: ArrayLike<number>,
  x0: ArrayLike<number>,
  noise: ArrayLike<number> | undefined,
  out: Float32Array,
): void {
  const c0 = schedule.posteriorMeanCoefX0[t]!;
  const ct = schedule.posteriorMeanCoefXt[t]!;
  const n = out.length;
  if (t > 0) {
    if (noise === undefined) throw invalidInput('noise', `DDPM step t=${t} needs noise`);
    const sigma = Math.sqrt(schedule.posteriorVariance[t]!);
    for (let i = 0; i < n; i++) out[i] = c0 * x0[i]! + ct * xt[i]! + sigma * noise[i]!;
  } else {
    for (let i = 0; i < n; i++) out[i] = c0 * x0[i]! + ct * xt[i]!;
  }
}

/** σ of a DDIM step t → tPrev with parameter η (Song et al. 2021, eq. 16); tPrev < 0 means ᾱ = 1. */
export function ddimSigma(schedule: DiffusionSchedule, t: number, tPrev: number, eta: number): number {
  const a = schedule.alphasCumprod[t]!;
  const ap = tPrev >= 0 ? schedule.alphasCumprod[tPrev]! : 1;
  if (eta === 0) return 0;
  return eta * Math.sqrt((1 - ap) / (1 - a)) * Math.sqrt(Math.max(0, 1 - a / ap));
}

/**
 * DDIM step t → tPrev (Song et al. 2021, eq. 12): x_prev = √ᾱ_prev x0 + √(1 − ᾱ_prev − σ²) ε + σ z.
 * tPrev < 0 is the final step to clean data with ᾱ_prev = 1 (diffusers' DDIMScheduler default
 * `set_alpha_to_one=True`), which returns x0 itself. `noise` is required exactly when σ > 0.
 */
export function ddimStep(
  schedule: DiffusionSchedule,
  t: number,
  tPrev: number,
  eta: number,
  x0: ArrayLike<number>,
  eps: ArrayLike<number>,
  noise: ArrayLike<number> | undefined,
  out: Float32Array,
): void {
  const ap = tPrev >= 0 ? schedule.alphasCumprod[tPrev]! : 1;
  const sigma = ddimSigma(schedule, t, tPrev, eta);
  const cx0 = Math.sqrt(ap);
  const ceps = Math.sqrt(Math.max(0, 1 - ap - sigma * sigma));
  const n = out.length;
  if (sigma > 0) {
    if (noise === undefined) throw invalidInput('noise', `DDIM step t=${t} with sigma ${sigma} needs noise`);
    for (let i = 0; i < n; i++) out[i] = cx0 * x0[i]! + ceps * eps[i]! + sigma * noise[i]!;
  } else {
    for (let i = 0; i < n; i++) out[i] = cx0 * x0[i]! + ceps * eps[i]!;
  }
}

/**
 * DDIM timesteps with diffusers' DDIMScheduler default spacing, `timestep_spacing="leading"`
 * (and `steps_offset=0`): ratio = ⌊T/steps⌋, timesteps = [(steps−1)·ratio, …, ratio, 0]. E.g.
 * T = 1000, steps = 50 → 980, 960, …, 20, 0. Descending order, the order they are run in.
 */
export function ddimTimesteps(timesteps: number, steps: number): Int32Array {
  if (!Number.isSafeInteger(steps) || steps < 1 || steps > timesteps) {
    throw invalidInput('steps', `steps must be an integer in 1..${timesteps}, got ${String(steps)}`);
  }
  const ratio = Math.floor(timesteps / steps);
  const out = new Int32Array(steps);
  for (let i = 0; i < steps; i++) out[i] = (steps - 1 - i) * ratio;
  return out;
}
