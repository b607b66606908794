/**
 * generate() on the fixture bundle with the real pieces: the tiny CLIP encoder, the denoiser on
 * an InferencePool worker. Determinism, per-sample independence of n, layout-shaped output, the
 * text/classes equivalence of a single class, and every bad field refused before any work.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeightsmithError } from '@weightsmith/core';
import { InferencePool, type PoolModel } from '@weightsmith/onnx';
import { openSafetensors, memorySource } from '@weightsmith/safetensors';
import { ClipTextEncoder } from '@weightsmith/text';
import { loadBundle, writeFixtureBundle, type LoadedBundle } from '../src/bundle/index.js';
import { LruCache } from '../src/conditioning/index.js';
import { generate, poolDenoiser, sampleSafetensors, type GenerateOptions, type GenerationRequest } from '../src/generation/index.js';

let tmp: string;
let bundle: LoadedBundle;
let guided: LoadedBundle;
let strict: LoadedBundle;
let encoder: ClipTextEncoder;
let pool: InferencePool;
let model: PoolModel;
let guidedModel: PoolModel;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-gen-'));
  await writeFixtureBundle(join(tmp, 'plain'), { seed: 3 });
  await writeFixtureBundle(join(tmp, 'guided'), { seed: 3, name: 'guided', condDropout: 0.1 });
  await writeFixtureBundle(join(tmp, 'strict'), { seed: 3, name: 'strict', requireKnownClasses: true });
  bundle = await loadBundle({ dir: join(tmp, 'plain') });
  guided = await loadBundle({ dir: join(tmp, 'guided') });
  strict = await loadBundle({ dir: join(tmp, 'strict') });
  encoder = await ClipTextEncoder.fromFolder(bundle.textEncoderDir!);
  pool = new InferencePool({ threads: 1, intraOpNumThreads: 1 });
  model = await pool.load(bundle.denoiserBytes, { name: 'plain' });
  guidedModel = await pool.load(guided.denoiserBytes, { name: 'guided' });
});
after(async () => {
  await encoder.close();
  await pool.close();
  await rm(tmp, { recursive: true, force: true });
});

function run(req: Partial<GenerationRequest>, b: LoadedBundle = bundle, m: PoolModel = model): ReturnType<typeof generate> {
  const o: GenerateOptions = { classes: ['trouser', 'bag'], n: 1, seed: 0, sampler: 'ddim', steps: 5, ...req, bundle: b, encoder, runDenoiser: poolDenoiser(pool, m, b.manifest) };
  return generate(o);
}

const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('generate', () => {
  test('same request and seed give identical bytes; another seed differs', async () => {
    const a = await run({ seed: 7, n: 2 });
    const b = await run({ seed: 7, n: 2 });
    const c = await run({ seed: 8, n: 2 });
    assert.equal(a.samples.length, 2);
    for (let i = 0; i < 2; i++) assert.ok(bytesOf(a.samples[i]!).equals(bytesOf(b.samples[i]!)), `sample ${i} repeats`);
    assert.ok(!bytesOf(a.samples[0]!).equals(bytesOf(c.samples[0]!)));
    assert.ok(!bytesOf(a.samples[0]!).equals(bytesOf(a.samples[1]!)), 'samples of one request differ');
    assert.deepEqual(a.condition, { kind: 'classes', classes: ['trouser', 'bag'] });
  });

  test('sample i draws the same noise whatever n is (agrees to the denoiser\'s batch rounding)', async () => {
    // onnxruntime's GEMM blocks its sums by batch size, so the same row computed in a batch of 1
    // and of 3 differs in the last float bits (measured ~1e-6 here); the noise is identical, so
    // anything beyond rounding would mean the rows shared or shifted their Rng streams.
    const one = await run({ seed: 4, n: 1 });
    const three = await run({ seed: 4, n: 3 });
    const a = one.samples[0]!;
    const b = three.samples[0]!;
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-4 * (1 + Math.abs(a[i]!)), `value ${i}: ${a[i]} vs ${b[i]}`);
    const other = await run({ seed: 4, n: 3 });
    assert.ok(!bytesOf(three.samples[1]!).equals(bytesOf(a)), 'sample 1 is not sample 0');
    assert.ok(bytesOf(other.samples[2]!).equals(bytesOf(three.samples[2]!)));
  });

  test('a single class conditions exactly like the text of its prompt', async () => {
    const byClass = await run({ classes: ['coat'], seed: 2 });
    const byText = await run({ classes: undefined, text: 'a photo of a coat', seed: 2 });
    assert.ok(bytesOf(byClass.samples[0]!).equals(bytesOf(byText.samples[0]!)));
    assert.deepEqual(byText.condition, { kind: 'text', text: 'a photo of a coat' });
    const other = await run({ classes: ['sandal'], seed: 2 });
    assert.ok(!bytesOf(byClass.samples[0]!).equals(bytesOf(other.samples[0]!)), 'the condition matters');
  });

  test('samples are finite, P long, and written with the layout names and shapes', async () => {
    const { samples, resolved } = await run({ seed: 1 });
    const s = samples[0]!;
    // Fixture head f=16, h=8, e=16: 8·16 + 8 + 16·8 + 16 = 280 parameters.
    assert.equal(s.length, 280);
    assert.ok(s.every(Number.isFinite));
    const file = await openSafetensors(memorySource(await sampleSafetensors(bundle, s, resolved, 0)));
    try {
      // safetensors keeps its own (sorted) order in the file; names and shapes are what count.
      assert.deepEqual(
        file.tensors.map((t) => [t.name, t.dtype, t.shape]).sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
        [
          ['fc1.bias', 'F32', [8]],
          ['fc1.weight', 'F32', [8, 16]],
          ['fc2.bias', 'F32', [16]],
          ['fc2.weight', 'F32', [16, 8]],
        ],
      );
      const fc2b = await file.read('fc2.bias');
      assert.deepEqual(Array.from(fc2b.data as Float32Array), Array.from(s.subarray(264, 280)));
      const meta = file.metadata;
      assert.equal(meta.format, 'pt');
      assert.equal(meta.bundleDigest, bundle.digest);
      assert.equal(meta.seed, '1');
      assert.equal(meta.sampler, 'ddim');
      assert.equal(meta.steps, '5');
      assert.equal(meta.prompt, JSON.stringify(['a photo of a trouser', 'a photo of a bag']));
    } finally {
      await file.close();
    }
  });

  test('class embeddings come from the cache on repeat, with the same bytes', async () => {
    const seen: string[][] = [];
    const counting = { id: encoder.id, dim: encoder.dim, maxTokens: encoder.maxTokens, close: async () => {}, encode: (t: readonly string[]) => (seen.push([...t]), encoder.encode(t)) };
    const cache = new LruCache(16);
    const o: GenerateOptions = { classes: ['bag', 'coat'], n: 1, seed: 6, sampler: 'ddim', steps: 3, bundle, encoder: counting, runDenoiser: poolDenoiser(pool, model, bundle.manifest), cache };
    const first = await generate(o);
    const second = await generate({ ...o, classes: ['coat', 'shirt'] });
    const third = await generate(o);
    assert.deepEqual(seen, [['a photo of a bag', 'a photo of a coat'], ['a photo of a shirt']]);
    assert.ok(bytesOf(first.samples[0]!).equals(bytesOf(third.samples[0]!)));
    assert.ok(!bytesOf(first.samples[0]!).equals(bytesOf(second.samples[0]!)));
  });

  test('ddpm runs all T steps and is deterministic', async () => {
    let total = 0;
    const o: GenerateOptions = { classes: ['dress'], n: 1, seed: 5, sampler: 'ddpm', bundle, encoder, runDenoiser: poolDenoiser(pool, model, bundle.manifest), onStep: (_, t) => (total = t) };
    const a = await generate(o);
    assert.equal(total, 1000);
    assert.equal(a.resolved.steps, 1000);
    const b = await generate({ ...o, onStep: undefined });
    assert.ok(bytesOf(a.samples[0]!).equals(bytesOf(b.samples[0]!)));
  });

  test('guidance runs on a bundle trained with condition dropout', async () => {
    const a = await run({ guidance: 3, seed: 1 }, guided, guidedModel);
    const plain = await run({ seed: 1 }, guided, guidedModel);
    assert.ok(a.samples[0]!.every(Number.isFinite));
    assert.ok(!bytesOf(a.samples[0]!).equals(bytesOf(plain.samples[0]!)));
  });
});

describe('generate refuses bad requests, naming the field', () => {
  const cases: { name: string; req: Partial<GenerationRequest>; field: string; b?: () => LoadedBundle }[] = [
    { name: 'empty classes', req: { classes: [] }, field: 'body.classes' },
    { name: 'duplicate classes', req: { classes: ['bag', 'coat', 'bag'] }, field: 'body.classes' },
    { name: 'unknown class on a strict bundle', req: { classes: ['bag', 'giraffe'] }, field: 'body.classes', b: () => strict },
    { name: 'both classes and text', req: { text: 'shoes' }, field: 'body.text' },
    { name: 'neither classes nor text', req: { classes: undefined }, field: 'body.classes' },
    { name: 'text over the cap', req: { classes: undefined, text: 'x'.repeat(513) }, field: 'body.text' },
    { name: 'n over the cap', req: { n: 17 }, field: 'body.n' },
    { name: 'n zero', req: { n: 0 }, field: 'body.n' },
    { name: 'steps above T', req: { steps: 1001 }, field: 'body.steps' },
    { name: 'steps zero', req: { steps: 0 }, field: 'body.steps' },
    { name: 'ddpm with fewer steps', req: { sampler: 'ddpm', steps: 50 }, field: 'body.steps' },
    { name: 'guidance without condition dropout', req: { guidance: 2 }, field: 'body.guidance' },
    { name: 'negative eta', req: { eta: -1 }, field: 'body.eta' },
    { name: 'negative seed', req: { seed: -1 }, field: 'body.seed' },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      let calls = 0;
      const b = c.b?.() ?? bundle;
      const o: GenerateOptions = {
        classes: ['trouser', 'bag'], n: 1, seed: 0, sampler: 'ddim', steps: 5, ...c.req, bundle: b, encoder,
        runDenoiser: async (x) => { calls++; return new Float32Array(x.length); },
      };
      await assert.rejects(generate(o), (err: unknown) => isWeightsmithError(err) && err.code === 'invalid_input' && err.field === c.field);
      assert.equal(calls, 0, 'no denoiser step ran');
    });
  }
  test('known classes pass on a strict bundle', async () => {
    const r = await run({ classes: ['bag', 'ankle boot'], steps: 2 }, strict, model);
    assert.equal(r.samples.length, 1);
  });
});
