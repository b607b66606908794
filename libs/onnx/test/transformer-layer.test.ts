import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { isWeightsmithError } from '@weightsmith/core';
import { GraphBuilder, onnx, preLnEncoderLayer, type PreLnLayerWeights } from '@weightsmith/onnx';
import { maxAbsDiff, randomArray, refPreLnLayer, seededRandom } from './reference.js';

const [B, T, W, H, hidden] = [3, 6, 16, 4, 40];

function layerWeights(seed: number): PreLnLayerWeights {
  const rand = seededRandom(seed);
  const m = (rows: number, cols: number, scale: number): Float32Array => randomArray(rand, rows * cols, scale);
  return {
    ln1Scale: randomArray(rand, W, 0.5).map((v) => 1 + v), ln1Bias: m(1, W, 0.2),
    // q and k large enough that attention is peaked: a wrong head split or mask would show.
    qWeight: m(W, W, 0.8), qBias: m(1, W, 0.1), kWeight: m(W, W, 0.8), kBias: m(1, W, 0.1),
    vWeight: m(W, W, 0.4), vBias: m(1, W, 0.1), outWeight: m(W, W, 0.4), outBias: m(1, W, 0.1),
    ln2Scale: randomArray(rand, W, 0.5).map((v) => 1 + v), ln2Bias: m(1, W, 0.2),
    fc1Weight: m(W, hidden, 0.5), fc1Bias: m(1, hidden, 0.3), fc2Weight: m(hidden, W, 0.3), fc2Bias: m(1, W, 0.1),
  };
}

function layerModel(w: PreLnLayerWeights, o: { attention: 'fused' | 'portable'; causal: boolean; activation: 'gelu' | 'quick_gelu' }): Uint8Array {
  const g = new GraphBuilder({ name: 'layer', opset: 17 });
  const x = g.input('x', 'float32', ['batch', 'seq', W]);
  const y = preLnEncoderLayer(g, x, w, { heads: H, epsilon: 1e-5, prefix: 'layers.0', ...o });
  g.output('y', 'float32', ['batch', 'seq', W], { from: y });
  return g.toModelBytes();
}

async function run(bytes: Uint8Array, x: Float32Array, batch: number, seq: number): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const out = await s.run({ x: new ort.Tensor('float32', x, [batch, seq, W]) });
    return out['y']!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('preLnEncoderLayer', () => {
  const w = layerWeights(3);
  const x = randomArray(seededRandom(9), B * T * W, 1.5);
  for (const attention of ['fused', 'portable'] as const) {
    for (const [causal, activation] of [[false, 'gelu'], [true, 'quick_gelu']] as const) {
      test(`${attention} attention, ${causal ? 'causal' : 'bidirectional'}, ${activation}: within 1e-4 of a float64 reference`, async () => {
        const y = await run(layerModel(w, { attention, causal, activation }), x, B, T);
        const ref = refPreLnLayer(x, B, T, w, { heads: H, activation, causal, eps: 1e-5 });
        const diff = maxAbsDiff(y, ref);
        assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
        // The mask matters for these weights: the unmasked reference is far from the masked one.
        const other = refPreLnLayer(x, B, T, w, { heads: H, activation, causal: !causal, eps: 1e-5 });
        assert.ok(maxAbsDiff(ref, other) > 1e-2);
      });
    }
  }

  test('the fused form has no Transpose; the portable form has no contrib operator', () => {
    const ops = (bytes: Uint8Array) => onnx.ModelProto.decode(bytes).graph!.node!.map((n) => `${n.domain ?? ''}:${n.opType}`);
    const fused = ops(layerModel(w, { attention: 'fused', causal: true, activation: 'gelu' }));
    assert.ok(fused.includes('com.microsoft:Attention'));
    assert.ok(!fused.some((o) => o.endsWith(':Transpose')));
    const portable = ops(layerModel(w, { attention: 'portable', causal: true, activation: 'gelu' }));
    assert.ok(portable.every((o) => o.startsWith(':')), portable.join(' '));
  });

  test('a causal layer gives each prefix the same output whatever follows it', async () => {
    const bytes = layerModel(w, { attention: 'fused', causal: true, activation: 'quick_gelu' });
    const full = await run(bytes, x, B, T);
    const prefix = new Float32Array(B * 4 * W);
    for (let b = 0; b < B; b++) prefix.set(x.subarray(b * T * W, (b * T + 4) * W), b * 4 * W);
    const short = await run(bytes, prefix, B, 4);
    for (let b = 0; b < B; b++) {
      assert.ok(maxAbsDiff(short.subarray(b * 4 * W, (b + 1) * 4 * W), full.subarray(b * T * W, (b * T + 4) * W)) <= 1e-6);
    }
  });

  test('weights of the wrong size are refused naming the tensor; heads must divide the width', () => {
    const g = new GraphBuilder({ opset: 17 });
    const x = g.input('x', 'float32', ['batch', 'seq', W]);
    const bad = { ...w, kWeight: w.kWeight.subarray(1) };
    assert.throws(() => preLnEncoderLayer(g, x, bad, { heads: H, epsilon: 1e-5, prefix: 'l0', activation: 'gelu' }), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'l0.kWeight' && /255 values, expected 256/.test(e.message));
    assert.throws(() => preLnEncoderLayer(g, x, w, { heads: 3, epsilon: 1e-5, prefix: 'l0', activation: 'gelu' }), (e) => isWeightsmithError(e, 'invalid_input') && e.field === 'l0.heads');
  });
});
