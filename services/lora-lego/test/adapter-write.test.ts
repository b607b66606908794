import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isWeightsmithError } from '@weightsmith/core';
import { memorySource } from '@weightsmith/safetensors';
import {
  createPeftAdapterTar,
  openPeftAdapterFolder,
  openPeftAdapterMemory,
  openPeftAdapterTar,
  planCarriedTensors,
  writePeftAdapterFolder,
  type PeftAdapterToWrite,
} from '../src/adapter/index.js';
import { Q, QA, QB, V, baseConfig, f32, key, weights } from './adapter-fixtures.js';

async function collect(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return new Uint8Array(Buffer.concat(chunks));
}

const E = 'model.embed_tokens';
function spec(dtype: 'F32' | 'F16' | 'BF16', calls: string[] = []): PeftAdapterToWrite {
  return {
    k: 2,
    dtype,
    baseModel: 'tiny/base',
    metadata: { method: 'lego', seed: '0' },
    inheritFrom: { r: 8, lora_alpha: 8, task_type: 'CAUSAL_LM', use_rslora: true, rank_pattern: { q: 3 } },
    modules: [
      { name: Q, kind: 'linear', dIn: 3, dOut: 2, produce: () => (calls.push(Q), { A: new Float32Array(QA), B: new Float32Array(QB) }) },
      { name: V, kind: 'linear', dIn: 3, dOut: 1, produce: async () => (calls.push(V), { A: new Float32Array([0.5, 1, 2, -3, 4, 0.25]), B: new Float32Array([1, -1]) }) },
      { name: E, kind: 'embedding', dIn: 4, dOut: 1, produce: () => (calls.push(E), { A: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]), B: new Float32Array([2, 3]) }) },
    ],
  };
}

describe('writing adapters', () => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    test(`${dtype}: tar round trip gives the same factors (all values exact in ${dtype})`, async () => {
      const calls: string[] = [];
      const { stream, bytes, config } = createPeftAdapterTar(spec(dtype, calls));
      const tar = await collect(stream);
      assert.equal(tar.length, bytes);
      assert.deepEqual(calls.sort(), [E, Q, V].sort()); // each module produced exactly once
      const a = await openPeftAdapterTar(memorySource(tar));
      assert.deepEqual(a.modules.map((m) => [m.name, m.kind, m.r, m.scale, m.dtype]), [
        [E, 'embedding', 2, 1, dtype],
        [Q, 'linear', 2, 1, dtype],
        [V, 'linear', 2, 1, dtype],
      ]);
      assert.deepEqual([...(await a.readModule(Q)).A], QA);
      assert.deepEqual([...(await a.readModule(V)).B], [1, -1]);
      assert.deepEqual([...(await a.readModule(E)).A], [1, 2, 3, 4, 5, 6, 7, 8]);
      assert.ok(a.weights.has(`base_model.model.${E}.lora_embedding_A`));
      assert.ok(a.weights.has(key(Q, 'A')));
      assert.deepEqual({ ...a.weights.metadata }, { format: 'pt', method: 'lego', seed: '0' });
      assert.equal(config.r, 2);
      assert.equal(config.lora_alpha, 2);
      assert.equal(config.use_rslora, false);
      assert.deepEqual(config.rank_pattern, {});
      assert.equal(config.peft_type, 'LORA');
      assert.equal(config.task_type, 'CAUSAL_LM');
      assert.deepEqual(config.target_modules, ['embed_tokens', 'q_proj', 'v_proj']);
      assert.equal(a.baseModel, 'tiny/base');
      // PEFT's save_pretrained layout: sorted keys, 2-space indent
      const text = new TextDecoder().decode(a.configBytes);
      assert.ok(text.startsWith('{\n  "alpha_pattern": {},\n  "auto_mapping": null,'));
    });
  }

  test('same input → same bytes (sha256)', async () => {
    const h = async () => createHash('sha256').update(await collect(createPeftAdapterTar(spec('BF16')).stream)).digest('hex');
    assert.equal(await h(), await h());
  });

  test('folder output, readable by the folder reader and GNU-tar equal to our tar contents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'peft-out-'));
    try {
      await writePeftAdapterFolder(join(dir, 'out'), spec('F16'));
      const a = await openPeftAdapterFolder(join(dir, 'out'));
      assert.deepEqual([...(await a.readModule(Q)).B], QB);
      await a.close();
      const tar = await collect(createPeftAdapterTar(spec('F16')).stream);
      await (await import('node:fs/promises')).writeFile(join(dir, 'a.tar'), tar);
      await (await import('node:fs/promises')).mkdir(join(dir, 'x'));
      execFileSync('tar', ['xf', join(dir, 'a.tar')], { cwd: join(dir, 'x') });
      for (const f of ['adapter_config.json', 'adapter_model.safetensors']) {
        assert.deepEqual(await readFile(join(dir, 'x', f)), await readFile(join(dir, 'out', f)));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('producer with the wrong size fails the write', async () => {
    const s = spec('F32');
    const bad = { ...s, modules: [{ ...s.modules[0]!, produce: () => ({ A: new Float32Array(5), B: new Float32Array(4) }) }] };
    await assert.rejects(collect(createPeftAdapterTar(bad).stream), (e: unknown) => isWeightsmithError(e, 'shape_mismatch') && /produced A has 5 values/.test(e.message));
  });

  test('bad specs are refused before writing', () => {
    assert.throws(() => createPeftAdapterTar({ ...spec('F32'), k: 0 }), /k must be an integer ≥ 1/);
    assert.throws(() => createPeftAdapterTar({ ...spec('F32'), modules: [] }), /at least one module/);
    assert.throws(() => createPeftAdapterTar({ ...spec('F32'), dtype: 'I8' as 'F32' }), /dtype must be F32, F16 or BF16/);
  });

  test('identical modules_to_save tensors are carried through with the inherited config', async () => {
    const tensors = [
      { name: key(Q, 'A'), dtype: 'F32' as const, shape: [2, 3], bytes: f32(QA) },
      { name: key(Q, 'B'), dtype: 'F32' as const, shape: [2, 2], bytes: f32(QB) },
      { name: 'base_model.model.score.weight', dtype: 'F32' as const, shape: [3], bytes: f32([7, 8, 9]) },
    ];
    const cfg = baseConfig({ modules_to_save: ['score'] });
    const inputs = [
      await openPeftAdapterMemory({ config: cfg, weights: await weights(tensors) }),
      await openPeftAdapterMemory({ config: cfg, weights: await weights(tensors) }),
    ];
    const carried = await planCarriedTensors(inputs);
    const s = spec('F32');
    const tar = await collect(createPeftAdapterTar({ ...s, modules: s.modules.slice(0, 1), carried, inheritFrom: inputs[0]!.config }).stream);
    const out = await openPeftAdapterTar(memorySource(tar));
    assert.deepEqual(out.config.modules_to_save, ['score']);
    assert.deepEqual([...new Float32Array((await out.readCarried('base_model.model.score.weight')).slice().buffer)], [7, 8, 9]);
  });

  test('loads in PEFT when it is installed', async (t) => {
    try {
      execFileSync('python3', ['-c', 'import peft'], { stdio: 'ignore' });
    } catch {
      t.skip('python3 cannot import peft here: PEFT load test skipped');
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'peft-py-'));
    try {
      await writePeftAdapterFolder(dir, spec('F32'));
      const out = execFileSync(
        'python3',
        ['-c', `from peft import LoraConfig; from safetensors.torch import load_file; c = LoraConfig.from_pretrained(${JSON.stringify(dir)}); sd = load_file(${JSON.stringify(join(dir, 'adapter_model.safetensors'))}); print(c.r, c.lora_alpha, sorted(sd)[0])`],
        { encoding: 'utf8' },
      );
      assert.match(out, /^2 2 base_model\.model\.model\.embed_tokens\.lora_embedding_A/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
