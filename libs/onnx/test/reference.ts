/**
 * Plain-TS reference maths for the tests (float64 accumulation, written straight from the
 * definitions), plus a small seeded RNG so the fixtures are the same on every run.
 */

/** mulberry32: 32-bit state, deterministic across machines. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-scale, scale). */
export function randomArray(rand: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rand() * 2 - 1) * scale;
  return out;
}

/** C[m×n] = A[m×k]·B[k×n], row-major. */
export function refMatMul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (a[i * k + p] as number) * (b[p * n + j] as number);
      c[i * n + j] = s;
    }
  }
  return c;
}

/** Adds a length-n bias to every row of a rows×n matrix. */
export function addRowBias(x: Float64Array, bias: ArrayLike<number>, n: number): Float64Array {
  return x.map((v, i) => v + (bias[i % n] as number));
}

/**
 * erf by its Maclaurin series for |x| < 3 and the asymptotic continued fraction of erfc beyond;
 * both are far more accurate (≪ 1e-9) than the 1e-4 the tests need.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …))))
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** LayerNorm over the last axis of a rows×n matrix (biased variance, as ONNX/PyTorch). */
export function refLayerNorm(x: ArrayLike<number>, scale: ArrayLike<number>, bias: ArrayLike<number>, rows: number, n: number, eps: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < n; j++) mean += x[r * n + j] as number;
    mean /= n;
    let v = 0;
    for (let j = 0; j < n; j++) v += ((x[r * n + j] as number) - mean) ** 2;
    v /= n;
    const inv = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < n; j++) out[r * n + j] = ((x[r * n + j] as number) - mean) * inv * (scale[j] as number) + (bias[j] as number);
  }
  return out;
}

/** Softmax of each length-n row, in place. */
export function softmaxRows(x: Float64Array, n: number): Float64Array {
  for (let r = 0; r < x.length / n; r++) {
    let max = -Infinity;
    for (let j = 0; j < n; j++) max = Math.max(max, x[r * n + j] as number);
    let s = 0;
    for (let j = 0; j < n; j++) {
      const e = Math.exp((x[r * n + j] as number) - max);
      x[r * n + j] = e;
      s += e;
    }
    for (let j = 0; j < n; j++) x[r * n + j] = (x[r * n + j] as number) / s;
  }
  return x;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

export interface RefLayerWeights {
  ln1Scale: ArrayLike<number>; ln1Bias: ArrayLike<number>;
  qWeight: ArrayLike<number>; qBias: ArrayLike<number>; kWeight: ArrayLike<number>; kBias: ArrayLike<number>;
  vWeight: ArrayLike<number>; vBias: ArrayLike<number>; outWeight: ArrayLike<number>; outBias: ArrayLike<number>;
  ln2Scale: ArrayLike<number>; ln2Bias: ArrayLike<number>;
  fc1Weight: ArrayLike<number>; fc1Bias: ArrayLike<number>; fc2Weight: ArrayLike<number>; fc2Bias: ArrayLike<number>;
}

/**
 * One pre-LN encoder layer in float64 on x [B, T, W] (weights [in, out]):
 * x + out(attn(LN1 x)), then + fc2(act(fc1(LN2 ·))); causal masks keys after the query.
 */
export function refPreLnLayer(
  x: ArrayLike<number>, B: number, T: number, w: RefLayerWeights,
  o: { heads: number; activation: 'gelu' | 'quick_gelu'; causal: boolean; eps: number },
): Float64Array {
  const W = w.ln1Scale.length;
  const hidden = w.fc1Bias.length;
  const D = W / o.heads;
  const act = o.activation === 'gelu' ? gelu : (v: number) => v / (1 + Math.exp(-1.702 * v));
  const out = new Float64Array(B * T * W);
  for (let b = 0; b < B; b++) {
    const xb = Float64Array.from({ length: T * W }, (_, i) => x[b * T * W + i] as number);
    const a = refLayerNorm(xb, w.ln1Scale, w.ln1Bias, T, W, o.eps);
    const q = addRowBias(refMatMul(a, w.qWeight, T, W, W), w.qBias, W);
    const k = addRowBias(refMatMul(a, w.kWeight, T, W, W), w.kBias, W);
    const v = addRowBias(refMatMul(a, w.vWeight, T, W, W), w.vBias, W);
    const ctx = new Float64Array(T * W);
    for (let h = 0; h < o.heads; h++) {
      for (let i = 0; i < T; i++) {
        const keys = o.causal ? i + 1 : T;
        const p = new Float64Array(keys);
        for (let j = 0; j < keys; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += (q[i * W + h * D + d] as number) * (k[j * W + h * D + d] as number);
          p[j] = s / Math.sqrt(D);
        }
        softmaxRows(p, keys);
        for (let d = 0; d < D; d++) {
          let s = 0;
          for (let j = 0; j < keys; j++) s += (p[j] as number) * (v[j * W + h * D + d] as number);
          ctx[i * W + h * D + d] = s;
        }
      }
    }
    const attn = addRowBias(refMatMul(ctx, w.outWeight, T, W, W), w.outBias, W);
    const h1 = xb.map((val, i) => val + (attn[i] as number));
    const m = refLayerNorm(h1, w.ln2Scale, w.ln2Bias, T, W, o.eps);
    const up = addRowBias(refMatMul(m, w.fc1Weight, T, W, hidden), w.fc1Bias, hidden).map(act);
    const down = addRowBias(refMatMul(up, w.fc2Weight, T, hidden, W), w.fc2Bias, W);
    for (let i = 0; i < T * W; i++) out[b * T * W + i] = (h1[i] as number) + (down[i] as number);
  }
  return out;
}
