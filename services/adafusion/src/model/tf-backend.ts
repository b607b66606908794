/**
 * The one place the tfjs backend is chosen: the wasm backend (XNNPACK, SIMD), single-threaded in
 * Node (no SharedArrayBuffer workers), so every run executes the same kernels in the same order
 * and a fit is bit-for-bit reproducible. `tfjs-node` is not used (its install downloads
 * libtensorflow, see DESIGN.md).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';

let ready: Promise<typeof tf> | undefined;

export function tfReady(): Promise<typeof tf> {
  ready ??= (async () => {
    if (tf.getBackend() !== 'wasm') {
      const ok = await tf.setBackend('wasm');
      if (!ok) throw new WeightsmithError(ErrorCode.Internal, 'the tfjs wasm backend could not be initialised');
    }
    await tf.ready();
    return tf;
  })();
  return ready;
}

export { tf };
