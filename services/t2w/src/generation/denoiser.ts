/**
 * The sampler's `Denoise` callback over a bundle's denoiser loaded into an InferencePool, so
 * every step runs on a worker thread, never on the event loop. Maps the contract's input and
 * output names and the timestep dtype declared in bundle.json.
 */
import type { InferencePool, PoolModel, TensorMap } from '@weightsmith/onnx';
import { invalidFormat } from '@weightsmith/core';
import type { BundleManifest } from '../bundle/index.js';
import type { Denoise } from '../diffusion/index.js';

export function poolDenoiser(pool: InferencePool, model: PoolModel, manifest: BundleManifest, opts: { signal?: AbortSignal } = {}): Denoise {
  const d = manifest.denoiser;
  const P = d.parameterCount;
  const E = d.condDim;
  return async (x, t, cond) => {
    const B = t.length;
    const feeds: TensorMap = {
      [d.inputs.x]: { dtype: 'float32', dims: [B, P], data: x },
      [d.inputs.t]:
        d.inputs.tDtype === 'int64'
          ? { dtype: 'int64', dims: [B], data: BigInt64Array.from(t, (v) => BigInt(Math.round(v))) }
          : { dtype: 'float32', dims: [B], data: t },
      [d.inputs.cond]: { dtype: 'float32', dims: [B, E], data: cond },
    };
    const out = (await pool.run(model, feeds, [d.output], opts.signal ? { signal: opts.signal } : {}))[d.output];
    if (out === undefined || out.dtype !== 'float32') {
      throw invalidFormat(`denoiser of bundle "${manifest.name}" returned ${out === undefined ? 'no' : out.dtype} output "${d.output}"; expected float32 [${B}, ${P}]`, 'denoiser');
    }
    return out.data;
  };
}
