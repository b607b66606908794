/**
 * Conversions between the three things a denoiser may predict, given x_t and ᾱ_t
 * (= schedule.alphasCumprod[t]):
 *
 *   x_t = √ᾱ x0 + √(1−ᾱ) ε                (forward process)
 *   v   = √ᾱ ε − √(1−ᾱ) x0                 (Salimans & Ho 2022, "v-prediction")
 *
 * hence x0 = (x_t − √(1−ᾱ) ε)/√ᾱ, ε = (x_t − √ᾱ x0)/√(1−ᾱ), x0 = √ᾱ x_t − √(1−ᾱ) v,
 * ε = √(1−ᾱ) x_t + √ᾱ v. Arithmetic is float64 per element; outputs are Float64Array.
 * ᾱ must be in (0, 1) (the schedule guarantees it).
 */
export type PredictionType = 'x0' | 'eps' | 'v';

export const PREDICTION_TYPES: readonly PredictionType[] = ['x0', 'eps', 'v'];

type Vec = ArrayLike<number>;

function map2(a: Vec, b: Vec, ca: number, cb: number, out: Float64Array = new Float64Array(a.length)): Float64Array {
  for (let i = 0; i < a.length; i++) out[i] = ca * a[i]! + cb * b[i]!;
  return out;
}

export function x0FromEps(xt: Vec, eps: Vec, alphaBar: number): Float64Array {
  const s = Math.sqrt(alphaBar);
  return map2(xt, eps, 1 / s, -Math.sqrt(1 - alphaBar) / s);
}

export function epsFromX0(xt: Vec, x0: Vec, alphaBar: number): Float64Array {
  const r = Math.sqrt(1 - alphaBar);
  return map2(xt, x0, 1 / r, -Math.sqrt(alphaBar) / r);
}

export function x0FromV(xt: Vec, v: Vec, alphaBar: number): Float64Array {
  return map2(xt, v, Math.sqrt(alphaBar), -Math.sqrt(1 - alphaBar));
}

export function epsFromV(xt: Vec, v: Vec, alphaBar: number): Float64Array {
  return map2(xt, v, Math.sqrt(1 - alphaBar), Math.sqrt(alphaBar));
}

export function vFromX0(xt: Vec, x0: Vec, alphaBar: number): Float64Array {
  // v = √ᾱ ε − √(1−ᾱ) x0 with ε from x0: v = (√ᾱ x_t − x0)/√(1−ᾱ).
  const r = Math.sqrt(1 - alphaBar);
  return map2(xt, x0, Math.sqrt(alphaBar) / r, -1 / r);
}

export function vFromEps(xt: Vec, eps: Vec, alphaBar: number): Float64Array {
  // v = (ε − √(1−ᾱ) x_t)/√ᾱ.
  const s = Math.sqrt(alphaBar);
  return map2(xt, eps, -Math.sqrt(1 - alphaBar) / s, 1 / s);
}

/** ε implied by a prediction of the given type. */
export function toEps(prediction: PredictionType, xt: Vec, output: Vec, alphaBar: number): Float64Array {
  switch (prediction) {
    case 'eps':
      return Float64Array.from(output);
    case 'x0':
      return epsFromX0(xt, output, alphaBar);
    case 'v':
      return epsFromV(xt, output, alphaBar);
  }
}

/** x0 implied by a prediction of the given type. */
export function toX0(prediction: PredictionType, xt: Vec, output: Vec, alphaBar: number): Float64Array {
  switch (prediction) {
    case 'x0':
      return Float64Array.from(output);
    case 'eps':
      return x0FromEps(xt, output, alphaBar);
    case 'v':
      return x0FromV(xt, output, alphaBar);
  }
}
