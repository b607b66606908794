/**
 * Whether a denoiser's rows are batch-invariant — a row's output bits the same whatever other
 * rows share its call — checked on the loaded model, on this machine, when a bundle is loaded.
 * Dynamic batching relies on it to give a request the same bytes batched or alone.
 *
 * The answer is a property of the graph and the runtime's kernels, not of the values: it changes
 * with the shapes a product sees (onnxruntime's batched MatMul rounds differently when each
 * matrix has a single row), not with the numbers. So one probe with fixed random rows in a few
 * batch sizes and positions tells the three cases apart:
 *
 *   'any'              every batch, one row included (graphs from denoiser-graph.ts)
 *   'two-or-more-rows' every batch of two or more rows: a lone row is run padded to two
 *                      (e.g. per-block batched MatMuls without denoiser-graph.ts's spare row)
 *   'none'             rows influence each other (e.g. a batch statistic in the graph):
 *                      such a bundle is served without dynamic batching
 */
import { Rng } from '@weightsmith/tensor';
import type { Denoise } from '../diffusion/index.js';

export type BatchInvariance = 'any' | 'two-or-more-rows' | 'none';

/** Probe rows; batches are drawn from them (row indices), the first one is the reference. */
const PROBE_ROWS = 9;
const SINGLE_ROWS = [[0], [4]];
const MULTI_ROWS = [[0, 1], [1, 0], [2, 4, 0], [3, 4, 5, 6, 7, 8, 1, 2, 0], Array.from({ length: 33 }, (_, i) => i % PROBE_ROWS)];

/** `run` must call the denoiser unpadded with the rows it is given. */
export async function probeBatchInvariance(run: Denoise, dims: { P: number; E: number; timesteps: number }): Promise<BatchInvariance> {
  const { P, E, timesteps } = dims;
  const rng = new Rng(0x7277).fork('batch-invariance-probe');
  const X = rng.normalArray(PROBE_ROWS * P);
  const C = rng.normalArray(PROBE_ROWS * E);
  const T = Float32Array.from({ length: PROBE_ROWS }, (_, i) => Math.round(((i + 0.5) / PROBE_ROWS) * (timesteps - 1)));
  const call = (rows: number[]): Promise<Float32Array> => {
    const x = new Float32Array(rows.length * P);
    const c = new Float32Array(rows.length * E);
    const t = new Float32Array(rows.length);
    rows.forEach((r, b) => {
      x.set(X.subarray(r * P, (r + 1) * P), b * P);
      c.set(C.subarray(r * E, (r + 1) * E), b * E);
      t[b] = T[r]!;
    });
    return run(x, t, c);
  };
  const reference = await call(Array.from({ length: PROBE_ROWS }, (_, i) => i));
  const agrees = async (rows: number[]): Promise<boolean> => {
    const out = await call(rows);
    return rows.every((r, b) => sameBits(out.subarray(b * P, (b + 1) * P), reference.subarray(r * P, (r + 1) * P)));
  };
  for (const rows of MULTI_ROWS) if (!(await agrees(rows))) return 'none';
  for (const rows of SINGLE_ROWS) if (!(await agrees(rows))) return 'two-or-more-rows';
  return 'any';
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
