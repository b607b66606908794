import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { InferencePool } from '@weightsmith/onnx';
import { ClipTextEncoder, l2Normalize, writeTinyClipFolder, type TinyClipFolder } from '../src/index.js';
import { referenceTextEmbedding } from './helpers/clip-reference.js';
import { tempDir } from './helpers/temp-dir.js';

const TEXTS = [
  'a photo of a dress',
  'a classifier for sneaker, bag, coat',
  'zebra',
  '',
  'a photo of an ankle boot on a sandal next to a trouser',
];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function bits(v: Float32Array): number[] {
  return [...new Uint32Array(v.buffer, v.byteOffset, v.length)];
}

describe('ClipTextEncoder on the tiny CLIP fixture', () => {
  let fixture: TinyClipFolder;
  let encoder: ClipTextEncoder;

  before(async () => {
    fixture = await writeTinyClipFolder(await tempDir('enc'), { seed: 11, hidden: 32, layers: 2, heads: 2, projectionDim: 16, maxPositions: 16 });
    encoder = await ClipTextEncoder.fromFolder(fixture.dir);
  });
  after(() => encoder.close());

  test('reports the model dimensions and a content id', () => {
    assert.equal(encoder.dim, 16);
    assert.equal(encoder.maxTokens, 16);
    assert.match(encoder.id, /^sha256:[0-9a-f]{64}$/);
  });

  test('one embedding of length projectionDim per text, in order', async () => {
    const out = await encoder.encode(TEXTS);
    assert.equal(out.length, TEXTS.length);
    for (const v of out) {
      assert.ok(v instanceof Float32Array);
      assert.equal(v.length, 16);
      assert.ok(v.every(Number.isFinite));
    }
    assert.deepEqual(await encoder.encode([]), []);
  });

  test('agrees with an independent float64 forward pass of the same weights (≤ 1e-4)', async () => {
    const ids = encoder.tokenize(TEXTS);
    const out = await encoder.encode(TEXTS);
    ids.forEach((seq, i) => {
      const expected = referenceTextEmbedding(fixture.weights, seq, fixture.tokenizer.eosId);
      const diff = maxAbsDiff(out[i]!, expected);
      assert.ok(diff <= 1e-4, `text ${JSON.stringify(TEXTS[i])}: max |onnx - reference| = ${diff}`);
    });
  });

  test('a padded batch equals each text encoded alone (≤ 1e-5)', async () => {
    const batch = await encoder.encode(TEXTS);
    for (let i = 0; i < TEXTS.length; i++) {
      const [alone] = await encoder.encode([TEXTS[i]!]);
      const diff = maxAbsDiff(batch[i]!, alone!);
      assert.ok(diff <= 1e-5, `text ${i}: batch vs alone differ by ${diff}`);
    }
  });

  test('same text, identical float bits, across calls and across two loads of the folder', async () => {
    const first = await encoder.encode(TEXTS);
    const again = await encoder.encode(TEXTS);
    const second = await ClipTextEncoder.fromFolder(fixture.dir);
    try {
      const reloaded = await second.encode(TEXTS);
      assert.equal(second.id, encoder.id);
      first.forEach((v, i) => {
        assert.deepEqual(bits(again[i]!), bits(v));
        assert.deepEqual(bits(reloaded[i]!), bits(v));
      });
    } finally {
      await second.close();
    }
  });

  test('different texts give clearly different embeddings', async () => {
    const out = (await encoder.encode(TEXTS)).map(l2Normalize);
    for (let i = 0; i < out.length; i++) {
      for (let j = i + 1; j < out.length; j++) {
        let cos = 0;
        for (let k = 0; k < encoder.dim; k++) cos += out[i]![k]! * out[j]![k]!;
        assert.ok(cos < 0.999, `texts ${i} and ${j} have cosine ${cos}`);
      }
    }
  });

  test('long texts are cut to maxTokens keeping <|endoftext|>, like the Python tokenizer', async () => {
    const words = ['coat', 'bag', 'dress', 'shirt', 'sandal', 'trouser', 'pullover', 'sneaker'];
    const long = [...words, ...words, ...words].join(' '); // 24 words → 26 tokens > 16
    const [ids] = encoder.tokenize([long]);
    assert.equal(ids!.length, 16);
    assert.equal(ids![0], fixture.tokenizer.bosId);
    assert.equal(ids![15], fixture.tokenizer.eosId);
    // The first 14 words fit: encoding them gives the same embedding.
    const prefix = [...words, ...words].slice(0, 14).join(' ');
    assert.deepEqual(encoder.tokenize([prefix]), [ids]);
    const [a, b] = await encoder.encode([long, prefix]);
    assert.deepEqual(bits(a!), bits(b!));
    const expected = referenceTextEmbedding(fixture.weights, ids!, fixture.tokenizer.eosId);
    assert.ok(maxAbsDiff(a!, expected) <= 1e-4);
  });

  test('more texts than batchSize are encoded in several runs with the same results', async () => {
    const small = await ClipTextEncoder.fromFolder(fixture.dir, { batchSize: 2 });
    try {
      const chunked = await small.encode(TEXTS);
      const whole = await encoder.encode(TEXTS);
      chunked.forEach((v, i) => assert.ok(maxAbsDiff(v, whole[i]!) <= 1e-5));
    } finally {
      await small.close();
    }
  });

  test('rejects non-string texts naming the index', async () => {
    await assert.rejects(encoder.encode(['ok', 3 as unknown as string]), { code: 'invalid_input', field: 'texts.1' });
  });
});

describe('ClipTextEncoder identity and lifecycle', () => {
  test('the id follows the file contents, not the folder location', async () => {
    const a = await writeTinyClipFolder(await tempDir('id-a'), { seed: 5, layers: 1 });
    const copy = join(await tempDir('id-copy'), 'model');
    await cp(a.dir, copy, { recursive: true });
    const other = await writeTinyClipFolder(await tempDir('id-b'), { seed: 6, layers: 1 });
    const encA = await ClipTextEncoder.fromFolder(a.dir);
    const encCopy = await ClipTextEncoder.fromFolder(copy);
    const encOther = await ClipTextEncoder.fromFolder(other.dir);
    try {
      assert.equal(encCopy.id, encA.id);
      assert.notEqual(encOther.id, encA.id);
    } finally {
      await Promise.all([encA.close(), encCopy.close(), encOther.close()]);
    }
  });

  test('encode after close fails with not_ready; close is idempotent', async () => {
    const f = await writeTinyClipFolder(await tempDir('close'), { seed: 2, layers: 1 });
    const enc = await ClipTextEncoder.load(f.dir);
    await enc.close();
    await enc.close();
    await assert.rejects(enc.encode(['a photo of a coat']), { code: 'not_ready' });
  });
});

describe('ClipTextEncoder on an InferencePool', () => {
  test('gives the same float bits as the in-thread encoder, and unloads its model on close', async () => {
    const f = await writeTinyClipFolder(await tempDir('pool'), { seed: 5, hidden: 32, layers: 2, heads: 2, projectionDim: 16, maxPositions: 16 });
    const pool = new InferencePool({ threads: 1, intraOpNumThreads: 1 });
    const local = await ClipTextEncoder.fromFolder(f.dir);
    const pooled = await ClipTextEncoder.fromFolder(f.dir, { pool, batchSize: 2 });
    try {
      assert.equal(pooled.id, local.id);
      assert.equal(pooled.dim, local.dim);
      const a = await local.encode(TEXTS);
      const b = await pooled.encode(TEXTS);
      a.forEach((v, i) => assert.deepEqual(bits(b[i]!), bits(v), `text ${i}`));
      assert.equal(pool.stats().models, 1);
      await pooled.close();
      assert.equal(pool.stats().models, 0);
      await assert.rejects(pooled.encode(['a photo of a coat']), { code: 'not_ready' });
    } finally {
      await local.close();
      await pooled.close();
      await pool.close();
    }
  });
});
