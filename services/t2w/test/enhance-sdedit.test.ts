/**
 * The pieces under POST /v1/enhancements and /v1/fusions, on the fixture bundle with the real
 * encoder and denoiser: reading input weights against the layout (dtypes, shapes, extras,
 * non-finite values), SDEdit from given weights (tiny strength returns them; a real strength is
 * deterministic by seed), and the experts' average with and without hidden-unit alignment.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeightsmithError } from '@weightsmith/core';
import { InferencePool, type PoolModel } from '@weightsmith/onnx';
import { serializeSafetensors, type TensorToWrite } from '@weightsmith/safetensors';
import { Rng, f32ToBF16, f32ToF16 } from '@weightsmith/tensor';
import { ClipTextEncoder } from '@weightsmith/text';
import { loadBundle, writeFixtureBundle, type LoadedBundle } from '../src/bundle/index.js';
import {
  averageExperts,
  generate,
  layoutWeightsFromBytes,
  plainAverage,
  poolDenoiser,
  resolveStrength,
  sdeditStart,
  type GenerationRequest,
} from '../src/generation/index.js';

let tmp: string;
let bundle: LoadedBundle;
let encoder: ClipTextEncoder;
let pool: InferencePool;
let model: PoolModel;

// The fixture bundle's head: fc1.weight [8,16], fc1.bias [8], fc2.weight [16,8], fc2.bias [16].
const F = 16;
const H = 8;
const E = 16;
const P = H * F + H + E * H + E;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-enh-'));
  await writeFixtureBundle(join(tmp, 'plain'), { seed: 5 });
  bundle = await loadBundle({ dir: join(tmp, 'plain') });
  encoder = await ClipTextEncoder.fromFolder(bundle.textEncoderDir!);
  pool = new InferencePool({ threads: 1, intraOpNumThreads: 1 });
  model = await pool.load(bundle.denoiserBytes, { name: 'plain' });
});
after(async () => {
  await encoder.close();
  await pool.close();
  await rm(tmp, { recursive: true, force: true });
});

/** A head as the four tensors (layout order) and as the flat vector concatenating them. */
function randomHead(seed: number): { tensors: Float32Array[]; flat: Float32Array } {
  const rng = new Rng(seed);
  const tensors = [rng.normalArray(H * F, 0, 0.3), rng.normalArray(H, 0, 0.1), rng.normalArray(E * H, 0, 0.3), rng.normalArray(E, 0, 0.1)];
  const flat = new Float32Array(P);
  let o = 0;
  for (const t of tensors) {
    flat.set(t, o);
    o += t.length;
  }
  return { tensors, flat };
}

const NAMES = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'];
const SHAPES = [[H, F], [H], [E, H], [E]];

function headFile(tensors: Float32Array[], extra: TensorToWrite[] = []): Promise<Uint8Array> {
  return serializeSafetensors([...tensors.map((data, i) => ({ name: NAMES[i]!, dtype: 'F32' as const, shape: SHAPES[i]!, data })), ...extra]);
}

/** Hidden unit i of the result is unit perm[i] of `tensors` (fc1 rows, fc1 bias, fc2 columns), computed by index. */
function permuted(tensors: Float32Array[], perm: number[]): Float32Array[] {
  const [w1, b1, w2, b2] = tensors as [Float32Array, Float32Array, Float32Array, Float32Array];
  const pw1 = new Float32Array(H * F);
  const pb1 = new Float32Array(H);
  const pw2 = new Float32Array(E * H);
  perm.forEach((src, i) => {
    for (let k = 0; k < F; k++) pw1[i * F + k] = w1[src * F + k]!;
    pb1[i] = b1[src]!;
    for (let o = 0; o < E; o++) pw2[o * H + i] = w2[o * H + src]!;
  });
  return [pw1, pb1, pw2, b2.slice()];
}

const flatOf = (tensors: Float32Array[]): Float32Array => {
  const out = new Float32Array(P);
  let o = 0;
  for (const t of tensors) {
    out.set(t, o);
    o += t.length;
  }
  return out;
};

function rejects(field: string, code: string) {
  return (err: unknown): boolean => {
    assert.ok(isWeightsmithError(err), String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.field, field, err.message);
    return true;
  };
}

const layout = () => bundle.manifest.target.layout;

describe('reading input weights against the layout', () => {
  test('F32 tensors come back flat in layout order, whatever the file order; extra tensors are ignored', async () => {
    const { tensors, flat } = randomHead(1);
    // Written in reverse order, plus a tensor the layout does not know.
    const bytes = await serializeSafetensors([
      ...tensors.map((data, i) => ({ name: NAMES[i]!, dtype: 'F32' as const, shape: SHAPES[i]!, data })).reverse(),
      { name: 'backbone.conv.weight', dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) },
    ]);
    const got = await layoutWeightsFromBytes(bytes, layout(), 'body.weights');
    assert.deepEqual(got, flat);
  });

  test('F16 and BF16 tensors are widened to F32', async () => {
    // Values exactly representable in both half formats, so the widened values are known.
    const exact = [0.5, -1.25, 2, -0.125, 0.75, 3, -4, 0.0625];
    const vals = (n: number, shift: number): Float32Array => Float32Array.from({ length: n }, (_, i) => exact[(i + shift) % exact.length]!);
    const tensors = [vals(H * F, 0), vals(H, 1), vals(E * H, 2), vals(E, 3)];
    const bytes = await serializeSafetensors([
      { name: 'fc1.weight', dtype: 'F16', shape: [H, F], data: f32ToF16(tensors[0]!) },
      { name: 'fc1.bias', dtype: 'BF16', shape: [H], data: f32ToBF16(tensors[1]!) },
      { name: 'fc2.weight', dtype: 'F16', shape: [E, H], data: f32ToF16(tensors[2]!) },
      { name: 'fc2.bias', dtype: 'F32', shape: [E], data: tensors[3]! },
    ]);
    assert.deepEqual(await layoutWeightsFromBytes(bytes, layout(), 'body.weights'), flatOf(tensors));
  });

  test('a missing tensor, a wrong shape, a wrong dtype and a NaN are refused naming field and tensor', async () => {
    const { tensors } = randomHead(2);
    const missing = await serializeSafetensors(tensors.slice(0, 3).map((data, i) => ({ name: NAMES[i]!, dtype: 'F32' as const, shape: SHAPES[i]!, data })));
    await assert.rejects(layoutWeightsFromBytes(missing, layout(), 'body.weights'), rejects('body.weights.fc2.bias', 'shape_mismatch'));

    const wrongShape = await serializeSafetensors(tensors.map((data, i) => ({ name: NAMES[i]!, dtype: 'F32' as const, shape: i === 0 ? [F, H] : SHAPES[i]!, data })));
    await assert.rejects(layoutWeightsFromBytes(wrongShape, layout(), 'body.experts.1'), (err: unknown) => {
      rejects('body.experts.1.fc1.weight', 'shape_mismatch')(err);
      assert.match((err as Error).message, /\[16, 8\].*\[8, 16\]/);
      return true;
    });

    const ints = await serializeSafetensors(tensors.map((data, i) => (i === 1 ? { name: NAMES[i]!, dtype: 'I32' as const, shape: SHAPES[i]!, data: new Int32Array(H) } : { name: NAMES[i]!, dtype: 'F32' as const, shape: SHAPES[i]!, data })));
    await assert.rejects(layoutWeightsFromBytes(ints, layout(), 'body.weights'), rejects('body.weights.fc1.bias', 'invalid_format'));

    const nan = tensors.map((t) => t.slice());
    nan[2]![5 * H + 3] = Number.NaN;
    await assert.rejects(layoutWeightsFromBytes(await headFile(nan), layout(), 'body.weights'), (err: unknown) => {
      rejects('body.weights.fc2.weight', 'non_finite')(err);
      assert.match((err as Error).message, /fc2\.weight"\[5, 3\] is NaN/);
      return true;
    });
  });

  test('bytes that are not safetensors are refused on the field', async () => {
    await assert.rejects(layoutWeightsFromBytes(new Uint8Array([1, 2, 3]), layout(), 'body.weights'), (err: unknown) => isWeightsmithError(err) && err.field === 'body.weights');
  });
});

describe('SDEdit from given weights', () => {
  const request: GenerationRequest = { classes: ['coat', 'shirt'], n: 2, seed: 3, sampler: 'ddim', steps: 6 };
  const run = (weights: Float32Array, strength: number, req: Partial<GenerationRequest> = {}) =>
    generate({ ...request, ...req, bundle, encoder, runDenoiser: poolDenoiser(pool, model, bundle.manifest), startFrom: sdeditStart(bundle.manifest, weights, strength) });

  test('strength → tStart is round(strength·T) − 1, and anything outside (0, 1] is refused on body.strength', () => {
    assert.equal(resolveStrength(bundle.manifest, 1e-4), -1);
    assert.equal(resolveStrength(bundle.manifest, 0.5), 499);
    assert.equal(resolveStrength(bundle.manifest, 1), 999);
    for (const bad of [0, -0.1, 1.5, Number.NaN]) assert.throws(() => resolveStrength(bundle.manifest, bad), rejects('body.strength', 'invalid_input'));
  });

  test('a tiny strength returns the input weights (every sample, both samplers)', async () => {
    const { flat } = randomHead(11);
    for (const sampler of ['ddim', 'ddpm'] as const) {
      const res = await run(flat, 1e-4, sampler === 'ddpm' ? { sampler, steps: undefined } : {});
      assert.equal(res.samples.length, 2);
      for (const s of res.samples) {
        for (let i = 0; i < P; i++) assert.ok(Math.abs(s[i]! - flat[i]!) <= 1e-6 * Math.max(1, Math.abs(flat[i]!)), `${sampler} value ${i}: ${s[i]} vs ${flat[i]}`);
      }
    }
  });

  test('strength 0.5 is deterministic by seed, changes the weights, and differs across seeds', async () => {
    const { flat } = randomHead(12);
    const a = await run(flat, 0.5);
    const b = await run(flat, 0.5);
    const c = await run(flat, 0.5, { seed: 4 });
    const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    for (let i = 0; i < 2; i++) assert.ok(bytes(a.samples[i]!).equals(bytes(b.samples[i]!)), `sample ${i} repeats`);
    assert.ok(!bytes(a.samples[0]!).equals(bytes(c.samples[0]!)), 'another seed, other weights');
    assert.ok(!bytes(a.samples[0]!).equals(bytes(a.samples[1]!)), 'samples draw their own noise');
    let moved = 0;
    for (let i = 0; i < P; i++) moved = Math.max(moved, Math.abs(a.samples[0]![i]! - flat[i]!));
    assert.ok(moved > 1e-3, `strength 0.5 changes the weights (max change ${moved})`);
  });
});

describe('averaging experts', () => {
  test('plain average is the element-wise mean', () => {
    const got = plainAverage([Float32Array.of(1, 2, -3), Float32Array.of(3, 0, 1), Float32Array.of(2, 1, 5)]);
    assert.deepEqual(got, Float32Array.of(2, 1, 1));
  });

  test('two permutations of one head: aligned average is that head, plain average is not', () => {
    const { tensors, flat } = randomHead(21);
    const a = flatOf(permuted(tensors, [3, 0, 7, 1, 6, 2, 5, 4]));
    const b = flatOf(permuted(tensors, [6, 4, 1, 0, 2, 7, 3, 5]));
    const aligned = averageExperts(bundle.manifest, [flat, b], true);
    assert.equal(aligned.aligned, true);
    assert.deepEqual(aligned.average, flat);
    // Aligned to the first expert: the average of a and b is a itself.
    assert.deepEqual(averageExperts(bundle.manifest, [a, b], true).average, a);
    const plain = averageExperts(bundle.manifest, [flat, b], false);
    assert.equal(plain.aligned, false);
    assert.deepEqual(plain.average, plainAverage([flat, b]));
    let diff = 0;
    for (let i = 0; i < P; i++) diff = Math.max(diff, Math.abs(plain.average[i]! - flat[i]!));
    assert.ok(diff > 0.05, `unaligned average blends unrelated units (max diff ${diff})`);
  });
});
