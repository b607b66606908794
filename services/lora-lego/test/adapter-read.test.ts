import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isWeightsmithError } from '@weightsmith/core';
import { openPeftAdapterFolder, openPeftAdapterMemory, planCarriedTensors } from '../src/adapter/index.js';
import { Q, QA, QB, V, baseConfig, f32, key, simpleAdapter, u16, weights, type Tensor } from './adapter-fixtures.js';

const open = async (tensors: Tensor[], config = baseConfig()) => openPeftAdapterMemory({ config, weights: await weights(tensors), label: 'a0' });

const rejects = async (p: Promise<unknown>, code: string, field: string | undefined, re: RegExp) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(isWeightsmithError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.field, field, e.message);
    assert.match(e.message, re);
    return true;
  });

describe('reading adapters', () => {
  test('F32 linear module: shapes, scaling, values', async () => {
    const a = await openPeftAdapterMemory(await simpleAdapter());
    assert.equal(a.baseModel, 'tiny/base');
    assert.equal(a.modules.length, 1);
    const m = a.modules[0]!;
    assert.deepEqual(
      { name: m.name, kind: m.kind, r: m.r, alpha: m.alpha, scale: m.scale, dIn: m.dIn, dOut: m.dOut, dtype: m.dtype },
      { name: Q, kind: 'linear', r: 2, alpha: 4, scale: 2, dIn: 3, dOut: 2, dtype: 'F32' },
    );
    const { A, B } = await a.readModule(Q);
    assert.deepEqual([...A], QA);
    assert.deepEqual([...B], QB);
    assert.equal(a.carried.length, 0);
  });

  test('F16 and BF16 factors are converted to F32 (hand-encoded bits)', async () => {
    // F16: 1 = 0x3c00, -2 = 0xc000, 0.5 = 0x3800, 0.25 = 0x3400. BF16: 1 = 0x3f80, -2 = 0xc000, 0.5 = 0x3f00, 3 = 0x4040.
    const a = await open([
      { name: key(Q, 'A'), dtype: 'F16', shape: [2, 2], bytes: u16([0x3c00, 0xc000, 0x3800, 0x3400]) },
      { name: key(Q, 'B'), dtype: 'F16', shape: [1, 2], bytes: u16([0x3400, 0x3c00]) },
      { name: key(V, 'A'), dtype: 'BF16', shape: [2, 1], bytes: u16([0x3f80, 0xc000]) },
      { name: key(V, 'B'), dtype: 'BF16', shape: [2, 2], bytes: u16([0x3f00, 0x4040, 0x3f80, 0x3f80]) },
    ]);
    assert.deepEqual(a.modules.map((m) => [m.name, m.dtype]), [[Q, 'F16'], [V, 'BF16']]);
    const q = await a.readModule(Q);
    assert.deepEqual([...q.A], [1, -2, 0.5, 0.25]);
    assert.deepEqual([...q.B], [0.25, 1]);
    const v = await a.readModule(V);
    assert.deepEqual([...v.A], [1, -2]);
    assert.deepEqual([...v.B], [0.5, 3, 1, 1]);
  });

  test('embedding module: factors as stored, dIn = num_embeddings, dOut = embedding_dim', async () => {
    const E = 'model.embed_tokens';
    const a = await open([
      { name: `base_model.model.${E}.lora_embedding_A`, dtype: 'F32', shape: [2, 5], bytes: f32([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) },
      { name: `base_model.model.${E}.lora_embedding_B`, dtype: 'F32', shape: [3, 2], bytes: f32([1, 0, 0, 1, 1, 1]) },
    ]);
    const m = a.module(E);
    assert.deepEqual([m.kind, m.dIn, m.dOut, m.r], ['embedding', 5, 3, 2]);
    const { A, B } = await a.readModule(E);
    assert.deepEqual([...A], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.deepEqual([...B], [1, 0, 0, 1, 1, 1]);
  });

  test('".default" adapter-name infix and keys without base_model.model. are accepted', async () => {
    const a = await open([
      { name: `base_model.model.${Q}.lora_A.default.weight`, dtype: 'F32', shape: [2, 3], bytes: f32(QA) },
      { name: `${Q}.lora_B.default.weight`, dtype: 'F32', shape: [2, 2], bytes: f32(QB) },
    ]);
    assert.deepEqual(a.modules.map((m) => m.name), [Q]);
  });

  test('rank_pattern decides the expected rank per module', async () => {
    const a = await open(
      [
        { name: key(Q, 'A'), dtype: 'F32', shape: [2, 3], bytes: f32(QA) },
        { name: key(Q, 'B'), dtype: 'F32', shape: [2, 2], bytes: f32(QB) },
        { name: key(V, 'A'), dtype: 'F32', shape: [1, 3], bytes: f32([1, 1, 1]) },
        { name: key(V, 'B'), dtype: 'F32', shape: [2, 1], bytes: f32([1, 1]) },
      ],
      baseConfig({ rank_pattern: { v_proj: 1 }, alpha_pattern: { v_proj: 3 } }),
    );
    assert.deepEqual([a.module(V).r, a.module(V).scale, a.module(Q).scale], [1, 3, 2]);
  });

  test('folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peft-folder-'));
    try {
      const { config, weights: w } = await simpleAdapter();
      await writeFile(join(dir, 'adapter_model.safetensors'), w);
      await rejects(openPeftAdapterFolder(dir), 'invalid_format', 'adapter_config.json', /adapter_config.json is missing/);
      await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(config));
      const a = await openPeftAdapterFolder(dir);
      assert.deepEqual([...(await a.readModule(Q)).B], QB);
      await a.close();
      await rm(join(dir, 'adapter_model.safetensors'));
      await rejects(openPeftAdapterFolder(dir), 'invalid_format', 'adapter_model.safetensors', /missing/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bad adapters', () => {
  const qa: Tensor = { name: key(Q, 'A'), dtype: 'F32', shape: [2, 3], bytes: f32(QA) };
  const qb: Tensor = { name: key(Q, 'B'), dtype: 'F32', shape: [2, 2], bytes: f32(QB) };

  test('config not JSON', async () => {
    await rejects(openPeftAdapterMemory({ config: '{nope', weights: await weights([qa, qb]) }), 'invalid_format', 'adapter_config.json', /not valid JSON/);
  });
  test('config schema error names the path', async () => {
    await rejects(open([qa, qb], baseConfig({ lora_alpha: 'big' })), 'invalid_format', 'adapter_config.json.lora_alpha', /lora_alpha/);
  });
  test('invalid safetensors is reported with the file name', async () => {
    await rejects(
      openPeftAdapterMemory({ config: baseConfig(), weights: new Uint8Array([1, 2, 3]), label: 'a0' }),
      'invalid_format',
      'adapter_model.safetensors.header_length',
      /^a0: adapter_model\.safetensors: .*shorter than the 8-byte header length prefix/,
    );
  });
  test('lora_A without lora_B', async () => {
    await rejects(open([qa]), 'invalid_format', qa.name, /has ".*lora_A.weight" but no lora_B tensor/);
  });
  test('lora_B without lora_A', async () => {
    await rejects(open([qb]), 'invalid_format', qb.name, /no lora_A tensor/);
  });
  test('A rows ≠ B columns', async () => {
    await rejects(
      open([qa, { ...qb, shape: [1, 4] }]),
      'shape_mismatch',
      qb.name,
      /has 2 rows but .* has 4 columns/,
    );
  });
  test('rank ≠ config r', async () => {
    await rejects(open([qa, qb], baseConfig({ r: 4 })), 'shape_mismatch', qa.name, /rank 2 but adapter_config.json says r = 4/);
  });
  test('rank ≠ rank_pattern', async () => {
    await rejects(open([qa, qb], baseConfig({ rank_pattern: { q_proj: 8 } })), 'shape_mismatch', qa.name, /rank_pattern\["q_proj"\] = 8/);
  });
  test('no LoRA tensors at all', async () => {
    await rejects(
      open([{ name: 'model.embed_tokens.weight', dtype: 'F32', shape: [2], bytes: f32([1, 2]) }]),
      'invalid_format',
      'adapter_model.safetensors',
      /not a LoRA adapter/,
    );
  });
  test('DoRA magnitude vector', async () => {
    await rejects(
      open([qa, qb, { name: `base_model.model.${Q}.lora_magnitude_vector`, dtype: 'F32', shape: [2], bytes: f32([1, 1]) }]),
      'invalid_input',
      `base_model.model.${Q}.lora_magnitude_vector`,
      /DoRA adapters are not supported/,
    );
  });
  test('DoRA in config', async () => {
    await rejects(open([qa, qb], baseConfig({ use_dora: true })), 'invalid_input', 'adapter_config.json.use_dora', /DoRA adapters are not supported/);
  });
  test('unknown lora_* naming', async () => {
    await rejects(
      open([qa, qb, { name: 'unet.x.lora_down.weight', dtype: 'F32', shape: [1], bytes: f32([1]) }]),
      'invalid_format',
      'unet.x.lora_down.weight',
      /does not follow PEFT's naming/,
    );
  });
  test('conv LoRA (4-D factors)', async () => {
    await rejects(open([{ ...qa, shape: [2, 3, 1, 1] }, qb]), 'invalid_input', qa.name, /only 2-D/);
  });
  test('integer factors', async () => {
    await rejects(open([{ ...qa, dtype: 'U8', bytes: new Uint8Array(6) }, qb]), 'invalid_format', qa.name, /must be F32, F16 or BF16/);
  });
  test('duplicate factor under two spellings', async () => {
    await rejects(open([qa, qb, { ...qa, name: `base_model.model.${Q}.lora_A.default.weight` }]), 'invalid_format', `base_model.model.${Q}.lora_A.weight`, /both lora_A/);
  });
  test('NaN / Inf values are found when the module is read, naming the tensor', async () => {
    const a = await open([qa, { ...qb, bytes: f32([0, 1, NaN, 2]) }]);
    await rejects(a.readModule(Q), 'non_finite', qb.name, /non-finite value \(NaN\) at flat index 2/);
    const b = await open([{ ...qa, dtype: 'F16', bytes: u16([0, 0, 0, 0x7c00, 0, 0]) }, qb]); // 0x7c00 = +Inf
    await rejects(b.readModule(Q), 'non_finite', qa.name, /Infinity\) at flat index 3/);
  });
});

describe('modules_to_save (carried tensors)', () => {
  const qa: Tensor = { name: key(Q, 'A'), dtype: 'F32', shape: [2, 3], bytes: f32(QA) };
  const qb: Tensor = { name: key(Q, 'B'), dtype: 'F32', shape: [2, 2], bytes: f32(QB) };
  const head = (values: number[]): Tensor => ({ name: 'base_model.model.score.weight', dtype: 'F32', shape: [2], bytes: f32(values) });

  test('non-LoRA tensors are listed, readable, and carried when identical across inputs', async () => {
    const a = await open([qa, qb, head([1, 2])]);
    const b = await open([qa, qb, head([1, 2])]);
    assert.deepEqual(a.carried, [{ name: 'base_model.model.score.weight', dtype: 'F32', shape: [2], byteLength: 8 }]);
    const plan = await planCarriedTensors([a, b]);
    assert.equal(plan.length, 1);
    assert.deepEqual([...new Float32Array((await plan[0]!.producer()).slice().buffer)], [1, 2]);
  });
  test('different bytes → refused', async () => {
    const a = await open([qa, qb, head([1, 2])]);
    const b = await open([qa, qb, head([1, 3])]);
    await rejects(planCarriedTensors([a, b]), 'invalid_input', 'adapters.1.base_model.model.score.weight', /differs from adapters\[0\]/);
  });
  test('present in one input only → refused', async () => {
    const a = await open([qa, qb]);
    const b = await open([qa, qb, head([1, 2])]);
    await rejects(planCarriedTensors([a, b]), 'invalid_input', 'adapters.1.base_model.model.score.weight', /is not in adapters\[0\]/);
    await rejects(planCarriedTensors([b, a]), 'invalid_input', 'adapters.1.base_model.model.score.weight', /is missing here/);
  });
  test('none anywhere → nothing to carry', async () => {
    assert.deepEqual(await planCarriedTensors([await open([qa, qb]), await open([qa, qb])]), []);
  });
});
