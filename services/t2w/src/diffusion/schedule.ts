import { invalidInput } from '@weightsmith/core';

/**
 * DDPM noise schedule (Ho et al. 2020), with the conventions of G.pt's `GaussianDiffusion`
 * (wpeebles/G.pt, Gpt/diffusion/gaussian_diffusion.py, itself from OpenAI's improved/guided
 * diffusion), which T2W forks:
 *
 * - Timesteps are indexed t = 0..T−1; index t is the paper's step t+1 ("0 means one step" of
 *   noise). The denoiser is fed this integer index.
 * - β = linspace(βstart, βend, T) (numpy linspace: βstart + i·(βend − βstart)/(T − 1), last
 *   element exactly βend).
 * - ᾱ_t = Π_{s≤t} (1 − β_s); ᾱ_{−1} = 1 (`alphasCumprodPrev[0] = 1`).
 * - Posterior q(x_{t−1} | x_t, x0): mean = coefX0_t · x0 + coefXt_t · x_t with
 *   coefX0_t = β_t √ᾱ_{t−1} / (1 − ᾱ_t), coefXt_t = (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t), variance
 *   β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) (so β̃_0 = 0 and the last step is noise-free).
 *
 * Every array is float64 (as G.pt computes them) and has length T.
 */
export interface ScheduleConfig {
  /** Number of training timesteps T (the paper: 1000). */
  timesteps: number;
  betaSchedule: 'linear';
  betaStart: number;
  betaEnd: number;
}

export interface DiffusionSchedule {
  readonly timesteps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;
  readonly alphasCumprodPrev: Float64Array;
  readonly sqrtAlphasCumprod: Float64Array;
  readonly sqrtOneMinusAlphasCumprod: Float64Array;
  readonly posteriorVariance: Float64Array;
  readonly posteriorMeanCoefX0: Float64Array;
  readonly posteriorMeanCoefXt: Float64Array;
}

/** Upper bound on T, only so that a malformed bundle cannot make us allocate gigabytes. */
export const MAX_TIMESTEPS = 100_000;

function linspace(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  out[n - 1] = end;
  return out;
}

export function makeSchedule(config: ScheduleConfig): DiffusionSchedule {
  const { timesteps: T, betaSchedule, betaStart, betaEnd } = config;
  if (!Number.isSafeInteger(T) || T < 1 || T > MAX_TIMESTEPS) {
    throw invalidInput('timesteps', `timesteps must be an integer in 1..${MAX_TIMESTEPS}, got ${T}`);
  }
  if (betaSchedule !== 'linear') {
    throw invalidInput('betaSchedule', `betaSchedule must be 'linear', got ${String(betaSchedule)}`);
  }
  // β = 1 would make ᾱ = 0 and x0 unrecoverable from x_t; β ≤ 0 is no diffusion at all.
  if (!(Number.isFinite(betaStart) && betaStart > 0 && betaStart < 1)) {
    throw invalidInput('betaStart', `betaStart must be in (0, 1), got ${betaStart}`);
  }
  if (!(Number.isFinite(betaEnd) && betaEnd > 0 && betaEnd < 1)) {
    throw invalidInput('betaEnd', `betaEnd must be in (0, 1), got ${betaEnd}`);
  }
  if (betaEnd < betaStart) {
    throw invalidInput('betaEnd', `betaEnd (${betaEnd}) must not be below betaStart (${betaStart})`);
  }

  const betas = linspace(betaStart, betaEnd, T);
  const alphas = new Float64Array(T);
  const alphasCumprod = new Float64Array(T);
  const alphasCumprodPrev = new Float64Array(T);
  const sqrtAlphasCumprod = new Float64Array(T);
  const sqrtOneMinusAlphasCumprod = new Float64Array(T);
  const posteriorVariance = new Float64Array(T);
  const posteriorMeanCoefX0 = new Float64Array(T);
  const posteriorMeanCoefXt = new Float64Array(T);
  let prev = 1;
  for (let t = 0; t < T; t++) {
    const beta = betas[t]!;
    const alpha = 1 - beta;
    const abar = prev * alpha;
    alphas[t] = alpha;
    alphasCumprod[t] = abar;
    alphasCumprodPrev[t] = prev;
    sqrtAlphasCumprod[t] = Math.sqrt(abar);
    sqrtOneMinusAlphasCumprod[t] = Math.sqrt(1 - abar);
    posteriorVariance[t] = (beta * (1 - prev)) / (1 - abar);
    posteriorMeanCoefX0[t] = (beta * Math.sqrt(prev)) / (1 - abar);
    posteriorMeanCoefXt[t] = ((1 - prev) * Math.sqrt(alpha)) / (1 - abar);
    prev = abar;
  }
  return {
    timesteps: T,
    betas,
    alphas,
    alphasCumprod,
    alphasCumprodPrev,
    sqrtAlphasCumprod,
    sqrtOneMinusAlphasCumprod,
    posteriorVariance,
    posteriorMeanCoefX0,
    posteriorMeanCoefXt,
  };
}

/**
 * SDEdit strength → starting timestep index: tStart = round(strength · T) − 1, so strength 1
 * starts from t = T − 1 (pure noise, i.e. plain sampling) and strength k/T runs exactly k
 * denoising steps of DDPM. A strength below 0.5/T gives −1: no noise and no steps, the input
 * comes back unchanged (the strength → 0 limit). `Math.round` rounds halves up.
 */
export function strengthToTStart(strength: number, timesteps: number): number {
  if (typeof strength !== 'number' || !Number.isFinite(strength) || !(strength > 0 && strength <= 1)) {
    throw invalidInput('strength', `strength must be in (0, 1], got ${String(strength)}`);
  }
  return Math.round(strength * timesteps) - 1;
}
