import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { Rng } from '@weightsmith/tensor';
import { buildDenoiserGraph } from '../src/bundle/denoiser-graph.js';
import { randomDenoiserWeights, type DenoiserConfig } from '../src/bundle/denoiser-weights.js';
import { mlpCosineHeadLayout } from '../src/bundle/bundle-schema.js';
import { referenceDenoiserRow } from './bundle-reference-denoiser.js';

// f=16, h=8, e=12: P = 128 + 8 + 96 + 12 = 244, not a multiple of blockSize 40; short last
// blocks in every tensor (128 = 3·40 + 8, 96 = 2·40 + 16).
const config: DenoiserConfig = {
  layout: mlpCosineHeadLayout(16, 8, 12),
  blockSize: 40,
  width: 24,
  layers: 2,
  heads: 3,
  condDim: 10,
};

async function runGraph(bytes: Uint8Array, x: Float32Array, t: Float32Array | BigInt64Array, cond: Float32Array, B: number, P: number, E: number, out = 'x0', threads = 1) {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, graphOptimizationLevel: 'all' });
  try {
    const tTensor = t instanceof BigInt64Array ? new ort.Tensor('int64', t, [B]) : new ort.Tensor('float32', t, [B]);
    const res = await session.run({ x: new ort.Tensor('float32', x, [B, P]), t: tTensor, cond: new ort.Tensor('float32', cond, [B, E]) });
    const y = res[out]!;
    return { dims: [...y.dims], data: y.data as Float32Array };
  } finally {
    await session.release();
  }
}

function inputs(B: number, P: number, E: number, seed: number) {
  const rng = new Rng(seed);
  const x = rng.uniformF32Array(B * P, -2, 2);
  const t = Float32Array.from({ length: B }, () => rng.int(1000));
  const cond = rng.uniformF32Array(B * E, -1, 1);
  return { x, t, cond };
}

describe('denoiser graph vs float64 reference', () => {
  const weights = randomDenoiserWeights(config, 7);
  const P = weights.config.paramCount;
  const E = config.condDim;
  const bytes = buildDenoiserGraph(weights);

  test('P is not a multiple of blockSize and the plan has short blocks', () => {
    assert.equal(P, 244);
    assert.deepEqual(weights.config.blocks.map((b) => b.length), [40, 40, 40, 8, 8, 40, 40, 16, 12]);
  });

  for (const B of [1, 3]) {
    test(`B = ${B}: every output within 1e-4 of the reference`, async () => {
      const { x, t, cond } = inputs(B, P, E, 100 + B);
      const y = await runGraph(bytes, x, t, cond, B, P, E);
      assert.deepEqual(y.dims, [B, P]);
      let maxErr = 0;
      let maxAbs = 0;
      for (let r = 0; r < B; r++) {
        const ref = referenceDenoiserRow(weights, x.subarray(r * P, (r + 1) * P), t[r]!, cond.subarray(r * E, (r + 1) * E));
        for (let i = 0; i < P; i++) {
          maxErr = Math.max(maxErr, Math.abs(y.data[r * P + i]! - ref[i]!));
          maxAbs = Math.max(maxAbs, Math.abs(ref[i]!));
        }
      }
      assert.ok(maxErr <= 1e-4, `max abs error ${maxErr}`);
      // O(1) outputs, not all zeros: the comparison means something.
      assert.ok(maxAbs > 0.1 && maxAbs < 20, `max |output| ${maxAbs}`);
    });
  }

  test('batch invariance: row r of a batch is bit for bit the same row run alone (fused and portable attention, 1 and 2 threads)', async () => {
    const B = 5;
    const { x, t, cond } = inputs(B, P, E, 55);
    const portable = buildDenoiserGraph(weights, { attention: 'portable' });
    for (const [graph, threads] of [[bytes, 1], [bytes, 2], [portable, 1], [portable, 2]] as const) {
      const batched = await runGraph(graph, x, t, cond, B, P, E, 'x0', threads);
      for (let r = 0; r < B; r++) {
        const alone = await runGraph(graph, x.slice(r * P, (r + 1) * P), t.slice(r, r + 1), cond.slice(r * E, (r + 1) * E), 1, P, E, 'x0', threads);
        const row = batched.data.subarray(r * P, (r + 1) * P);
        assert.ok(Buffer.from(row.buffer, row.byteOffset, row.byteLength).equals(Buffer.from(alone.data.buffer, alone.data.byteOffset, alone.data.byteLength)), `row ${r}, ${threads} thread(s)`);
      }
    }
  });

  test('the portable graph (standard ONNX ops only) computes the same function within 1e-4', async () => {
    const portable = buildDenoiserGraph(weights, { attention: 'portable' });
    const B = 3;
    const { x, t, cond } = inputs(B, P, E, 21);
    const [a, b] = await Promise.all([runGraph(bytes, x, t, cond, B, P, E), runGraph(portable, x, t, cond, B, P, E)]);
    for (let i = 0; i < B * P; i++) assert.ok(Math.abs(a.data[i]! - b.data[i]!) <= 1e-4, `value ${i}`);
  });

  test('int64 timesteps give the same output as float timesteps', async () => {
    const w64 = randomDenoiserWeights({ ...config, timestepDtype: 'int64', outputName: 'eps' }, 7);
    const bytes64 = buildDenoiserGraph(w64);
    const B = 2;
    const { x, t, cond } = inputs(B, P, E, 9);
    const yf = await runGraph(bytes, x, t, cond, B, P, E);
    const yi = await runGraph(bytes64, x, BigInt64Array.from(t, (v) => BigInt(v)), cond, B, P, E, 'eps');
    for (let i = 0; i < B * P; i++) assert.ok(Math.abs(yf.data[i]! - yi.data[i]!) <= 1e-6);
  });

  test('every parameter value influences the output of its own block (no slot lost in the gathers)', async () => {
    // The last value of each block sits next to the padding: a gather or scatter index off by
    // one there would drop it from the graph, and changing it would leave the output unchanged.
    const { x, t, cond } = inputs(1, P, E, 3);
    const base = await runGraph(bytes, x, t, cond, 1, P, E);
    for (const b of weights.config.blocks) {
      const last = b.start + b.length - 1;
      const x2 = x.slice();
      x2[last] = x2[last]! + 1;
      const ref = referenceDenoiserRow(weights, x2, t[0]!, cond);
      const y = await runGraph(bytes, x2, t, cond, 1, P, E);
      let moved = 0;
      for (let i = 0; i < P; i++) {
        assert.ok(Math.abs(y.data[i]! - ref[i]!) <= 1e-4);
        moved = Math.max(moved, Math.abs(y.data[i]! - base.data[i]!));
      }
      assert.ok(moved > 1e-3, `changing x[${last}] (last value of a block of ${b.tensor}) changed nothing`);
    }
  });
});
