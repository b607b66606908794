/**
 * The sampler's `Denoise` callback over a bundle's denoiser loaded into an InferencePool, so
 * every step runs on a worker thread, never on the event loop. Maps the contract's input and
 * output names and the timestep dtype declared in bundle.json.
 *
 * `padSingleRows` is for denoisers whose rows are batch-invariant only from two rows on (see
 * batch-invariance.ts): a single row is then run padded with a copy of itself, so a request gives
 * the same bytes alone or inside a dynamic batch.
 */
import type { InferencePool, PoolModel, TensorMap } from '@weightsmith/onnx';
import { invalidFormat } from '@weightsmith/core';
import type { BundleManifest } from '../bundle/index.js';
import type { Denoise } from '../diffusion/index.js';

export interface PoolDenoiserOptions {
  signal?: AbortSignal;
  /** Run a lone row as two copies of itself (default false). */
  padSingleRows?: boolean;
}

export function poolDenoiser(pool: InferencePool, model: PoolModel, manifest: BundleManifest, opts: PoolDenoiserOptions = {}): Denoise {
  const d = manifest.denoiser;
  const P = d.parameterCount;
  const E = d.condDim;
  const runOptions = opts.signal ? { signal: opts.signal } : {};
  return async (xIn, tIn, condIn) => {
    const single = opts.padSingleRows === true && tIn.length === 1;
    const x = single ? twice(xIn) : xIn;
    const t = single ? twice(tIn) : tIn;
    const cond = single ? twice(condIn) : condIn;
    const B = t.length;
    const feeds: TensorMap = {
      [d.inputs.x]: { dtype: 'float32', dims: [B, P], data: x },
      [d.inputs.t]:
        d.inputs.tDtype === 'int64'
          ? { dtype: 'int64', dims: [B], data: BigInt64Array.from(t, (v) => BigInt(Math.round(v))) }
          : { dtype: 'float32', dims: [B], data: t },
      [d.inputs.cond]: { dtype: 'float32', dims: [B, E], data: cond },
    };
    const out = (await pool.run(model, feeds, [d.output], runOptions))[d.output];
    if (out === undefined || out.dtype !== 'float32') {
      throw invalidFormat(`denoiser of bundle "${manifest.name}" returned ${out === undefined ? 'no' : out.dtype} output "${d.output}"; expected float32 [${B}, ${P}]`, 'denoiser');
    }
    return single ? out.data.subarray(0, P) : out.data;
  };
}

function twice(row: Float32Array): Float32Array {
  const out = new Float32Array(2 * row.length);
  out.set(row, 0);
  out.set(row, row.length);
  return out;
}
