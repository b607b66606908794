/**
 * Weight enhancement as SDEdit (our definition of T2W's "weight enhancement"): the given weights,
 * normalised by the bundle scale, are noised to tStart = round(strength·T) − 1 with each sample's
 * own Rng and then denoised under the condition. Small strength keeps the input (strength ≤ 1/(2T)
 * gives tStart = −1: the input is returned unchanged); strength 1 starts from almost pure noise.
 */
import { invalidInput } from '@weightsmith/core';
import { normalise, type BundleManifest } from '../bundle/index.js';
import { strengthToTStart } from '../diffusion/index.js';

export interface SdeditStartPoint {
  /** Normalised flat weights (× bundle scale), length P. */
  x0: Float32Array;
  /** Timestep index to noise to; −1 = no noise (see `strengthToTStart`). */
  tStart: number;
}

/** strength ∈ (0, 1] → tStart, refusing anything else on `field`. */
export function resolveStrength(manifest: BundleManifest, strength: number, field = 'body.strength'): number {
  if (typeof strength !== 'number' || !Number.isFinite(strength) || !(strength > 0 && strength <= 1)) {
    throw invalidInput(field, `strength must be in (0, 1] (the fraction of the diffusion chain to re-run), got ${String(strength)}`);
  }
  return strengthToTStart(strength, manifest.diffusion.timesteps);
}

/** Where SDEdit starts for `weights` (flat, layout order, as stored: not normalised). */
export function sdeditStart(manifest: BundleManifest, weights: Float32Array, strength: number, field = 'body.strength'): SdeditStartPoint {
  const tStart = resolveStrength(manifest, strength, field);
  return { x0: normalise(weights, manifest.scale), tStart };
}
