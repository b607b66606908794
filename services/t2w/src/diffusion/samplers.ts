import { ErrorCode, WeightsmithError, invalidFormat, invalidInput } from '@weightsmith/core';
import { Rng } from '@weightsmith/tensor';
import { PREDICTION_TYPES, epsFromX0, toEps, toX0, type PredictionType } from './predictions.js';
import type { DiffusionSchedule } from './schedule.js';
import { ddimSigma, ddimStep, ddimTimesteps, ddpmStep } from './steps.js';

/**
 * Whole-chain samplers: DDPM (ancestral, the paper's sampler) and DDIM, with classifier-free
 * guidance and SDEdit starts.
 *
 * Determinism and batch independence: row b's noise comes only from `rngs[b]`, drawn in a fixed
 * order — the start noise (P normals), then P normals for each step that adds noise (DDPM t > 0;
 * DDIM when σ > 0) — and every update is row-wise. So with a row-wise denoiser a row's bytes do
 * not depend on which other rows share the batch: this is what lets dynamic batching give the
 * same bytes as unbatched requests.
 *
 * Timesteps given to the denoiser are the schedule indices 0..T−1 (G.pt's convention), as F32.
 */

/** The denoiser: x [B,P], t [B], cond [B,E] → [B,P] in the bundle's prediction type. */
export type Denoise = (x: Float32Array, t: Float32Array, cond: Float32Array) => Promise<Float32Array>;

export interface Guidance {
  /** s in uncond + s·(cond − uncond); 1 = plain conditional, 0 = unconditional. */
  scale: number;
  /** The "no condition" embedding the bundle was trained with (condition dropout), length E. */
  nullCond: Float32Array;
}

export interface SdeditStart {
  /** Rows to start from, [batch, P] (normalised flat parameters). */
  x0: Float32Array;
  /** Noise x0 to this timestep index, then denoise from it; −1 = no noise, x0 is returned (see `strengthToTStart`). */
  tStart: number;
}

export interface SampleOptions {
  denoise: Denoise;
  shape: { batch: number; P: number };
  /** [batch, E] condition rows. */
  cond: Float32Array;
  schedule: DiffusionSchedule;
  prediction: PredictionType;
  /** One generator per batch row (each request's own seed); consumed by sampling. */
  rngs: readonly Rng[];
  guidance?: Guidance;
  /** Clamp the predicted x0 to [−clipX0, clipX0] before each update (and re-derive ε from it). */
  clipX0?: number;
  startFrom?: SdeditStart;
  /** Called after each denoiser step with (steps done, total steps). */
  onStep?: (done: number, total: number) => void;
}

export interface DdimOptions extends SampleOptions {
  /** Number of DDIM steps over the full chain, 1..T (default 50, clamped to T when T < 50). */
  steps?: number;
  /** η: 0 = deterministic DDIM, 1 = DDPM-like noise (default 0). */
  eta?: number;
}

export const DEFAULT_DDIM_STEPS = 50;

interface Prepared {
  B: number;
  P: number;
  E: number;
}

function checkFiniteArray(a: Float32Array, field: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) {
      throw new WeightsmithError(ErrorCode.NonFinite, `${field}[${i}] is ${a[i]}, values must be finite`, { field });
    }
  }
}

function checkPositiveInt(v: number, field: string): void {
  if (!Number.isSafeInteger(v) || v < 1) throw invalidInput(field, `${field} must be a positive integer, got ${String(v)}`);
}

function prepare(o: SampleOptions): Prepared {
  const { batch: B, P } = o.shape;
  checkPositiveInt(B, 'shape.batch');
  checkPositiveInt(P, 'shape.P');
  if (typeof o.denoise !== 'function') throw invalidInput('denoise', 'denoise must be a function');
  if (!PREDICTION_TYPES.includes(o.prediction)) {
    throw invalidInput('prediction', `prediction must be one of ${PREDICTION_TYPES.join(', ')}, got ${String(o.prediction)}`);
  }
  if (!(o.cond instanceof Float32Array) || o.cond.length === 0 || o.cond.length % B !== 0) {
    throw new WeightsmithError(ErrorCode.ShapeMismatch, `cond must be a non-empty Float32Array of batch (${B}) × E values, got length ${o.cond?.length}`, { field: 'cond' });
  }
  checkFiniteArray(o.cond, 'cond');
  const E = o.cond.length / B;
  if (!Array.isArray(o.rngs) || o.rngs.length !== B || !o.rngs.every((r) => r instanceof Rng)) {
    throw invalidInput('rngs', `rngs must hold one Rng per batch row (${B}), got ${Array.isArray(o.rngs) ? o.rngs.length : typeof o.rngs}`);
  }
  if (o.guidance !== undefined) {
    const { scale, nullCond } = o.guidance;
    if (typeof scale !== 'number' || !Number.isFinite(scale)) {
      throw invalidInput('guidance', `guidance scale must be a finite number, got ${String(scale)}`);
    }
    if (!(nullCond instanceof Float32Array) || nullCond.length !== E) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `guidance.nullCond must be a Float32Array of E = ${E} values, got length ${nullCond?.length}`, { field: 'guidance.nullCond' });
    }
    checkFiniteArray(nullCond, 'guidance.nullCond');
  }
  if (o.clipX0 !== undefined && !(Number.isFinite(o.clipX0) && o.clipX0 > 0)) {
    throw invalidInput('clipX0', `clipX0 must be a positive finite number, got ${String(o.clipX0)}`);
  }
  if (o.startFrom !== undefined) {
    const { x0, tStart } = o.startFrom;
    if (!(x0 instanceof Float32Array) || x0.length !== B * P) {
      throw new WeightsmithError(ErrorCode.ShapeMismatch, `startFrom.x0 must be a Float32Array of batch × P = ${B * P} values, got length ${x0?.length}`, { field: 'startFrom.x0' });
    }
    checkFiniteArray(x0, 'startFrom.x0');
    const T = o.schedule.timesteps;
    if (!Number.isSafeInteger(tStart) || tStart < -1 || tStart >= T) {
      throw invalidInput('strength', `startFrom.tStart must be an integer in -1..${T - 1}, got ${String(tStart)}`);
    }
  }
  if (o.onStep !== undefined && typeof o.onStep !== 'function') throw invalidInput('onStep', 'onStep must be a function');
  return { B, P, E };
}

/** x_T ~ N(0, I) per row, or for SDEdit x_tStart = √ᾱ x0 + √(1−ᾱ) ε (q_sample), ε from the row's Rng. */
function initialState(o: SampleOptions, { B, P }: Prepared): Float32Array {
  const x = new Float32Array(B * P);
  const start = o.startFrom;
  for (let b = 0; b < B; b++) {
    const noise = o.rngs[b]!.normalArray(P);
    const row = x.subarray(b * P, (b + 1) * P);
    if (start === undefined) {
      row.set(noise);
    } else {
      const s = o.schedule.sqrtAlphasCumprod[start.tStart]!;
      const r = o.schedule.sqrtOneMinusAlphasCumprod[start.tStart]!;
      const x0 = start.x0.subarray(b * P, (b + 1) * P);
      for (let i = 0; i < P; i++) row[i] = s * x0[i]! + r * noise[i]!;
    }
  }
  return x;
}

interface RowPrediction {
  x0: Float64Array;
  eps: Float64Array;
}

/** Buffers a chain reuses at every step: per-row x0 and ε, and the state x_t double-buffered. */
interface ChainBuffers {
  x0: Float64Array;
  eps: Float64Array;
  guided: Float64Array | undefined;
  /** The buffer the next state is written to; swapped with the current one after each step. */
  next: Float32Array;
}

function chainBuffers(o: SampleOptions, { B, P }: Prepared): ChainBuffers {
  return { x0: new Float64Array(B * P), eps: new Float64Array(B * P), guided: o.guidance ? new Float64Array(P) : undefined, next: new Float32Array(B * P) };
}

/**
 * One denoiser call for the whole batch at timestep t. With guidance the call carries 2B rows —
 * [x; x] with [cond; nullCond…] — and the two outputs are combined as u + s·(c − u) on the
 * model's own output. For every prediction type ε and x0 are affine in the output with the same
 * x_t, so this equals guiding on ε (the usual formulation) exactly; ε and x0 are then derived.
 */
async function predict(o: SampleOptions, p: Prepared, x: Float32Array, t: number, buf: ChainBuffers): Promise<RowPrediction[]> {
  const { B, P, E } = p;
  const g = o.guidance;
  const rows = g === undefined ? B : 2 * B;
  let xIn = x;
  let condIn = o.cond;
  if (g !== undefined) {
    xIn = new Float32Array(rows * P);
    xIn.set(x, 0);
    xIn.set(x, B * P);
    condIn = new Float32Array(rows * E);
    condIn.set(o.cond, 0);
    for (let b = 0; b < B; b++) condIn.set(g.nullCond, (B + b) * E);
  }
  const tIn = new Float32Array(rows).fill(t);
  const out = await o.denoise(xIn, tIn, condIn);
  if (!(out instanceof Float32Array) || out.length !== rows * P) {
    throw invalidFormat(`denoiser returned ${out instanceof Float32Array ? `${out.length} values` : typeof out}, expected a Float32Array of ${rows} × ${P}`, 'denoiser');
  }
  checkFiniteArray(out, 'denoiser output');

  const abar = o.schedule.alphasCumprod[t]!;
  const result: RowPrediction[] = [];
  for (let b = 0; b < B; b++) {
    const xt = x.subarray(b * P, (b + 1) * P);
    let pred: ArrayLike<number> = out.subarray(b * P, (b + 1) * P);
    if (g !== undefined) {
      const u = out.subarray((B + b) * P, (B + b + 1) * P);
      const guided = buf.guided!;
      for (let i = 0; i < P; i++) guided[i] = u[i]! + g.scale * (pred[i]! - u[i]!);
      pred = guided;
    }
    const x0 = toX0(o.prediction, xt, pred, abar, buf.x0.subarray(b * P, (b + 1) * P));
    const epsOut = buf.eps.subarray(b * P, (b + 1) * P);
    let eps: Float64Array;
    if (o.clipX0 !== undefined) {
      const c = o.clipX0;
      for (let i = 0; i < P; i++) x0[i] = Math.min(c, Math.max(-c, x0[i]!));
      eps = epsFromX0(xt, x0, abar, epsOut);
    } else {
      eps = toEps(o.prediction, xt, pred, abar, epsOut);
    }
    result.push({ x0, eps });
  }
  return result;
}

/**
 * DDPM ancestral sampling over every timestep from T−1 (or startFrom.tStart) down to 0.
 * Returns [batch, P] F32.
 */
export async function sampleDdpm(o: SampleOptions): Promise<Float32Array> {
  const p = prepare(o);
  const { B, P } = p;
  if (o.startFrom?.tStart === -1) return Float32Array.from(o.startFrom.x0);
  const first = o.startFrom?.tStart ?? o.schedule.timesteps - 1;
  let x = initialState(o, p);
  const buf = chainBuffers(o, p);
  const total = first + 1;
  for (let t = first, done = 0; t >= 0; t--) {
    const preds = await predict(o, p, x, t, buf);
    const next = buf.next;
    for (let b = 0; b < B; b++) {
      const noise = t > 0 ? o.rngs[b]!.normalArray(P) : undefined;
      ddpmStep(o.schedule, t, x.subarray(b * P, (b + 1) * P), preds[b]!.x0, noise, next.subarray(b * P, (b + 1) * P));
    }
    buf.next = x;
    x = next;
    o.onStep?.(++done, total);
  }
  return x;
}

/**
 * The DDIM timesteps actually run: the leading-spaced grid for `steps` (see `ddimTimesteps`);
 * for SDEdit, tStart followed by the grid points below it (so the chain starts at exactly the
 * noise level it was noised to and then rejoins the grid).
 */
export function ddimRunTimesteps(timesteps: number, steps: number, tStart?: number): number[] {
  const grid = Array.from(ddimTimesteps(timesteps, steps));
  if (tStart === undefined) return grid;
  if (tStart < 0) return [];
  return [tStart, ...grid.filter((t) => t < tStart)];
}

/** DDIM sampling (Song et al. 2021) with η and the step count. Returns [batch, P] F32. */
export async function sampleDdim(o: DdimOptions): Promise<Float32Array> {
  const p = prepare(o);
  const { B, P } = p;
  const T = o.schedule.timesteps;
  const steps = o.steps ?? Math.min(DEFAULT_DDIM_STEPS, T);
  const eta = o.eta ?? 0;
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) {
    throw invalidInput('eta', `eta must be a finite number >= 0, got ${String(eta)}`);
  }
  const ts = ddimRunTimesteps(T, steps, o.startFrom?.tStart);
  if (o.startFrom?.tStart === -1) return Float32Array.from(o.startFrom.x0);
  let x = initialState(o, p);
  const buf = chainBuffers(o, p);
  for (let k = 0; k < ts.length; k++) {
    const t = ts[k]!;
    const tPrev = k + 1 < ts.length ? ts[k + 1]! : -1;
    const preds = await predict(o, p, x, t, buf);
    const sigma = ddimSigma(o.schedule, t, tPrev, eta);
    const next = buf.next;
    for (let b = 0; b < B; b++) {
      const noise = sigma > 0 ? o.rngs[b]!.normalArray(P) : undefined;
      const pr = preds[b]!;
      ddimStep(o.schedule, t, tPrev, eta, pr.x0, pr.eps, noise, next.subarray(b * P, (b + 1) * P));
    }
    buf.next = x;
    x = next;
    o.onStep?.(k + 1, ts.length);
  }
  return x;
}
