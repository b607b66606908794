/**
 * POST /v1/evaluations and the cosine-head scoring behind it: the ONNX graph agrees with an
 * independent float64 forward pass; a head built to predict one class scores exactly that class's
 * share; task subsets score only their rows; bad input is a problem naming the field; a bundle
 * whose evaluation data does not fit its head is refused at load while the others are served.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startService, type RunningService } from '@weightsmith/http';
import { InferencePool } from '@weightsmith/onnx';
import { serializeSafetensors } from '@weightsmith/safetensors';
import { Rng } from '@weightsmith/tensor';
import { ClipTextEncoder } from '@weightsmith/text';
import { FASHION_MNIST_CLASSES, loadBundle, writeFixtureBundle } from '../src/bundle/index.js';
import { buildCosineHeadGraph, evaluateHead, readEvaluationData } from '../src/evaluation/index.js';
import { classEmbeddings } from '../src/generation/index.js';
import { createT2wDefinition, type T2wConfig } from '../src/service.js';
import { erf } from './bundle-reference-denoiser.js';
import { storeFiles, uploadHead } from './http-helpers.js';

const F = 16;
const H = 8;
const E = 16;
const PER_CLASS = 12;

let tmp: string;
let storeDir: string;
let running: RunningService<T2wConfig>;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-eval-'));
  storeDir = join(tmp, 'store');
  await writeFixtureBundle(join(tmp, 'bundles', 'scored'), { seed: 8, name: 'scored', evaluationPerClass: PER_CLASS });
  await writeFixtureBundle(join(tmp, 'bundles', 'plain'), { seed: 8, name: 'plain' });
  // Evaluation data whose features do not fit the head's f: the bundle must fail at load.
  await writeFixtureBundle(join(tmp, 'bundles', 'broken'), { seed: 8, name: 'broken', evaluationPerClass: 2 });
  const wrong = await serializeSafetensors([
    { name: 'features', dtype: 'F32', shape: [2, F + 1], data: new Float32Array(2 * (F + 1)) },
    { name: 'labels', dtype: 'I64', shape: [2], data: new BigInt64Array(2) },
  ]);
  await writeFile(join(tmp, 'bundles', 'broken', 'eval.safetensors'), wrong);
  const env = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', STORE_DIR: storeDir, T2W_BUNDLES_DIR: join(tmp, 'bundles'), ORT_INTRA_OP_THREADS: '1' };
  running = await startService(createT2wDefinition(), { env, handleSignals: false });
});
after(async () => {
  await running.close();
  await rm(tmp, { recursive: true, force: true });
});

const api = () => request(running.server);

function randomHead(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return [rng.normalArray(H * F, 0, 0.5), rng.normalArray(H, 0, 0.2), rng.normalArray(E * H, 0, 0.5), rng.normalArray(E, 0, 0.2)];
}
const flat = (t: Float32Array[]): Float32Array => {
  const out = new Float32Array(t.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const x of t) out.set(x, (at += x.length) - x.length);
  return out;
};

const upload = (tensors: Float32Array[], shapes?: number[][]): Promise<string> => uploadHead(api, tensors, shapes);

/** logits [n, C] in float64: τ · cos(fc2(gelu(fc1 x)), e_c). */
function referenceLogits(x: Float32Array, n: number, head: Float32Array[], text: Float32Array, C: number, tau: number): Float64Array {
  const [w1, b1, w2, b2] = head as [Float32Array, Float32Array, Float32Array, Float32Array];
  const out = new Float64Array(n * C);
  for (let r = 0; r < n; r++) {
    const hid = new Float64Array(H);
    for (let j = 0; j < H; j++) {
      let s = b1[j]!;
      for (let k = 0; k < F; k++) s += w1[j * F + k]! * x[r * F + k]!;
      hid[j] = 0.5 * s * (1 + erf(s / Math.SQRT2));
    }
    const o = new Float64Array(E);
    for (let i = 0; i < E; i++) {
      let s = b2[i]!;
      for (let j = 0; j < H; j++) s += w2[i * H + j]! * hid[j]!;
      o[i] = s;
    }
    const on = Math.hypot(...o);
    for (let c = 0; c < C; c++) {
      let dot = 0;
      let tn = 0;
      for (let i = 0; i < E; i++) {
        dot += o[i]! * text[c * E + i]!;
        tn += text[c * E + i]! ** 2;
      }
      out[r * C + c] = (tau * dot) / (on * Math.sqrt(tn));
    }
  }
  return out;
}

describe('cosine-head scoring', () => {
  test('the ONNX graph matches a float64 forward pass, and accuracy is its argmax agreement', async () => {
    const bundle = await loadBundle({ dir: join(tmp, 'bundles', 'scored') });
    const data = await readEvaluationData(bundle, F);
    assert.equal(data.n, PER_CLASS * FASHION_MNIST_CLASSES.length);
    const encoder = await ClipTextEncoder.fromFolder(bundle.textEncoderDir!);
    const pool = new InferencePool({ threads: 1, intraOpNumThreads: 1 });
    try {
      const model = await pool.load(buildCosineHeadGraph(10));
      const classes = [...FASHION_MNIST_CLASSES];
      const text = await classEmbeddings(bundle.manifest, encoder, classes);
      const head = randomHead(3);
      const feeds = {
        features: { dtype: 'float32' as const, dims: [data.n, F], data: data.features },
        fc1_weight: { dtype: 'float32' as const, dims: [H, F], data: head[0]! },
        fc1_bias: { dtype: 'float32' as const, dims: [H], data: head[1]! },
        fc2_weight: { dtype: 'float32' as const, dims: [E, H], data: head[2]! },
        fc2_bias: { dtype: 'float32' as const, dims: [E], data: head[3]! },
        class_embeddings: { dtype: 'float32' as const, dims: [classes.length, E], data: text },
      };
      const out = await pool.run(model, feeds);
      const logits = out['logits']!.data as Float32Array;
      const ref = referenceLogits(data.features, data.n, head, text, classes.length, 10);
      let maxDiff = 0;
      for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ref[i]! - logits[i]!));
      assert.ok(maxDiff <= 1e-4, `max |logit diff| ${maxDiff}`);

      let correct = 0;
      for (let r = 0; r < data.n; r++) {
        let best = 0;
        for (let c = 1; c < classes.length; c++) if (ref[r * classes.length + c]! > ref[r * classes.length + best]!) best = c;
        if (best === data.labels[r]) correct++;
      }
      const result = await evaluateHead({ data, shape: { f: F, h: H, e: E }, weights: flat(head), classes, classEmbeddings: text, run: (f) => pool.run(model, f) });
      assert.equal(result.correct, correct);
      assert.equal(result.samples, data.n);
      assert.equal(result.perClass.reduce((a, c) => a + c.correct, 0), correct);
    } finally {
      await encoder.close();
      await pool.close();
    }
  });
});

describe('POST /v1/evaluations', () => {
  test('a head whose output is one class prompt embedding predicts that class for every sample', async () => {
    const bundle = await loadBundle({ dir: join(tmp, 'bundles', 'scored') });
    const encoder = await ClipTextEncoder.fromFolder(bundle.textEncoderDir!);
    const classes = ['bag', 'coat', 'sneaker'];
    const text = await classEmbeddings(bundle.manifest, encoder, ['coat']);
    await encoder.close();
    // fc1 = 0 → hidden = GELU(0) = 0 → output = fc2.bias = the "coat" prompt embedding.
    const id = await upload([new Float32Array(H * F), new Float32Array(H), new Float32Array(E * H), text]);
    const res = await api().post('/v1/evaluations').send({ bundle: 'scored', weights: id, classes }).expect(200);
    assert.equal(res.body.samples, 3 * PER_CLASS);
    assert.equal(res.body.correct, PER_CLASS);
    assert.equal(res.body.accuracy, 1 / 3);
    assert.deepEqual(
      res.body.perClass.map((c: { class: string; accuracy: number }) => [c.class, c.accuracy]),
      [['bag', 0], ['coat', 1], ['sneaker', 0]],
    );
    assert.equal(res.body.weights, id);
    assert.match(res.body.bundleDigest, /^[0-9a-f]{64}$/);
  });

  test('defaults to every evaluation class; a generated head is scored the same way twice', async () => {
    const gen = await api().post('/v1/generations?wait=true').send({ bundle: 'scored', classes: ['bag', 'coat'], seed: 2, steps: 3 }).expect(200);
    const id = gen.body.artifacts[0].id as string;
    const a = await api().post('/v1/evaluations').send({ bundle: 'scored', weights: id }).expect(200);
    const b = await api().post('/v1/evaluations').send({ bundle: 'scored', weights: id }).expect(200);
    assert.equal(a.body.samples, PER_CLASS * FASHION_MNIST_CLASSES.length);
    assert.deepEqual(a.body.classes, [...FASHION_MNIST_CLASSES]);
    assert.deepEqual(a.body, b.body);
    assert.ok(a.body.accuracy >= 0 && a.body.accuracy <= 1);
  });

  test('the bundle list says which bundles can score', async () => {
    const res = await api().get('/v1/bundles').expect(200);
    const byName = new Map(res.body.bundles.map((b: { name: string; evaluation: unknown }) => [b.name, b.evaluation]));
    assert.deepEqual(byName.get('scored'), { classes: [...FASHION_MNIST_CLASSES] });
    assert.equal(byName.get('plain'), null);
    assert.equal(byName.has('broken'), false, 'a bundle whose evaluation data does not fit is not served');
  });

  test('bad input: a problem naming the field, nothing written', async () => {
    const id = await upload(randomHead(5));
    const before = await storeFiles(storeDir);
    const nan = randomHead(6);
    nan[2]![3] = Number.NaN;
    const nanId = await upload(nan);
    const wrongShape = await upload([new Float32Array(H * (F + 1)), new Float32Array(H), new Float32Array(E * H), new Float32Array(E)], [[H, F + 1], [H], [E, H], [E]]);
    const afterUploads = await storeFiles(storeDir);
    const cases: [Record<string, unknown>, number, string][] = [
      [{ bundle: 'scored', weights: id, classes: ['bag', 'moon boot'] }, 400, 'body.classes.1'],
      [{ bundle: 'scored', weights: id, classes: ['bag', 'bag'] }, 400, 'body.classes.1'],
      [{ bundle: 'scored', weights: id, classes: ['bag'] }, 400, 'body.classes'],
      [{ bundle: 'scored', weights: id, classes: [] }, 400, 'body.classes'],
      [{ bundle: 'plain', weights: id }, 400, 'body.bundle'],
      [{ bundle: 'broken', weights: id }, 404, 'body.bundle'],
      [{ bundle: 'nope', weights: id }, 404, 'body.bundle'],
      [{ bundle: 'scored', weights: 'f'.repeat(64) }, 404, 'body.weights'],
      [{ bundle: 'scored', weights: 'not-an-id' }, 400, 'body.weights'],
      [{ bundle: 'scored', weights: nanId }, 422, 'body.weights.fc2.weight'],
      [{ bundle: 'scored', weights: wrongShape }, 422, 'body.weights.fc1.weight'],
      [{ bundle: 'scored', weights: id, extra: 1 }, 400, 'body'],
      [{ weights: id }, 400, 'body.bundle'],
    ];
    for (const [body, status, field] of cases) {
      const res = await api().post('/v1/evaluations').send(body);
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.match(res.headers['content-type'] ?? '', /application\/problem\+json/);
      const fields = [res.body.field, ...(res.body.errors ?? []).map((e: { field: string }) => e.field)];
      assert.ok(fields.some((f: unknown) => typeof f === 'string' && f.startsWith(field)), `${JSON.stringify(body)}: fields ${JSON.stringify(fields)} should name ${field}`);
    }
    assert.deepEqual(await storeFiles(storeDir), afterUploads, 'evaluations write nothing');
    assert.ok(afterUploads.length > before.length);
  });
});
