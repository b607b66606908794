/** Small models for the session-cache and pool tests, built with the project's GraphBuilder. */
import { GraphBuilder } from '@weightsmith/onnx';
import { randomArray, seededRandom } from './reference.js';

/** y = x·scale + offset, float32 [batch, 3]. */
export function affineModel(scale: number, offset: number): Uint8Array {
  const g = new GraphBuilder({ name: `affine_${scale}_${offset}` });
  const x = g.input('x', 'float32', ['batch', 3]);
  g.output('y', 'float32', ['batch', 3], { from: g.add(g.mul(x, g.scalar(scale)), g.scalar(offset)) });
  return g.toModelBytes();
}

/** Two inputs, two outputs: sum = a+b (float32 [n]), idx = argmax(a) (int64 []). */
export function twoOutputModel(): Uint8Array {
  const g = new GraphBuilder({ name: 'two_outputs' });
  const a = g.input('a', 'float32', ['n']);
  const b = g.input('b', 'float32', ['n']);
  g.output('sum', 'float32', ['n'], { from: g.add(a, b) });
  g.output('idx', 'int64', [], { from: g.argMax(a, 0, false) });
  return g.toModelBytes();
}

/**
 * x[n,n] → (MatMul W → Tanh) × layers: a deliberately slow model (≈ 2n³·layers FLOPs). W has
 * variance 1/n so activations stay O(1) and never reach denormals.
 */
export function matmulChainModel(n: number, layers: number): Uint8Array {
  const g = new GraphBuilder({ name: `chain_${n}x${layers}` });
  let h = g.input('x', 'float32', [n, n]);
  const w = g.initializer('w', randomArray(seededRandom(5), n * n, Math.sqrt(3 / n)), [n, n]);
  for (let i = 0; i < layers; i++) h = g.tanh(g.matMul(h, w));
  g.output('y', 'float32', [n, n], { from: h });
  return g.toModelBytes();
}
