import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { isWeightsmithError } from '@weightsmith/core';
import { GraphBuilder, onnx } from '@weightsmith/onnx';
import { addRowBias, gelu, maxAbsDiff, randomArray, refMatMul, seededRandom } from './reference.js';

async function runModel(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return (await session.run(feeds)) as Record<string, ort.Tensor>;
  } finally {
    await session.release();
  }
}

function f32(t: ort.Tensor | undefined): Float32Array {
  assert.ok(t, 'missing output');
  assert.equal(t.type, 'float32');
  return t.data as Float32Array;
}

describe('GraphBuilder models run in onnxruntime and match a TS reference', () => {
  test('2-layer MLP: Gemm, exact-erf GELU, MatMul + Add', async () => {
    const rand = seededRandom(11);
    const [batch, din, hidden, dout] = [5, 8, 16, 4];
    const w1 = randomArray(rand, din * hidden, 0.5);
    const b1 = randomArray(rand, hidden, 0.5);
    const w2 = randomArray(rand, hidden * dout, 0.5);
    const b2 = randomArray(rand, dout, 0.5);
    const x = randomArray(rand, batch * din, 2);

    const g = new GraphBuilder({ name: 'mlp' });
    const xin = g.input('x', 'float32', ['batch', din]);
    const h = g.gelu(g.gemm(xin, g.initializer('w1', w1, [din, hidden]), g.initializer('b1', b1, [hidden])));
    const y = g.add(g.matMul(h, g.initializer('w2', w2, [hidden, dout])), g.initializer('b2', b2, [dout]));
    g.output('y', 'float32', ['batch', dout], { from: y });
    const out = await runModel(g.toModelBytes(), { x: new ort.Tensor('float32', x, [batch, din]) });

    const hRef = addRowBias(refMatMul(x, w1, batch, din, hidden), b1, hidden).map(gelu);
    const yRef = addRowBias(refMatMul(hRef, w2, batch, hidden, dout), b2, dout);
    assert.deepEqual(out['y']?.dims, [batch, dout]);
    const diff = maxAbsDiff(f32(out['y']), yRef);
    assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
    // The hidden layer reaches the negative tail, where erf-GELU and tanh-GELU differ most.
    assert.ok(hRef.some((v) => v < -0.05));
  });

  test('Gather, Slice and Concat (embedding lookup, crop, join)', async () => {
    // Embedding table row r = [10r, 10r+1, 10r+2].
    const table = Float32Array.from({ length: 4 * 3 }, (_, i) => 10 * Math.floor(i / 3) + (i % 3));
    const g = new GraphBuilder();
    const ids = g.input('ids', 'int64', ['batch', 'seq']);
    const emb = g.gather(g.initializer('table', table, [4, 3]), ids, 0); // [B,S,3]
    const firstTwoCols = g.slice(emb, [0], [2], [2]); // [B,S,2]
    const lastToken = g.slice(emb, [-1], [Number.MAX_SAFE_INTEGER], [1]); // [B,1,3]
    const everyOther = g.slice(emb, [0], [Number.MAX_SAFE_INTEGER], [1], [2]); // [B,ceil(S/2),3]
    const joined = g.concat([emb, lastToken], 1); // [B,S+1,3]
    const cols = g.gather(emb, g.constant(BigInt64Array.of(2n, 0n), [2]), 2); // [B,S,2], columns 2 then 0
    g.output(firstTwoCols, 'float32', ['batch', 'seq', 2]);
    g.output(joined, 'float32', ['batch', 'seq_plus_1', 3]);
    g.output(everyOther, 'float32', ['batch', 'half', 3]);
    g.output('cols', 'float32', ['batch', 'seq', 2], { from: cols });
    const out = await runModel(g.toModelBytes(), { ids: new ort.Tensor('int64', BigInt64Array.of(3n, 0n, 2n, 1n, 1n, 3n), [2, 3]) });

    assert.deepEqual(out[firstTwoCols]?.dims, [2, 3, 2]);
    assert.deepEqual(Array.from(f32(out[firstTwoCols])), [30, 31, 0, 1, 20, 21, 10, 11, 10, 11, 30, 31]);
    assert.deepEqual(out[joined]?.dims, [2, 4, 3]);
    assert.deepEqual(Array.from(f32(out[joined])), [30, 31, 32, 0, 1, 2, 20, 21, 22, 20, 21, 22, 10, 11, 12, 10, 11, 12, 30, 31, 32, 30, 31, 32]);
    assert.deepEqual(out[everyOther]?.dims, [2, 2, 3]);
    assert.deepEqual(Array.from(f32(out[everyOther])), [30, 31, 32, 20, 21, 22, 10, 11, 12, 30, 31, 32]);
    assert.deepEqual(Array.from(f32(out['cols'])), [32, 30, 2, 0, 22, 20, 12, 10, 12, 10, 32, 30]);
  });

  test('ArgMax, Cast, Unsqueeze, Squeeze, ReduceMean, Shape, QuickGELU', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2, 3]);
    const idx = g.argMax(x, 1, false); // int64 [2]
    g.output(g.cast(idx, 'float32'), 'float32', [2]);
    g.output(g.unsqueeze(idx, [0, 2]), 'int64', [1, 2, 1]);
    g.output(g.squeeze(g.unsqueeze(x, [0]), [0]), 'float32', [2, 3]);
    g.output(g.reduceMean(x, [1], true), 'float32', [2, 1]);
    g.output(g.shape(x), 'int64', [2]);
    g.output(g.quickGelu(x), 'float32', [2, 3]);
    const xs = Float32Array.of(1, 5, 2, -1, -3, -2);
    const model = g.toModelBytes();
    const out = await runModel(model, { x: new ort.Tensor('float32', xs, [2, 3]) });
    const names = onnx.ModelProto.decode(model).graph?.output?.map((o) => o.name ?? '') ?? [];
    const [castOut, unsq, sq, mean, shape, qg] = names.map((n) => out[n]);
    assert.deepEqual(Array.from(f32(castOut)), [1, 0]);
    assert.deepEqual(unsq?.dims, [1, 2, 1]);
    assert.deepEqual(Array.from(unsq?.data as BigInt64Array), [1n, 0n]);
    assert.deepEqual(Array.from(f32(sq)), Array.from(xs));
    assert.deepEqual(Array.from(f32(mean)), [8 / 3, -2].map(Math.fround));
    assert.deepEqual(Array.from(shape?.data as BigInt64Array), [2n, 3n]);
    const qgRef = Array.from(xs, (v) => v / (1 + Math.exp(-1.702 * v)));
    assert.ok(maxAbsDiff(f32(qg), qgRef) <= 1e-6);
  });

  test('opset 13 graph: ReduceMean with axes attribute, Unsqueeze with axes input', async () => {
    const g = new GraphBuilder({ opset: 13 });
    const x = g.input('x', 'float32', [2, 2]);
    g.output(g.unsqueeze(g.reduceMean(x, [0], false), [1]), 'float32', [2, 1]);
    const model = g.toModelBytes();
    const decoded = onnx.ModelProto.decode(model);
    assert.equal(Number(decoded.irVersion), 7);
    const out = await runModel(model, { x: new ort.Tensor('float32', Float32Array.of(1, 2, 3, 6), [2, 2]) });
    const [only] = Object.values(out);
    assert.deepEqual(Array.from(f32(only)), [2, 4]);
    assert.throws(() => g.layerNorm(x, x, x), (e) => isWeightsmithError(e, 'invalid_input') && /opset 17/.test(e.message));
  });
});

describe('GraphBuilder serialisation', () => {
  test('writes IR version, opsets, typed attributes, raw little-endian initializers, symbolic dims', () => {
    const g = new GraphBuilder({ name: 'g', producer: 'test-producer' });
    const a = g.input('a', 'float32', ['batch', 4]);
    const w = g.initializer('w', Float32Array.of(1.5, -2), [2, 1]);
    g.initializer('ids', BigInt64Array.of(-1n, 2n ** 40n), [2]);
    g.node('CustomOp', [a], { domain: 'com.example', attrs: { alpha: 1, axis: -1, mode: 'x', ks: [1, 2], fs: [0.5, 1] } });
    g.useDomain('com.microsoft', 1);
    const y = g.gemm(a, w, undefined, { transB: true, alpha: 2 });
    g.output(y, 'float32', ['batch', 2]);
    g.setMetadata('seed', '42');
    const m = onnx.ModelProto.decode(g.toModelBytes());

    assert.equal(Number(m.irVersion), 8);
    assert.equal(m.producerName, 'test-producer');
    assert.deepEqual(m.opsetImport.map((o) => [o.domain, Number(o.version)]), [['', 17], ['com.example', 1], ['com.microsoft', 1]]);
    assert.deepEqual(m.metadataProps.map((p) => [p.key, p.value]), [['seed', '42']]);
    const T = onnx.AttributeProto.AttributeType;
    const custom = m.graph?.node?.[0];
    assert.equal(custom?.domain, 'com.example');
    const attr = Object.fromEntries((custom?.attribute ?? []).map((x) => [x.name, x]));
    assert.equal(attr['alpha']?.type, T.FLOAT); // a float attribute even when written as 1
    assert.equal(attr['alpha']?.f, 1);
    assert.equal(attr['axis']?.type, T.INT);
    assert.equal(Number(attr['axis']?.i), -1);
    assert.equal(attr['mode']?.type, T.STRING);
    assert.equal(new TextDecoder().decode(attr['mode']?.s ?? undefined), 'x');
    assert.equal(attr['ks']?.type, T.INTS);
    assert.equal(attr['fs']?.type, T.FLOATS);
    const gemm = m.graph?.node?.[1];
    assert.equal(gemm?.opType, 'Gemm');
    assert.deepEqual(gemm?.attribute?.map((x) => [x.name, x.type]), [['transB', T.INT], ['alpha', T.FLOAT]]);

    const [wInit, idsInit] = m.graph?.initializer ?? [];
    assert.equal(wInit?.dataType, 1);
    // 1.5f = 0x3FC00000, -2f = 0xC0000000, little-endian.
    assert.deepEqual(Array.from(wInit?.rawData ?? []), [0, 0, 0xc0, 0x3f, 0, 0, 0, 0xc0]);
    assert.equal(idsInit?.dataType, 7);
    assert.deepEqual(Array.from(idsInit?.rawData ?? []), [255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 1, 0, 0]);
    const dims = m.graph?.input?.[0]?.type?.tensorType?.shape?.dim ?? [];
    assert.deepEqual(dims.map((d) => d.dimParam || Number(d.dimValue)), ['batch', 4]);
  });

  test('generated names are unique and never clash with explicit ones', () => {
    const g = new GraphBuilder();
    const x = g.input('add_0', 'float32', [1]);
    const a = g.add(x, x);
    const b = g.add(a, x);
    assert.notEqual(a, 'add_0');
    assert.notEqual(a, b);
    const c = g.node('Add', [a, b], { outputs: 2 });
    assert.equal(new Set([x, a, b, ...c]).size, 5);
    // Scalars are shared per (dtype, value).
    assert.equal(g.scalar(0.5), g.scalar(0.5));
    assert.notEqual(g.scalar(1), g.scalar(1, 'int64'));
    assert.throws(() => g.scalar(0.5, 'int64'), isWeightsmithError);
  });
});

describe('GraphBuilder validation', () => {
  const isInvalid = (field?: string) => (e: unknown) =>
    isWeightsmithError(e, 'invalid_input') && (field === undefined || e.field === field);

  test('a node reading an unknown value fails at build time, naming it', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    assert.throws(() => g.add(x, 'typo'), (e) => isInvalid()(e) && /'typo'/.test((e as Error).message) && /inputs\.1$/.test((e as { field: string }).field));
    // '' is ONNX's "omitted optional input" and is accepted.
    assert.doesNotThrow(() => g.node('Clip', [x, '', g.scalar(1)]));
  });

  test('duplicate names, bad outputs, bad shapes and bad options are rejected', () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    assert.throws(() => g.input('x', 'float32', [2]), isInvalid('input'));
    assert.throws(() => g.initializer('x', Float32Array.of(1), [1]), isInvalid('initializer'));
    assert.throws(() => g.node('Relu', [x], { outputs: ['x'] }), isInvalid('outputs'));
    assert.throws(() => g.node('Relu', [x], { outputs: 0 }), isInvalid('outputs'));
    g.node('Relu', [x], { name: 'r' });
    assert.throws(() => g.node('Relu', [x], { name: 'r' }), isInvalid('name'));
    assert.throws(() => g.node('not an op', [x]), isInvalid('opType'));
    assert.throws(() => g.output('nope', 'float32', [2]), isInvalid('output'));
    assert.throws(() => g.output('y', 'float32', [2], { from: 'nope' }), (e) => isInvalid('output')(e) && /'nope'/.test((e as Error).message));
    assert.throws(() => g.output(x, 'float32', [-1]), isInvalid('x'));
    assert.throws(() => g.input('y', 'float16' as never, [2]), isInvalid('y'));
    assert.throws(() => g.node('Relu', [x], { attrs: { k: { int: 2 ** 60 } } }), /integer/);
    assert.throws(() => g.slice(x, [0, 1], [1]), isInvalid('ends'));
    assert.throws(() => g.reshape(x, [1.5]), isInvalid('shape'));
    assert.throws(() => new GraphBuilder({ opset: 9 }), isInvalid('opset'));
    assert.throws(() => new GraphBuilder().toModelBytes(), isInvalid('outputs'));
    g.output(x, 'float32', [2]);
    assert.throws(() => g.output(x, 'float32', [2]), isInvalid('output'));
  });

  test('initializer data must match its dims', () => {
    const g = new GraphBuilder();
    assert.throws(
      () => g.initializer('w', new Float32Array(5), [2, 3]),
      (e) => isWeightsmithError(e, 'shape_mismatch') && e.field === 'w' && /5 elements/.test(e.message),
    );
    assert.throws(() => g.initializer('m', Uint8Array.of(0, 2), [2]), isInvalid('m'));
  });

  test('the initializer copies caller data (later writes do not change the model)', async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', [2]);
    const data = Float32Array.of(1, 2);
    g.output(g.add(x, g.initializer('b', data, [2])), 'float32', [2]);
    data[0] = 100;
    const out = await runModel(g.toModelBytes(), { x: new ort.Tensor('float32', Float32Array.of(0, 0), [2]) });
    assert.deepEqual(Array.from(f32(Object.values(out)[0])), [1, 2]);
  });
});
