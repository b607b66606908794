/**
 * Conversions between the three things a denoiser may predict, given x_t and ᾱ_t
 * (= schedule.alphasCumprod[t]):
 *
 *   x_t = √ᾱ x0 + √(1−ᾱ) ε                (forward process)
 *   v   = √ᾱ ε − √(1−ᾱ) x0                 (Salimans & Ho 2022, "v-prediction")
 *
 * hence x0 = (x_t − √(1−ᾱ) ε)/√ᾱ, ε = (x_t − √ᾱ x0)/√(1−ᾱ), x0 = √ᾱ x_t − √(1−ᾱ) v,
 * ε = √(1−ᾱ) x_t + √ᾱ v. Arithmetic is float64 per element; outputs are Float64Array, written
 * to `out` when given (the samplers reuse one per row across steps).
 * ᾱ must be in (0, 1) (the schedule guarantees it).
 */
export type PredictionType = 'x0' | 'eps' | 'v';

export const PREDICTION_TYPES: readonly PredictionType[] = ['x0', 'eps', 'v'];

type Vec = ArrayLike<number>;

function map2(a: Vec, b: Vec, ca: number, cb: number, out: Float64Array = new Float64Array(a.length)): Float64Array {
  for (let i = 0; i < a.length; i++) out[i] = ca * a[i]! + cb * b[i]!;
  return out;
}

export function x0FromEps(xt: Vec, eps: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  const s = Math.sqrt(alphaBar);
  return map2(xt, eps, 1 / s, -Math.sqrt(1 - alphaBar) / s, out);
}

export function epsFromX0(xt: Vec, x0: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  const r = Math.sqrt(1 - alphaBar);
  return map2(xt, x0, 1 / r, -Math.sqrt(alphaBar) / r, out);
}

export function x0FromV(xt: Vec, v: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  return map2(xt, v, Math.sqrt(alphaBar), -Math.sqrt(1 - alphaBar), out);
}

export function epsFromV(xt: Vec, v: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  return map2(xt, v, Math.sqrt(1 - alphaBar), Math.sqrt(alphaBar), out);
}

export function vFromX0(xt: Vec, x0: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  // v = √ᾱ ε − √(1−ᾱ) x0 with ε from x0: v = (√ᾱ x_t − x0)/√(1−ᾱ).
  const r = Math.sqrt(1 - alphaBar);
  return map2(xt, x0, Math.sqrt(alphaBar) / r, -1 / r, out);
}

export function vFromEps(xt: Vec, eps: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  // v = (ε − √(1−ᾱ) x_t)/√ᾱ.
  const s = Math.sqrt(alphaBar);
  return map2(xt, eps, -Math.sqrt(1 - alphaBar) / s, 1 / s, out);
}

/** ε implied by a prediction of the given type. */
export function toEps(prediction: PredictionType, xt: Vec, output: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  switch (prediction) {
    case 'eps':
      return copyInto(output, out);
    case 'x0':
      return epsFromX0(xt, output, alphaBar, out);
    case 'v':
      return epsFromV(xt, output, alphaBar, out);
  }
}

/** x0 implied by a prediction of the given type. */
export function toX0(prediction: PredictionType, xt: Vec, output: Vec, alphaBar: number, out?: Float64Array): Float64Array {
  switch (prediction) {
    case 'x0':
      return copyInto(output, out);
    case 'eps':
      return x0FromEps(xt, output, alphaBar, out);
    case 'v':
      return x0FromV(xt, output, alphaBar, out);
  }
}

function copyInto(a: Vec, out: Float64Array = new Float64Array(a.length)): Float64Array {
  for (let i = 0; i < a.length; i++) out[i] = a[i]!;
  return out;
}
